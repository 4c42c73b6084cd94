"""ARM throttling and transient errors: with the emulator's ARM token buckets on and one
Compute call in ten answered 429 or 503, every point still lands in both regions — the SDK's
retry policy (honouring ``Retry-After``) absorbs it."""

from __future__ import annotations

import re

import pytest

from diskdr.naming import point_name
from tests.e2e.conftest import (
    INSTALL_ID,
    TwinRun,
    disk_outcomes,
    estate,
    problems,
    role_of,
    start_twin,
    vm,
)

pytestmark = pytest.mark.slow

ESTATE = estate(
    {
        "rg-app": [
            vm("vm-t1", "e2e", data=[(0, "Premium_LRS")]),
            vm("vm-t2", "e2e", data=[(0, "PremiumV2_LRS")]),
            vm("vm-t3", "e2e", data=[(0, "Premium_LRS")]),
        ]
    }
)
DISKS = 6


def flaky_compute(run: TwinRun) -> None:
    compute_calls = r"/providers/Microsoft\.Compute/"
    run.control.faults(
        [
            {"path": compute_calls, "probability": 0.05, "status": 429, "code": "TooManyRequests"},
            {"path": compute_calls, "probability": 0.05, "status": 503, "code": "ServerBusy"},
        ]
    )


def test_every_point_lands_despite_throttling_and_transient_errors(tmp_path):
    with start_twin(tmp_path, ESTATE, 2, throttle=True, prepare=flaky_compute) as run:
        reports = [run.wait_cycle(slot) for slot in run.slots]
        run.control.clear_faults()  # the checks below read without injected errors
        stats = run.stats()
        ours = run.ours()

    for report in reports:
        assert report["phase"] == "Completed", problems(report)
        summary = report["summary"]
        assert (summary["usable"], summary["replicated"], summary["failed"]) == (DISKS, DISKS, 0)
    # Both slots are kept by ``last: 2``: every disk has two points in each region.
    primaries = [s for s in ours if role_of(s) == "primary"]
    replicas = [s for s in ours if role_of(s) == "replica"]
    assert len(primaries) == len(replicas) == 2 * DISKS
    assert all(s.provisioning_state == "Succeeded" for s in ours)
    assert all(s.completion_percent in (None, 100) for s in ours)
    made = {
        outcome[key]["id"].lower()
        for report in reports
        for outcome in disk_outcomes(report)
        for key in ("point", "replica")
    }
    assert {s.id.lower() for s in ours} == made

    assert stats["statuses"].get("429", 0) > 0
    assert stats["statuses"].get("503", 0) > 0
    assert stats["limitViolations"] == []


def four_busy_answers_to_one_replica(run: TwinRun) -> None:
    """Four 503s in a row to the reads of one replica: one more than the SDK retries."""
    vm_id = next(i for i in run.seeded["vms"] if i.endswith("/vm-t1"))
    disk_id = next(i for i in run.seeded["disks"] if i.endswith("/vm-t1-osdisk"))
    name = point_name(INSTALL_ID, vm_id, disk_id, run.slots[0], "replica")
    run.control.faults(
        [
            {
                "method": "GET",
                "path": f"/snapshots/{re.escape(name)}$",
                "status": 503,
                "code": "ServerBusy",
                "count": 4,
            }
        ]
    )


@pytest.mark.xfail(
    strict=True,
    reason="known bug: a transient Azure error (429/5xx) that outlasts the SDK's retry budget "
    "(3 status retries) ends the copy as failed instead of being tried again later within the "
    "copy deadline; start_copy returns it as a final error and a failed point_states poll "
    "ends replicate_point. Throttling herds (many callers retrying at one Retry-After) hit it.",
)
def test_a_short_burst_of_transient_errors_does_not_fail_a_copy(tmp_path):
    estate_of_one = estate({"rg-app": [vm("vm-t1", "e2e")]})
    with start_twin(tmp_path, estate_of_one, 1, prepare=four_busy_answers_to_one_replica) as run:
        report = run.wait_cycle(run.slots[0])
        fired = run.stats()["faultsInjected"]
    assert fired == 4
    assert report["phase"] == "Completed", problems(report)
    assert disk_outcomes(report)[0]["replica"]["state"] == "usable"
