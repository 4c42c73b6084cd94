"""Three scheduled slots of a ``vm-crash`` policy on the twin: one VM restore point per VM
and slot holding every protected disk at one instant, its copy in the secondary region,
retention applied to whole restore points in both regions, another install's collection
untouched, the recovery points and compliance answers, and no Azure limit ever hit.

One twin serves the module. Its fixture watches the slots as an operator would: right after
the first restore point of a VM appears it writes to every disk of that VM (the writes must
be in none of the point's disk restore points), and it records digests as it goes; the
tests judge the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError

from diskdr.naming import TAG_OWNER, collection_name, group_id, restore_point_name
from tests.e2e.conftest import (
    INSTALL_ID,
    POLICIES,
    REPLICA_GROUP,
    REPLICA_REGION,
    TwinRun,
    disk_outcomes,
    estate,
    problems,
    start_twin,
    vm,
)
from tests.support import poll

pytestmark = pytest.mark.slow

OTHER_INSTALL = "diskdr-elsewhere"
FOREIGN = "drc-someone-elses"
ESTATE = estate(
    {
        "rg-app": [
            vm(
                "vm-rp-1",
                "e2e",
                data=[(0, "Premium_LRS"), (1, "StandardSSD_LRS", {"backup": "skip"})],
            ),
            vm("vm-rp-2", "e2e", os_sku="StandardSSD_LRS"),
            vm("vm-other", "none"),
        ]
    }
)
PROTECTED = {"vm-rp-1": ("vm-rp-1-osdisk", "vm-rp-1-data-0"), "vm-rp-2": ("vm-rp-2-osdisk",)}
EXCLUDED = "vm-rp-1-data-1"


def vm_id(run: TwinRun, name: str) -> str:
    [found] = [i for i in run.seeded["vms"] if i.rsplit("/", 1)[1] == name]
    return found


def seed_foreign_collection(run: TwinRun) -> None:
    """Another install's collection of vm-rp-1 with an application-consistent point (another
    mode: it does not hold diskdr's crash-consistent points back)."""
    compute = run.compute()
    compute.restore_point_collections.create_or_update(
        "rg-app",
        FOREIGN,
        {
            "location": "eastus",
            "tags": {TAG_OWNER: OTHER_INSTALL, "diskdr-role": "primary"},
            "properties": {"source": {"id": vm_id(run, "vm-rp-1")}},
        },
    )
    compute.restore_points.begin_create("rg-app", FOREIGN, "theirs", {"properties": {}}).result()


@dataclass
class Slots:
    run: TwinRun
    reports: list[dict[str, Any]] = field(default_factory=list)
    #: (slot index, disk name) -> the disk's digest when the slot's point was taken
    at_slot: dict[tuple[int, str], str] = field(default_factory=dict)
    #: disk restore point id -> its content as the emulator reports it
    captured: dict[str, dict[str, Any]] = field(default_factory=dict)
    written_after: dict[str, str] = field(default_factory=dict)  # disk name -> digest after
    first: Any = None  # vm-rp-1's first restore point, read right after its cycle
    on_demand: dict[str, Any] = field(default_factory=dict)  # a run asked for after slot 3
    stats: dict[str, Any] = field(default_factory=dict)


def restore_point(run: TwinRun, name: str, slot: datetime, role: str = "primary") -> Any:
    group = "rg-app" if role == "primary" else REPLICA_GROUP
    vm = vm_id(run, name)
    return run.compute().restore_points.get(
        group,
        collection_name(vm, INSTALL_ID, role),  # type: ignore[arg-type]
        restore_point_name(INSTALL_ID, vm, slot, role),  # type: ignore[arg-type]
    )


def exists(run: TwinRun, name: str, slot: datetime) -> Any:
    try:
        return restore_point(run, name, slot)
    except ResourceNotFoundError:
        return None


