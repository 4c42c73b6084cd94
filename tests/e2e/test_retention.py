"""Retention on the twin (issue #8): one disk of a VM fails its snapshots from the third
cycle on; with ``last: 3`` and replication, the newest complete group stays whole in both
regions, the healthy disk keeps its history, and no copy ever loses its source."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from diskdr.naming import point_name
from tests.e2e.conftest import (
    INSTALL_ID,
    POLICIES,
    PRIMARY_REGION,
    REPLICA_REGION,
    TwinRun,
    estate,
    start_twin,
    vm,
)

pytestmark = pytest.mark.slow

ESTATE = estate({"rg-app": [vm("vm-r1", "e2e", data=[(0, "Premium_LRS")])]})
FAILING_DISK = "vm-r1-data-0"
CYCLES = 5


def fail_from_the_third_cycle(run: TwinRun) -> None:
    vm_id = next(i for i in run.seeded["vms"] if i.endswith("/vm-r1"))
    disk_id = next(i for i in run.seeded["disks"] if i.endswith(f"/{FAILING_DISK}"))
    names = [point_name(INSTALL_ID, vm_id, disk_id, slot) for slot in run.slots[2:]]
    run.control.faults(
        [
            {
                "method": "PUT",
                "path": f"/snapshots/({'|'.join(map(re.escape, names))})$",
                "status": 409,
                "code": "OperationNotAllowed",
                "message": "Operation is not allowed on this disk at the moment.",
            }
        ]
    )


def test_one_failing_disk_keeps_the_newest_complete_group_and_the_healthy_history(tmp_path):
    with start_twin(
        tmp_path,
        ESTATE,
        CYCLES,
        template=POLICIES / "last3.yaml",
        prepare=fail_from_the_third_cycle,
    ) as run:
        reports = [run.wait_cycle(slot) for slot in run.slots]
        left = run.ours()
        stats = run.stats()

    assert [r["vms"][0]["state"] for r in reports] == ["complete"] * 2 + ["partial"] * 3
    complete_group = reports[1]["vms"][0]["group"]
    for region in (PRIMARY_REGION, REPLICA_REGION):
        in_region = [s for s in left if s.location == region]
        by_group: dict[str, set[str]] = defaultdict(set)
        for snapshot in in_region:
            by_group[snapshot.tags["diskdr-group"]].add(snapshot.tags["diskdr-disk"])
        # The newest complete group (the second cycle) stays whole.
        assert len(by_group[complete_group]) == 2, (region, dict(by_group))
        healthy = [s for s in in_region if FAILING_DISK not in s.tags["diskdr-disk"]]
        assert len(healthy) >= 3, (region, [s.tags["diskdr-slot"] for s in healthy])
    assert stats["limitViolations"] == []


HEALTHY = estate({"rg-app": [vm("vm-r2", "e2e", data=[(0, "Premium_LRS")])]})


def test_on_demand_backups_overlapping_pruning_cycles_never_delete_a_copy_source(tmp_path):
    with start_twin(tmp_path, HEALTHY, 4, template=POLICIES / "last3.yaml") as run:
        host = run.twin.host
        assert host is not None
        vm_id = next(i for i in run.seeded["vms"] if i.endswith("/vm-r2"))
        on_demand = []
        for slot in run.slots:
            # An on-demand run copies its point while the scheduled cycle prunes.
            status, body = run.twin.http("POST", "/api/backups", {"vmIds": [vm_id]})
            assert status == 202, body
            on_demand.append(body["id"])
            report = run.wait_cycle(slot)
            assert report["prune"] is not None and report["prune"]["failed"] == []

        def ended(instance_id: str) -> dict | None:
            status, body = run.twin.http("GET", f"/api/backups/{instance_id}")
            assert status == 200, body
            return body if body["runtimeStatus"] in ("Completed", "Failed", "Terminated") else None

        finals = [host.wait_until(lambda i=i: ended(i), timeout=180, what=i) for i in on_demand]
        stats = run.stats()
    assert [f["runtimeStatus"] for f in finals] == ["Completed"] * len(on_demand)
    assert stats["limitViolations"] == []
