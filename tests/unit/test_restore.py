"""Recovery decisions (pure): which group is restored, the plan's names, disks and LUNs,
recovery order, the drill rotation and drill compliance, and the request checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from diskdr.api import ApiError, parse_failover_request, parse_restore_request
from diskdr.compliance import DrillRecord, drill_status, last_drills
from diskdr.policy import parse_policy_text
from diskdr.restore import (
    MAX_DISK_NAME,
    RestoreRefused,
    RestoreTarget,
    SourceDisk,
    choose_group,
    drill_sample,
    fit_name,
    gone_sources,
    plan_restore,
    recovery_order,
    waves,
)
from tests.unit.points import SUB, T0, disk_id, point, vm_id

SUBNET = (
    f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network"
    "/virtualNetworks/v/subnets/s"
)


def group(hours: float, *, replica_state: str = "usable", disks=("d0", "d1")):
    primaries = [point(disk=d, hours=hours) for d in disks]
    replicas = [
        point(disk=d, hours=hours, role="replica", source=p, state=replica_state)
        for d, p in zip(disks, primaries, strict=True)
    ]
    return primaries + replicas


def test_latest_is_the_newest_group_complete_in_the_region() -> None:
    points = group(0) + group(1) + group(2, replica_state="pending")
    assert choose_group(points, "westus2", None).slot == T0 + timedelta(hours=1)
    assert choose_group(points, "eastus", None).slot == T0 + timedelta(hours=2)


def test_an_exact_slot_must_exist_and_be_complete() -> None:
    points = group(0) + group(2, replica_state="pending")
    choice = choose_group(points, "westus2", T0)
    assert {p.role for p in choice.points} == {"replica"} and len(choice.points) == 2
    with pytest.raises(RestoreRefused) as incomplete:
        choose_group(points, "westus2", T0 + timedelta(hours=2))
    assert (incomplete.value.status, incomplete.value.code) == (422, "GroupIncomplete")
    with pytest.raises(RestoreRefused) as missing:
        choose_group(points, "westus2", T0 + timedelta(hours=5))
    assert (missing.value.status, missing.value.code) == (404, "SlotNotFound")


def test_a_group_missing_a_member_in_the_region_is_not_complete() -> None:
    # d1's replica was never made: the replica group lacks a member the primary has.
    points = [p for p in group(0) if not (p.role == "replica" and p.disk_id.endswith("/d1"))]
    with pytest.raises(RestoreRefused) as refused:
        choose_group(points, "westus2", None)
    assert refused.value.code == "NoCompleteGroup"


def test_a_region_without_points_is_refused() -> None:
    with pytest.raises(RestoreRefused) as refused:
        choose_group(group(0), "centralus", None)
    assert (refused.value.status, refused.value.code) == (422, "NoPointsInRegion")


def sources() -> dict[str, SourceDisk]:
    return {
        disk_id("d0").lower(): SourceDisk(disk_id("d0"), "vm1-osdisk", None, "Premium_LRS", 64,
                                          ("1",), 4096, "Linux"),
        disk_id("d1").lower(): SourceDisk(disk_id("d1"), "vm1-data-2", 2, "PremiumV2_LRS", 128),
    }  # fmt: skip


def plan(mode: str = "disks", region: str = "westus2", prefix: str | None = None, **kw):
    choice = choose_group(group(0), region, None)
    return plan_restore(
        run="restore-x",
        install_id="install-a",
        vm_id=vm_id("vm1"),
        vm_name="vm1",
        vm_size="Standard_E4s_v5",
        vm_region="eastus",
        vm_tags={"diskdr-recovery-order": "2"},
        choice=choice,
        sources=sources(),
        target=RestoreTarget(SUB, "rg-restore", region, mode, prefix, kw.get("subnet")),
        requested_at=T0 + timedelta(hours=3),
    )


def test_plan_keeps_the_source_disks_and_names_deterministically() -> None:
    first, again = plan(), plan()
    assert first == again
    by_lun = {d.lun: d for d in first.disks}
    os_disk, data = by_lun[None], by_lun[2]
    assert os_disk.name == "vm1-20260101t0000-osdisk"  # the VM's name is not repeated
    assert (os_disk.sku, os_disk.size_gb, os_disk.logical_sector_size) == ("Premium_LRS", 64, 4096)
    assert os_disk.zones == ("1",)  # westus2 has zones
    assert data.sku == "PremiumV2_LRS" and data.create_option == "Copy"
    assert data.content_point_id.startswith("/subscriptions/")
    assert os_disk.tags["diskdr-restore-slot"] == "2026-01-01T00:00Z"
    assert first.point_age_seconds == 3 * 3600 - 30
    assert first.order == 2 and first.vm is None


def test_vm_mode_plans_a_nic_and_a_vm_with_the_source_size() -> None:
    made = plan("vm", subnet=SUBNET, prefix="restored")
    assert made.vm is not None
    assert (made.vm.name, made.vm.size, made.vm.subnet_id) == (
        "restored",
        "Standard_E4s_v5",
        SUBNET,
    )
    assert made.would_create()[-2:] == [made.nic_resource_id, made.vm_resource_id]
    assert made.vm.tags["diskdr-recovery-order"] == "2"


def test_names_stay_valid_and_distinct_when_long() -> None:
    long_a, long_b = "x" * 90 + "-a", "x" * 90 + "-b"
    assert len(fit_name(long_a, MAX_DISK_NAME)) <= MAX_DISK_NAME
    assert fit_name(long_a, MAX_DISK_NAME) != fit_name(long_b, MAX_DISK_NAME)
    assert fit_name("a b/c", MAX_DISK_NAME) == "a-b-c"


def test_disks_of_a_deleted_vm_are_described_from_their_points() -> None:
    gone = gone_sources(
        [
            (disk_id("data-b"), 64, None),
            (disk_id("os"), 32, "Linux"),
            (disk_id("data-a"), 16, None),
        ],
        [],
    )
    assert gone[disk_id("os").lower()].lun is None
    assert gone[disk_id("data-a").lower()].lun == 0 and gone[disk_id("data-b").lower()].lun == 1


def test_recovery_order_and_waves() -> None:
    assert recovery_order({"diskdr-recovery-order": " 3 "}) == 3
    assert recovery_order({"diskdr-recovery-order": "soon"}) == recovery_order({})
    low, high = plan(), plan()
    low = type(low).from_dict({**low.to_dict(), "order": 1, "vmId": vm_id("b")})
    assert [[p.order for p in w] for w in waves([high, low])] == [[1], [2]]


def test_drills_rotate_through_every_vm() -> None:
    vms = [vm_id(f"vm{n}") for n in range(5)]
    drilled: dict[str, datetime] = {}
    seen: list[str] = []
    for turn in range(3):
        chosen = drill_sample(vms, drilled, 2)
        seen += chosen
        for vm in chosen:
            drilled[vm.lower()] = T0 + timedelta(days=turn)
    assert set(seen) == set(vms)
    assert seen[:4] == vms[:4]


def test_drill_compliance() -> None:
    policy = parse_policy_text(
        """
