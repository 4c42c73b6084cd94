"""One disk whose point Azure refuses: the run reports it with Azure's error code and
request id, while the VM's other disks and the other VMs are backed up and replicated."""

from __future__ import annotations

import re

import pytest

from diskdr.naming import point_name
from tests.e2e.conftest import (
    INSTALL_ID,
    REPLICA_REGION,
    TwinRun,
    disk_outcomes,
    estate,
    start_twin,
    vm,
)

pytestmark = pytest.mark.slow

ESTATE = estate(
    {
        "rg-app": [
            vm("vm-f1", "e2e", data=[(0, "Premium_LRS"), (1, "Premium_LRS")]),
            vm("vm-f2", "e2e", data=[(0, "PremiumV2_LRS")]),
        ]
    }
)
FAILING_DISK = "vm-f1-data-1"
ERROR_CODE = "OperationNotAllowed"


def failing_point_name(run: TwinRun) -> str:
    vm_id = next(i for i in run.seeded["vms"] if i.endswith("/vm-f1"))
    disk_id = next(i for i in run.seeded["disks"] if i.endswith(f"/{FAILING_DISK}"))
    return point_name(INSTALL_ID, vm_id, disk_id, run.slots[0])


def refuse_one_point(run: TwinRun) -> None:
    """Azure refuses the PUT of that one disk's point, every time it is tried."""
    run.control.faults(
        [
            {
                "method": "PUT",
                "path": f"/snapshots/{re.escape(failing_point_name(run))}$",
                "status": 409,
                "code": ERROR_CODE,
                "message": "Operation is not allowed on this disk at the moment.",
            }
        ]
    )


def test_a_refused_point_is_reported_and_the_others_succeed(tmp_path):
    with start_twin(tmp_path, ESTATE, 1, prepare=refuse_one_point) as run:
        report = run.wait_cycle(run.slots[0])
        snapshots = run.snapshots()
        stats = run.stats()

    assert report["phase"] == "PartiallyFailed"
    summary = report["summary"]
    assert (summary["disks"], summary["usable"], summary["failed"]) == (5, 4, 1)
    assert summary["replicated"] == 4
    outcomes = {o["diskName"]: o for o in disk_outcomes(report)}

    failed = outcomes.pop(FAILING_DISK)
    assert failed["point"] is None and failed["replica"] is None
    error = failed["error"]
    assert error["code"] == ERROR_CODE
    assert error["status"] == 409
    assert error["requestId"], "the Azure request id is kept for support cases"
    assert "not allowed" in error["message"]
    assert failed["groupState"] == "partial"

    for name, outcome in outcomes.items():
        assert outcome["error"] is None and outcome["replicaError"] is None, name
        assert outcome["point"]["state"] == "usable", name
        assert outcome["replica"]["state"] == "usable", name
        assert outcome["replica"]["region"] == REPLICA_REGION
    states = {vm["vmName"]: vm["state"] for vm in report["vms"]}
    assert states == {"vm-f1": "partial", "vm-f2": "complete"}

    # Nothing was left behind for the refused disk, and the refusal was not retried.
    names = {s.name for s in snapshots}
    assert failing_point_name(run) not in names
    assert all(FAILING_DISK not in (s.tags or {}).get("diskdr-disk", "") for s in snapshots)
    assert stats["faultsInjected"] == 1
    assert stats["limitViolations"] == []


def slow_premium_v2_points(run: TwinRun) -> None:
    # A Premium SSD v2 point stays Pending while its background copy runs: make it a day.
    run.control.config(backgroundCopy={"baseSeconds": 86400, "bytesPerSecond": 1024})


def test_a_point_still_pending_at_the_group_deadline_is_reported(tmp_path):
    """The group waits with durable timers until ``DISKDR_GROUP_DEADLINE``, then reports
    the pending point as such; the usable ones are replicated anyway."""
    with start_twin(
        tmp_path,
        ESTATE,
        1,
        settings={"DISKDR_GROUP_DEADLINE": "PT10M"},
        prepare=slow_premium_v2_points,
    ) as run:
        report = run.wait_cycle(run.slots[0])
        stats = run.stats()

    outcomes = {o["diskName"]: o for o in disk_outcomes(report)}
    pending = outcomes.pop("vm-f2-data-0")  # the Premium SSD v2 disk
    assert pending["point"]["state"] == "pending"
    assert pending["error"]["code"] == "DeadlineExceeded"
    assert pending["replica"] is None
    states = {vm["vmName"]: vm["state"] for vm in report["vms"]}
    assert states == {"vm-f1": "complete", "vm-f2": "in-progress"}
    for name, outcome in outcomes.items():
        assert outcome["point"]["state"] == "usable", name
        assert outcome["replica"]["state"] == "usable", name
    assert report["phase"] == "PartiallyFailed"
    # The wait was durable timers with backoff (six polls in ten world minutes), not a busy
    # loop: the whole run of five disks needed well under 60 snapshot reads.
    assert stats["requests"]["Snapshots_Get"] < 60
    assert stats["limitViolations"] == []
