"""Three scheduled slots on the twin: points in both regions with DESIGN's names and tags,
retention applied, content of every copy equal to its disk at the slot, other installs' and
untagged snapshots untouched, and a re-run slot that creates nothing.

One twin serves the module. Its fixture lives through the three slots as an operator would
watch them — after each cycle it reads the content digests of the new points, then writes
to the disks before the next slot — and records what it saw; the tests judge the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from azure.mgmt.compute.models import CreationData, Snapshot, SnapshotProperties

from diskdr.model import RecoveryPoint
from diskdr.naming import format_slot, group_id, parse_instant, parse_slot, point_name, point_tags
from diskdr.policy import load_policy_file
from diskdr.prune import parse_plan_line, plan
from tests.e2e.conftest import (
    INSTALL_ID,
    POLICY,
    PRIMARY_REGION,
    REPLICA_GROUP,
    REPLICA_REGION,
    TwinRun,
    disk_outcomes,
    estate,
    role_of,
    same_id,
    start_twin,
    vm,
)
from tests.support import poll

pytestmark = pytest.mark.slow

OTHER_INSTALL = "diskdr-elsewhere"

ESTATE = estate(
    {
        "rg-app": [
            vm("vm-web-1", "e2e", data=[(0, "PremiumV2_LRS")]),
            vm(
                "vm-db-1",
                "e2e",
                data=[
                    (0, "PremiumV2_LRS"),
                    (1, "Premium_LRS"),
                    (2, "Premium_LRS", {"backup": "skip"}),  # excluded by the policy
                ],
            ),
            vm("vm-dev-1", "none"),  # not selected by the policy
        ],
        "rg-web": [vm("vm-web-2", "e2e")],
    }
)
PROTECTED = (
    "vm-web-1-osdisk",
    "vm-web-1-data-0",
    "vm-db-1-osdisk",
    "vm-db-1-data-0",
    "vm-db-1-data-1",
    "vm-web-2-osdisk",
)
UNPROTECTED = ("vm-db-1-data-2", "vm-dev-1-osdisk")


def resource_id(run: TwinRun, kind: str, name: str) -> str:
    """The id of a seeded resource (``kind``: vms or disks) by its name."""
    matches = [i for i in run.seeded[kind] if i.rsplit("/", 1)[1] == name]
    assert len(matches) == 1, (name, run.seeded[kind])
    return matches[0]


def create_snapshot(run: TwinRun, group: str, name: str, body: Snapshot) -> Snapshot:
    # The twin answers as Azure (DiskRP sends no Retry-After): poll briefly, not every 30 s.
    poller = run.compute().snapshots.begin_create_or_update(
        group, name, body, polling_interval=0.02
    )
    return poller.result()


def seed_foreign_snapshots(run: TwinRun) -> None:
    """Snapshots of the protected disks that are not this install's, made with the SDK:
    another install's points (old slots, both regions, full diskdr tags) and snapshots with
    no owner tag at all (plain, and with diskdr-looking tags but no owner)."""
    compute = run.compute()
    vm_id = resource_id(run, "vms", "vm-web-1")
    disk = compute.disks.get("rg-app", "vm-web-1-osdisk")
    assert disk.id and disk.unique_id
    primaries = []
    for days_ago in (2, 1):
        slot = run.slots[0] - timedelta(days=days_ago)
        group = group_id(OTHER_INSTALL, vm_id, slot)
        tags = point_tags(
            OTHER_INSTALL, POLICY, vm_id, disk.id, disk.unique_id, slot, group, "crash", "primary"
        )
        primaries.append(
            create_snapshot(
                run,
                "rg-app",
                point_name(OTHER_INSTALL, vm_id, disk.id, slot),
                Snapshot(
                    location=PRIMARY_REGION,
                    properties=SnapshotProperties(
                        creation_data=CreationData(
                            create_option="Copy", source_resource_id=disk.id
                        ),
                        incremental=True,
                    ),
                    tags=tags,
                ),
            )
        )
    newest = primaries[-1]
    assert newest.id
    replica_tags = {**(newest.tags or {}), "diskdr-role": "replica", "diskdr-source": newest.id}
    replica = create_snapshot(
        run,
        REPLICA_GROUP,
        point_name(OTHER_INSTALL, vm_id, disk.id, run.slots[0] - timedelta(days=1), "replica"),
        Snapshot(
            location=REPLICA_REGION,
            properties=SnapshotProperties(
                creation_data=CreationData(create_option="CopyStart", source_resource_id=newest.id),
                incremental=True,
            ),
            tags=replica_tags,
        ),
    )
    # The copy must end before diskdr copies the same disk: Azure allows one at a time.
    poll(
        lambda: compute.snapshots.get(REPLICA_GROUP, replica.name).completion_percent == 100,
        what="the other install's copy to finish",
    )
    plain = [
        ("manual-full-db-os", "vm-db-1-osdisk", False, None),
        ("manual-incr-db-data-1", "vm-db-1-data-1", True, None),
        ("diskdr-lookalike-web-os", "vm-web-1-osdisk", True, {"diskdr-policy": POLICY}),
    ]
    for name, disk_name, incremental, tags in plain:
        create_snapshot(
            run,
            "rg-app",
            name,
            Snapshot(
                location=PRIMARY_REGION,
                properties=SnapshotProperties(
                    creation_data=CreationData(
                        create_option="Copy",
                        source_resource_id=resource_id(run, "disks", disk_name),
                    ),
                    incremental=incremental,
                ),
                tags=tags,
            ),
        )


@dataclass
class ThreeSlots:
    """What the module's twin did and what the fixture saw along the way."""

    run: TwinRun
    slots: list[datetime]
    reports: list[dict[str, Any]]
    disks: dict[str, Any]  # name -> the SDK's Disk
    vm_ids: dict[str, str]  # disk name -> its VM's id
    #: (slot, disk name) -> digest of the disk at that slot (before the cycle, after writes)
    disk_content: dict[tuple[datetime, str], str] = field(default_factory=dict)
    #: point or replica id (lower case) -> its digest, read right after its cycle
    point_content: dict[str, str] = field(default_factory=dict)
    foreign: list[Snapshot] = field(default_factory=list)
    after: list[Snapshot] = field(default_factory=list)  # every snapshot after the 3rd cycle
    stats: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def three_slots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreeSlots]:
    state_dir = tmp_path_factory.mktemp("three-slots")
    with start_twin(state_dir, ESTATE, 3, prepare=seed_foreign_snapshots) as run:
        compute = run.compute()
        disks = {}
        vm_ids = {}
        for name in PROTECTED + UNPROTECTED:
            disk = compute.disks.get(resource_id(run, "disks", name).split("/")[4], name)
            disks[name] = disk
            vm_ids[name] = disk.managed_by
        seen = ThreeSlots(run, run.slots, [], disks, vm_ids)
        seen.foreign = [
            s for s in run.snapshots() if (s.tags or {}).get("diskdr-owner") != INSTALL_ID
        ]
        for name in PROTECTED:
            seen.disk_content[(run.slots[0], name)] = run.digest(disks[name].id)
        for index, slot in enumerate(run.slots):
            report = run.wait_cycle(slot)
            seen.reports.append(report)
            for outcome in disk_outcomes(report):
                for key in ("point", "replica"):
                    if outcome.get(key):
                        point_id = outcome[key]["id"]
                        seen.point_content[point_id.lower()] = run.digest(point_id)
            if index + 1 < len(run.slots):
                following = run.slots[index + 1]
                for name in PROTECTED:
                    written = run.control.write(disks[name].id, blocks=3)
                    seen.disk_content[(following, name)] = written["digest"]
                assert run.clock.now() < following, "the writes must land before the next slot"
        seen.after = run.snapshots()
        seen.stats = run.stats()
        yield seen


