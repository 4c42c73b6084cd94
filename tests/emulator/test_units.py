"""The emulator's pure parts, without a server: content maps, buckets, scheduler, hints."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diskdr.clock import WorldClock
from emulator import content
from emulator.arm import normalize_location, parse_resource_id
from emulator.errors import InvalidParameter
from emulator.faults import FaultRule, Faults
from emulator.lro import retry_hint
from emulator.throttle import ResourceWindows, Throttle, category, principal_of
from emulator.world import Config, Scheduler, Transfer


def test_block_count_and_writes():
    assert content.block_count(1) == 256  # 1 GiB of 4 MiB blocks
    rng = random.Random(1)
    blocks = content.write(content.EMPTY, 1, rng, count=10)
    assert len(blocks) == 10
    again = content.write(blocks, 1, rng, offsets=[0])
    assert len(again) == len(blocks | {0: ""})
    assert content.digest(blocks) != content.digest(again)
    with pytest.raises(ValueError):
        content.write(blocks, 1, rng, offsets=[256])
    with pytest.raises(TypeError):
        blocks[3] = "x"  # type: ignore[index]  # maps are immutable once captured


@given(st.dictionaries(st.integers(0, 255), st.text(min_size=1, max_size=8), max_size=30))
def test_digest_depends_only_on_the_map(blocks):
    shuffled = dict(reversed(list(blocks.items())))
    assert content.digest(blocks) == content.digest(shuffled)


@given(
    st.dictionaries(st.integers(0, 63), st.sampled_from("abc"), max_size=20),
    st.dictionaries(st.integers(0, 63), st.sampled_from("abc"), max_size=20),
)
def test_changed_blocks_is_zero_exactly_for_equal_maps(current, previous):
    changed = content.changed_blocks(current, previous)
    assert (changed == 0) == (current == previous)
    assert content.changed_blocks(current, None) == len(current)


def test_transfer_time_is_proportional_to_changed_bytes():
    link = Transfer(base_seconds=10, bytes_per_second=100)
    assert link.seconds(0) == 10
    assert link.seconds(1000) == 20
    assert link.seconds(1000, speedup=2) == 15


def test_scheduler_runs_due_events_in_time_order():
    scheduler = Scheduler()
    ran: list[tuple[str, float]] = []
    scheduler.at(5, lambda t: ran.append(("b", t)))
    scheduler.at(1, lambda t: ran.append(("a", t)))
    scheduler.at(9, lambda t: ran.append(("c", t)))
    assert scheduler.run_due(6) == 2
    assert ran == [("a", 1), ("b", 5)]
    assert scheduler.next_due() == 9


def test_token_bucket_refills_with_world_time():
    config = Config(throttle=True)
    throttle = Throttle()
    for _ in range(200):
        assert throttle.take(config, "s", "p", "writes", now=0.0) is None
    wait = throttle.take(config, "s", "p", "writes", now=0.0)
    assert wait == pytest.approx(0.1)  # 10 writes per world second
    assert throttle.take(config, "s", "p", "writes", now=0.1) is None
    assert throttle.remaining(config, "s", "p", now=0.1)["reads"] == 250
    assert throttle.take(config, "s", "other", "writes", now=0.1) is None


def test_categories_and_principals():
    assert [category(m) for m in ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE")] == [
        "reads",
        "reads",
        "writes",
        "writes",
        "writes",
        "deletes",
    ]
    assert principal_of("Bearer abc") == principal_of("Bearer abc") != principal_of("Bearer abd")
    jwt = "eyJhbGciOiJub25lIn0.eyJvaWQiOiJ0aGUtb2lkIn0.sig"  # {"oid": "the-oid"}
    assert principal_of(f"Bearer {jwt}") == "the-oid"


def test_resource_windows_count_three_and_thirty_minutes():
    windows = ResourceWindows()
    config = Config()
    windows.hit(config, "s", "vm-write", 0)
    windows.hit(config, "s", "vm-write", 100)
    assert windows.hit(config, "s", "vm-write", 200) == (
        "Microsoft.Compute/PutVM3Min;238,Microsoft.Compute/PutVM30Min;1197"
    )


def test_retry_hints_follow_the_scale():
    assert retry_hint(WorldClock(1.0), 5) == {"retry-after-ms": "5000", "Retry-After": "5"}
    assert retry_hint(WorldClock(1.0), 0.2)["Retry-After"] == "1"
    scaled = retry_hint(WorldClock(600.0), 60)
    assert scaled == {"retry-after-ms": "100"}  # no "Retry-After: 0"
    assert retry_hint(WorldClock(10.0), 30) == {"retry-after-ms": "3000", "Retry-After": "3"}


def test_fault_rules_count_and_method():
    faults = Faults()
    faults.set(
        [FaultRule.from_json({"method": "PUT", "path": "/disks/", "status": 500, "count": 1}, "r")]
    )
    rng = random.Random(0)
    assert faults.match("GET", "/x/disks/d", rng) is None
    first = faults.match("PUT", "/x/disks/d", rng)
    assert first is not None and first.status == 500 and first.code == "InternalServerError"
    assert faults.match("PUT", "/x/disks/d", rng) is None


def test_resource_ids_and_locations():
    ref = parse_resource_id(
        "subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/snapshots/Snap"
    )
    assert (ref.subscription, ref.resource_group, ref.type, ref.name) == (
        "s",
        "RG",
        "snapshots",
        "Snap",
    )
    assert ref.key == ("rg", "snap")
    with pytest.raises(InvalidParameter):
        parse_resource_id("/subscriptions/s/disks/d")
    assert normalize_location("West US 2") == "westus2"


def test_completed_writes_and_deletes_are_announced_to_listeners():
    from emulator.server import create_world
    from emulator.world import Caller

    world, _ = create_world()
    changes = []
    world.on_change(changes.append)
    world.backend("resources").create_or_update("sub", "rg", "eastus")
    compute = world.backend("compute")["sub"]
    world.caller = Caller(principal="p1", correlation_id="c1")
    body = {"location": "eastus", "properties": {"creationData": {"createOption": "Empty"}}}
    body["properties"]["diskSizeGB"] = 8
    compute.begin_create_or_update_disk("rg", "d", body)
    world.caller = Caller()
    assert changes == []  # announced when the operation ends, not when it starts
    world.advance(world.now() + 60)
    (write,) = changes
    assert (write.kind, write.operation_name, write.status) == (
        "write",
        "Microsoft.Compute/disks/write",
        "Succeeded",
    )
    assert write.resource_id.endswith("/resourceGroups/rg/providers/Microsoft.Compute/disks/d")
    assert (write.caller.principal, write.caller.correlation_id) == ("p1", "c1")
    compute.begin_delete_disk("rg", "d")
    world.advance(world.now() + 60)
    assert changes[-1].kind == "delete"
    assert changes[-1].operation_name == "Microsoft.Compute/disks/delete"


def test_a_failed_restore_point_is_announced_as_a_failed_write():
    from emulator import estate
    from emulator.server import create_world
    from tests.emulator.support import SUB, estate_one_vm

    world, _ = create_world()
    estate.seed(world, estate_one_vm())
    compute = world.backend("compute")[SUB]
    vm = compute.get_vm("rg-app", "vm-web-1")
    compute.create_or_update_restore_point_collection(
        "rg-app", "rpc", {"location": "eastus", "properties": {"source": {"id": vm.id}}}
    )
    changes = []
    world.on_change(changes.append)
    crash = {"properties": {"consistencyMode": "CrashConsistent"}}
    compute.begin_create_restore_point("rg-app", "rpc", "rp1", crash)
    world.advance(world.now() + 60)
    compute.begin_create_restore_point("rg-app", "rpc", "rp2", crash)  # too soon after rp1
    world.advance(world.now() + 120)
    points = [c for c in changes if "/restorePoints/" in c.resource_id]
    assert [(c.resource_id.rsplit("/", 1)[1], c.kind, c.status) for c in points] == [
        ("rp1", "write", "Succeeded"),
        ("rp2", "write", "Failed"),
    ]
    assert points[1].operation_name == (
        "Microsoft.Compute/restorePointCollections/restorePoints/write"
    )