@pytest.fixture(scope="module")
def slots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slots]:
    state_dir = tmp_path_factory.mktemp("restore-points")
    template = POLICIES / "restore_points.yaml"
    with start_twin(
        state_dir, ESTATE, 3, template=template, prepare=seed_foreign_collection
    ) as run:
        seen = Slots(run)
        disks = {name: run.compute().disks.get("rg-app", name) for name in _all_disks()}
        for name, disk in disks.items():
            seen.at_slot[(0, name)] = run.digest(disk.id)
        # The first restore point of vm-rp-1 appears: the guest writes to every disk at once.
        poll(lambda: exists(run, "vm-rp-1", run.slots[0]), what="the first restore point")
        for name in (*PROTECTED["vm-rp-1"], EXCLUDED):
            seen.written_after[name] = run.control.write(disks[name].id, blocks=8)["digest"]
        for index, slot in enumerate(run.slots):
            seen.reports.append(run.wait_cycle(slot))
            if index == 0:
                seen.first = restore_point(run, "vm-rp-1", slot)
            for outcome in disk_outcomes(seen.reports[-1]):
                for key in ("point", "replica"):
                    if outcome[key]:
                        seen.captured[outcome[key]["id"]] = run.control.content(outcome[key]["id"])
            if index + 1 < len(run.slots):
                for name, disk in disks.items():  # between slots: more writes
                    run.control.write(disk.id, blocks=4)
                    seen.at_slot[(index + 1, name)] = run.digest(disk.id)
        # Back up vm-rp-1 now, minutes after its last crash-consistent point: Azure would
        # refuse it (1 h apart), so the on-demand run skips the VM and says why.
        status, body = run.twin.http("POST", "/api/backups", {"vmIds": [vm_id(run, "vm-rp-1")]})
        assert status == 202, body
        seen.on_demand = run.wait_report(body["id"])
        seen.stats = run.stats()
        yield seen


def _all_disks() -> list[str]:
    return [name for names in PROTECTED.values() for name in names] + [EXCLUDED]


def test_every_slot_completes_with_one_restore_point_per_vm_copied(slots: Slots):
    for report in slots.reports:
        assert report["phase"] == "Completed", problems(report)
        assert report["summary"]["vms"] == 2 and report["summary"]["groupsComplete"] == 2
        assert report["summary"]["disks"] == 3 and report["summary"]["replicated"] == 3
        for vm_outcome in report["vms"]:
            names = [disk["diskName"] for disk in vm_outcome["disks"]]
            assert tuple(names) == PROTECTED[vm_outcome["vmName"]]
            restore_points = {
                disk["point"]["id"].split("/diskRestorePoints/")[0] for disk in vm_outcome["disks"]
            }
            assert len(restore_points) == 1, "one VM restore point holds the group"
            for disk in vm_outcome["disks"]:
                assert disk["point"]["consistency"] == "crash-multi"
                assert disk["replica"]["region"] == REPLICA_REGION
                assert disk["point"]["group"] == vm_outcome["group"] == disk["replica"]["group"]


def test_a_restore_point_holds_every_disk_at_one_instant(slots: Slots):
    storage = slots.first.source_metadata.storage_profile
    members = [storage.os_disk, *storage.data_disks]
    # The excluded disk is not in it.
    assert sorted(m.name for m in members) == sorted(PROTECTED["vm-rp-1"])
    instants = set()
    for member in members:
        content = slots.captured[member.disk_restore_point.id]
        assert content["consistencyMode"] == "CrashConsistent"
        # The disk as it was before the guest's writes, which came right after the create.
        assert content["digest"] == slots.at_slot[(0, member.name)]
        assert content["digest"] != slots.written_after[member.name]
        instants.add(content["capturedAt"])
    assert len(instants) == 1


def test_each_slot_holds_the_disks_as_they_were_and_copies_carry_it(slots: Slots):
    run = slots.run
    for index, report in enumerate(slots.reports):
        for outcome in disk_outcomes(report):
            name = outcome["diskName"]
            point = slots.captured[outcome["point"]["id"]]
            replica = slots.captured[outcome["replica"]["id"]]
            if index > 0:  # (the first slot is checked against the guest's writes above)
                assert point["digest"] == slots.at_slot[(index, name)], (index, name)
            assert replica["digest"] == point["digest"], (index, name)
        assert report["slot"] == run.slots[index].strftime("%Y-%m-%dT%H:%MZ")


def test_retention_removes_whole_restore_points_in_both_regions(slots: Slots):
    run = slots.run
    compute = run.compute()
    for name in PROTECTED:
        vm = vm_id(run, name)
        for role, group in (("primary", "rg-app"), ("replica", REPLICA_GROUP)):
            collection = compute.restore_point_collections.get(
                group,
                collection_name(vm, INSTALL_ID, role),
                expand="restorePoints",  # type: ignore[arg-type]
            )
            names = sorted(p.name for p in collection.restore_points)
            kept = sorted(restore_point_name(INSTALL_ID, vm, s, role) for s in run.slots[1:])  # type: ignore[arg-type]
            assert names == kept, (name, role)
    pruned = slots.reports[-1]["prune"]
    removed = pruned["plan"]["remove"]
    # The first slot's restore points (2 VMs, 2 regions: 3 disk restore points each way).
    assert len(removed) == 6 and len({item["unit"] for item in removed}) == 4
    assert {datetime.fromisoformat(item["slot"]) for item in removed} == {run.slots[0]}
    assert pruned["failed"] == [] and sorted(pruned["deleted"]) == sorted(i["id"] for i in removed)