version: 1
policies:
  - name: gold
    target: {tags: {backup: gold}}
    schedules: [{cron: "0 0 * * * *"}]
    retention: {last: 3}
    replicate: {region: westus2, resourceGroup: rg-dr, retention: {last: 3}}
    drill: {schedule: {cron: "0 0 3 * * *"}, resourceGroup: rg-drill, sample: 2}
""",
        "p.yaml",
    ).policies[0]
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    record = DrillRecord(vm_id("vm1"), now - timedelta(days=1), True, "drill-1", "passed")
    assert drill_status(policy, 4, record, now).status == "PASSED"  # within 2 daily turns
    old = DrillRecord(vm_id("vm1"), now - timedelta(days=3), True, "drill-0", "passed")
    assert drill_status(policy, 4, old, now).status == "OVERDUE"
    failed = DrillRecord(vm_id("vm1"), now - timedelta(hours=2), False, "drill-2", "failed")
    assert drill_status(policy, 4, failed, now).status == "FAILED"
    newest = last_drills(
        [
            ("d2", {"vms": [{"vmId": "A", "drilledAt": "2026-03-02T00:00:00+00:00",
                             "contentCheck": "failed", "cleanedUp": True}]}),
            ("d1", {"vms": [{"vmId": "a", "drilledAt": "2026-03-01T00:00:00+00:00",
                             "contentCheck": "passed", "cleanedUp": True}]}),
        ]
    )  # fmt: skip
    assert newest["a"].drill_id == "d2" and newest["a"].passed is False


def test_a_drill_needs_replication() -> None:
    text = """