def points_of(snapshots: list[Snapshot], role: str) -> list[Snapshot]:
    return [
        s
        for s in snapshots
        if (s.tags or {}).get("diskdr-owner") == INSTALL_ID and role_of(s) == role
    ]


# --- 1. points and names -------------------------------------------------------------------
def test_every_protected_disk_has_one_point_per_slot_in_each_region(three_slots: ThreeSlots):
    seen = three_slots
    for slot, report in zip(seen.slots, seen.reports, strict=True):
        assert report["phase"] == "Completed", report["summary"]
        assert report["slot"] == format_slot(slot)
        assert report["trigger"] == "schedule"
        outcomes = {o["diskName"]: o for o in disk_outcomes(report)}
        assert sorted(outcomes) == sorted(PROTECTED), "exactly the policy's disks, once each"
        for name, outcome in outcomes.items():
            disk = seen.disks[name]
            vm_id = seen.vm_ids[name]
            assert outcome["error"] is None and outcome["replicaError"] is None, outcome
            point, replica = outcome["point"], outcome["replica"]
            assert point["state"] == "usable" and replica["state"] == "usable"
            assert point["completionPercent"] in (None, 100)
            assert replica["completionPercent"] == 100
            assert point["name"] == point_name(INSTALL_ID, vm_id, disk.id, slot)
            assert point["region"] == PRIMARY_REGION
            assert point["resourceGroup"].lower() == disk.id.split("/")[4].lower()  # the disk's
            assert replica["name"] == point_name(INSTALL_ID, vm_id, disk.id, slot, "replica")
            assert replica["region"] == REPLICA_REGION
            assert replica["resourceGroup"] == REPLICA_GROUP