def test_another_installs_collection_is_untouched(slots: Slots):
    compute = slots.run.compute()
    foreign = compute.restore_point_collections.get("rg-app", FOREIGN, expand="restorePoints")
    assert foreign.tags[TAG_OWNER] == OTHER_INSTALL
    assert [p.name for p in foreign.restore_points] == ["theirs"]
    assert foreign.restore_points[0].provisioning_state == "Succeeded"


def test_an_on_demand_run_too_soon_after_a_point_skips_the_vm_with_the_reason(slots: Slots):
    report = slots.on_demand
    assert report["trigger"] == "on-demand" and report["phase"] == "Skipped"  # not a fault
    assert "at least 1 h apart" in report["reason"] and report["summary"]["failed"] == 0
    [vm_outcome] = report["vms"]
    assert vm_outcome["state"] == "failed"
    for disk in vm_outcome["disks"]:
        assert disk["point"] is None and disk["error"]["code"] == "RestorePointTooSoon"
        assert "at least 1 h apart" in disk["error"]["message"]


def test_no_azure_limit_was_hit(slots: Slots):
    assert slots.stats["limitViolations"] == []
    assert slots.stats["requests"].get("RestorePoints_Create", 0) >= 12  # 6 points + 6 copies


def test_recovery_points_and_compliance_show_the_groups_per_region(slots: Slots):
    run = slots.run
    vm = vm_id(run, "vm-rp-1")
    status, body = run.twin.http("GET", f"/api/recovery-points?vmId={vm}")
    assert status == 200
    groups = {(g["slot"], g["region"], g["role"]): g for g in body["groups"]}
    expected = {s.strftime("%Y-%m-%dT%H:%MZ") for s in run.slots[1:]}
    assert {key[0] for key in groups} == expected
    for (_, region, role), group in groups.items():
        assert (region, role) in (("eastus", "primary"), (REPLICA_REGION, "replica"))
        assert group["points"] == group["usable"] == 2
    assert {g["group"] for g in body["groups"]} == {
        group_id(INSTALL_ID, vm, s) for s in run.slots[1:]
    }
    status, body = run.twin.http("GET", "/api/compliance")
    assert status == 200
    statuses = {entry["vmName"]: entry for entry in body["vms"]}
    assert set(statuses) == set(PROTECTED)
    for entry in statuses.values():
        assert entry["status"] == "OK", entry
        assert {r["status"] for r in entry["regions"]} == {"OK"}


def test_run_reports_list_each_restore_point_write_with_its_request_id(slots: Slots):
    """The audit trail of a ``vm-crash`` run: the collection and restore point of each VM in
    both regions (the first slot), and the restore points pruning deleted (the last)."""

    def writes(report: dict[str, Any]) -> list[tuple[str, str]]:
        for write in report["audit"]:
            assert write["status"] < 300 and write["requestId"], write
        return [(w["method"], w["resource"].lower()) for w in report["audit"]]

    run = slots.run
    first = writes(slots.reports[0])
    for name in PROTECTED:
        vm = vm_id(run, name)
        for role, group in (("primary", "rg-app"), ("replica", REPLICA_GROUP)):
            collection = collection_name(vm, INSTALL_ID, role)  # type: ignore[arg-type]
            point = restore_point_name(INSTALL_ID, vm, run.slots[0], role)  # type: ignore[arg-type]
            path = f"/resourcegroups/{group}/providers/microsoft.compute/restorepointcollections/"
            collection_path = f"{path}{collection}".lower()
            made = {method for method, resource in first if resource.endswith(collection_path)}
            assert made == {"PUT"}, (name, role, first)
            assert sum(w[1].endswith(f"{collection_path}/restorepoints/{point}".lower())
                       for w in first) == 1, (name, role, first)  # fmt: skip
    deletes = [resource for method, resource in writes(slots.reports[-1]) if method == "DELETE"]
    removed = {item["unit"].lower() for item in slots.reports[-1]["prune"]["plan"]["remove"]}
    assert len(removed) == 4 and {d for d in deletes if d in removed} == removed