version: 1
policies:
  - name: gold
    target: {tags: {backup: gold}}
    schedules: [{cron: "0 0 * * * *"}]
    retention: {last: 3}
    drill: {schedule: {cron: "0 0 3 * * *"}, resourceGroup: rg-drill}
"""
    with pytest.raises(Exception) as refused:
        parse_policy_text(text, "p.yaml")
    assert "p.yaml:8: policies[0].drill" in str(refused.value)
    assert "replicate" in str(refused.value)


DRILL_POLICY = """
version: 1
policies:
  - name: gold
    target: {tags: {backup: gold}}
    schedules: [{cron: "0 0 * * * *"}]
    retention: {last: 3}
    replicate: {region: westus2, resourceGroup: rg-dr, retention: {last: 3}}
    drill: {schedule: {cron: "0 0 3 * * *"}, resourceGroup: rg-drill, %s}
"""
SUBNET = (
    f"/subscriptions/{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/"
    "vnet/subnets/apps"
)


@pytest.mark.parametrize(
    ("drill", "complaint"),
    [
        (f'verifyScript: "  ", subnetId: "{SUBNET}"', "verifyScript"),
        ('verifyScript: "exit 0", subnetId: "/subscriptions/x/subnets/apps"', "subnet id"),
    ],
)
def test_a_drill_subnet_must_be_a_subnet_id(drill: str, complaint: str) -> None:
    with pytest.raises(Exception) as refused:
        parse_policy_text(DRILL_POLICY % drill, "p.yaml")
    assert "p.yaml:9: policies[0].drill" in str(refused.value)
    assert complaint in str(refused.value)
    good = parse_policy_text(DRILL_POLICY % f'verifyScript: "exit 0", subnetId: "{SUBNET}"', "p")
    drill_block = good.policies[0].drill
    assert drill_block is not None and drill_block.subnet_id == SUBNET


def test_a_verify_script_alone_is_valid_the_drill_makes_its_network() -> None:
    # DESIGN: drill: {schedule, resourceGroup, sample: N, verifyScript?}; subnetId optional.
    policies = parse_policy_text(DRILL_POLICY % 'verifyScript: "exit 0"', "p.yaml")
    drill_block = policies.policies[0].drill
    assert drill_block is not None and drill_block.verify_script == "exit 0"
    assert drill_block.subnet_id is None


@pytest.mark.parametrize(
    ("body", "target"),
    [
        (b'{"vmId": "nope", "resourceGroup": "rg"}', "vmId"),
        (b'{"vmId": "%s", "resourceGroup": "rg", "slot": "2026-01-01T00:00:30Z"}', "slot"),
        (b'{"vmId": "%s", "resourceGroup": "rg", "region": "mars"}', "region"),
        (b'{"vmId": "%s", "resourceGroup": "rg", "colour": 1}', "colour"),
        (b'{"vmId": "%s"}', "resourceGroup"),
    ],
)
def test_bad_restore_requests(body: bytes, target: str) -> None:
    raw = body.replace(b"%s", vm_id("vm1").encode())
    with pytest.raises(ApiError) as refused:
        parse_restore_request(raw, [SUB], ["westus2", "eastus"])
    assert refused.value.status == 400 and refused.value.target == target


def test_restore_and_failover_requests() -> None:
    raw = f'{{"vmId": "{vm_id("vm1")}", "resourceGroup": "rg", "slot": "2026-01-01T04:00Z"}}'
    request = parse_restore_request(raw.encode(), [SUB], ["westus2"])
    assert request.slot == datetime(2026, 1, 1, 4, tzinfo=UTC) and request.mode == "disks"
    failover = parse_failover_request(
        b'{"policy": "gold", "resourceGroup": "rg"}', [SUB], ["gold"], []
    )
    assert failover.dry_run is True  # a real failover has to say so
    with pytest.raises(ApiError) as unknown:
        parse_failover_request(b'{"policy": "tin", "resourceGroup": "rg"}', [SUB], ["gold"], [])
    assert unknown.value.status == 422