def test_points_carry_designs_tags_in_both_regions(three_slots: ThreeSlots):
    seen = three_slots
    primaries = points_of(seen.after, "primary")
    replicas = points_of(seen.after, "replica")
    by_disk_slot: dict[tuple[str, str, str], list[Snapshot]] = {}
    for snapshot in primaries + replicas:
        tags = snapshot.tags or {}
        key = (tags["diskdr-disk"], tags["diskdr-slot"], role_of(snapshot) or "")
        by_disk_slot.setdefault(key, []).append(snapshot)
    assert all(len(found) == 1 for found in by_disk_slot.values()), "one point per key"

    for primary in primaries:
        tags = primary.tags or {}
        name = next(n for n in PROTECTED if same_id(seen.disks[n].id, tags["diskdr-disk"]))
        disk, vm_id = seen.disks[name], seen.vm_ids[name]
        assert tags["diskdr-owner"] == INSTALL_ID
        assert tags["diskdr-policy"] == POLICY
        assert tags["diskdr-vm"] == vm_id.lower()
        assert tags["diskdr-disk"] == disk.id.lower()
        assert tags["diskdr-disk-uid"] == disk.unique_id.lower()
        assert tags["diskdr-consistency"] == "crash"
        assert "diskdr-source" not in tags
        assert primary.location == PRIMARY_REGION
        assert primary.incremental is True
        assert primary.creation_data.create_option == "Copy"
        assert same_id(primary.creation_data.source_resource_id, disk.id)
        slot = parse_slot(tags["diskdr-slot"])
        assert slot in seen.slots
        assert tags["diskdr-group"] == group_id(INSTALL_ID, vm_id, slot)

        replica = by_disk_slot[(tags["diskdr-disk"], tags["diskdr-slot"], "replica")][0]
        replica_tags = replica.tags or {}
        assert replica_tags["diskdr-source"] == primary.id.lower()
        assert replica.location == REPLICA_REGION
        assert replica.incremental is True
        assert replica.creation_data.create_option == "CopyStart"
        assert same_id(replica.creation_data.source_resource_id, primary.id)
        own = ("diskdr-role", "diskdr-source", "diskdr-captured")
        same = {k: v for k, v in replica_tags.items() if k not in own}
        assert same == {k: v for k, v in tags.items() if k != "diskdr-role"}
        group_size = sum((p.tags or {})["diskdr-group"] == tags["diskdr-group"] for p in primaries)
        assert tags["diskdr-members"] == str(group_size)
        # The replica records when its source was created: the capture time of its data.
        assert parse_instant(replica_tags["diskdr-captured"]) == primary.time_created.replace(
            microsecond=0
        )

    # A group is one VM at one slot: all of its disks share it, in both regions.
    groups: dict[str, set[str]] = {}
    for snapshot in primaries + replicas:
        tags = snapshot.tags or {}
        groups.setdefault(tags["diskdr-group"], set()).add(
            f"{tags['diskdr-vm']}@{tags['diskdr-slot']}"
        )
    assert all(len(members) == 1 for members in groups.values()), groups


def test_unselected_vms_and_excluded_disks_get_no_points(three_slots: ThreeSlots):
    ours = points_of(three_slots.after, "primary") + points_of(three_slots.after, "replica")
    points_of_disks = {(s.tags or {})["diskdr-disk"] for s in ours}
    for name in UNPROTECTED:
        assert three_slots.disks[name].id.lower() not in points_of_disks


# --- 1. retention --------------------------------------------------------------------------
def test_retention_keeps_the_newest_two_groups_per_region(three_slots: ThreeSlots):
    """``last: 2`` in both regions: after the third slot the first slot's points are gone,
    the second and third stay, and the newest replicated primary (the copy base) stays."""
    seen = three_slots
    kept_slots = {format_slot(slot) for slot in seen.slots[1:]}
    for role in ("primary", "replica"):
        for name in PROTECTED:
            slots = sorted(
                (s.tags or {})["diskdr-slot"]
                for s in points_of(seen.after, role)
                if same_id((s.tags or {})["diskdr-disk"], seen.disks[name].id)
            )
            assert set(slots) == kept_slots and len(slots) == 2, (role, name, slots)

    third = seen.reports[2]["prune"]
    assert third["dryRun"] is False and third["failed"] == []
    removed = {item["id"].lower() for item in third["plan"]["remove"]}
    first_points = {
        outcome[key]["id"].lower()
        for outcome in disk_outcomes(seen.reports[0])
        for key in ("point", "replica")
    }
    assert removed == first_points
    assert {i.lower() for i in third["deleted"]} == removed
    newest = {o["point"]["id"].lower() for o in disk_outcomes(seen.reports[2])}
    for item in third["plan"]["keep"]:
        if item["id"].lower() in newest:
            assert "copy-base" in item["reasons"], item
    # The first two cycles had nothing to prune yet.
    assert seen.reports[0]["prune"]["deleted"] == []
    assert seen.reports[1]["prune"]["deleted"] == []


def test_retention_matches_diskdr_prune_on_the_points_made(three_slots: ThreeSlots):
    """The points left after the third slot are exactly what ``diskdr.prune.plan`` keeps of
    every point the three cycles made (all usable by then)."""
    seen = three_slots
    made = [
        RecoveryPoint.from_dict({**outcome[key], "state": "usable"})
        for report in seen.reports
        for outcome in disk_outcomes(report)
        for key in ("point", "replica")
    ]
    policy = load_policy_file(seen.run.policy_file).get(POLICY)
    now = datetime.fromisoformat(seen.reports[2]["finishedAt"])
    decision = plan(POLICY, made, policy.retention_rules(), policy.replica_rules(), now, INSTALL_ID)
    left = {s.id.lower() for s in seen.after if (s.tags or {}).get("diskdr-owner") == INSTALL_ID}
    assert left == {item.id.lower() for item in decision.keep}
    assert not left & {item.id.lower() for item in decision.remove}


# --- 6. content ----------------------------------------------------------------------------
def test_every_copy_holds_its_disk_content_at_the_slot(three_slots: ThreeSlots):
    seen = three_slots
    digests_per_disk: dict[str, set[str]] = {}
    for slot, report in zip(seen.slots, seen.reports, strict=True):
        for outcome in disk_outcomes(report):
            expected = seen.disk_content[(slot, outcome["diskName"])]
            point = seen.point_content[outcome["point"]["id"].lower()]
            replica = seen.point_content[outcome["replica"]["id"].lower()]
            assert point == expected, (slot, outcome["diskName"], "primary")
            assert replica == point, (slot, outcome["diskName"], "replica")
            digests_per_disk.setdefault(outcome["diskName"], set()).add(point)
    # The writes between slots changed every disk: the check above compared three states.
    assert all(len(d) == len(seen.slots) for d in digests_per_disk.values()), digests_per_disk


# --- 7. other installs' and untagged snapshots ---------------------------------------------
def test_other_installs_and_untagged_snapshots_survive_every_prune(three_slots: ThreeSlots):
    seen = three_slots
    assert len(seen.foreign) == 6
    after = {s.id.lower(): s for s in seen.after}
    for snapshot in seen.foreign:
        assert snapshot.id.lower() in after, f"{snapshot.name} was deleted"
        assert after[snapshot.id.lower()].tags == snapshot.tags
    foreign_ids = {s.id.lower() for s in seen.foreign}
    # The whole plan of each run is in the plan_prune activity's log (the report shows its
    # counts and first items): one line per point judged.
    log = seen.run.twin.host.log_path.read_text(errors="replace").splitlines()
    lines = [fields for fields in map(parse_plan_line, log) if fields]
    for slot, report in zip(seen.slots, seen.reports, strict=True):
        judged = [f for f in lines if f["run"] == f"{seen.run.cycle_id(slot)}:prune"]
        counts = report["prune"]["plan"]["counts"]
        assert len(judged) == counts["keep"] + counts["remove"] > 0
        assert not foreign_ids & {fields["id"].lower() for fields in judged}


def test_no_platform_limit_was_violated(three_slots: ThreeSlots):
    stats = three_slots.stats
    assert stats["limitViolations"] == []
    assert stats["statuses"].get("409", 0) == 0, stats["statuses"]


# --- 2. re-running a slot -------------------------------------------------------------------
def test_rerunning_a_slot_creates_nothing(three_slots: ThreeSlots):
    """A new instance of ``backup_cycle`` with a finished cycle's input adopts its points."""
    run = three_slots.run
    last = run.slots[-1]
    before = {s.id.lower() for s in run.snapshots()}
    creates = run.stats()["requests"].get("Snapshots_CreateOrUpdate", 0)

    rerun_id = f"rerun-{run.cycle_id(last)}"
    run.start_cycle(rerun_id, run.cycle_input(run.cycle_id(last)))
    report = run.wait_report(rerun_id)

    assert report["phase"] == "Completed", report["summary"]
    assert report["summary"]["pruned"] == 0
    original = {o["diskId"]: o for o in disk_outcomes(three_slots.reports[2])}
    for outcome in disk_outcomes(report):
        assert outcome["point"]["id"] == original[outcome["diskId"]]["point"]["id"]
        assert outcome["replica"]["id"] == original[outcome["diskId"]]["replica"]["id"]
        assert outcome["replica"]["state"] == "usable"
    assert {s.id.lower() for s in run.snapshots()} == before
    stats = run.stats()
    assert stats["requests"].get("Snapshots_CreateOrUpdate", 0) == creates
    assert stats["limitViolations"] == []
