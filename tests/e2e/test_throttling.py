"""ARM throttling and transient errors: with the emulator's token buckets on (and small
enough to run out) and one Compute call in ten answered 429 or 503, every point still lands
in both regions. The SDK's retry policy (honouring ``Retry-After``) absorbs most of it; a
burst longer than its retries is waited out by the flow with durable timers."""

from __future__ import annotations

import re

import pytest

from diskdr.azure.clients import RETRY_TOTAL
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
    # Buckets that really run out: ARM's own (250 reads, 200 writes, refilled at 25/s and
    # 10/s) never empty at this scale. Rates are tokens per world second, so a burst of
    # parallel activities is throttled and then retried in a herd at the same Retry-After.
    run.control.config(
        buckets={
            "reads": {"burst": 3, "rate": 0.2},
            "writes": {"burst": 2, "rate": 0.1},
            "deletes": {"burst": 2, "rate": 0.1},
        }
    )
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

    assert stats["throttled"] > 0, "the token buckets ran out"
    assert stats["statuses"].get("429", 0) > stats["throttled"], "injected 429s came on top"
    assert stats["statuses"].get("503", 0) > 0
    assert stats["limitViolations"] == []


# One more error in a row than the SDK's retry policy absorbs: the flow must wait it out.
BURST = RETRY_TOTAL + 1


def bursts_on_one_disk(run: TwinRun) -> None:
    """A burst of 429s on the PUT of one disk's point and of 503s on the reads of its
    replica, each longer than the SDK retries."""
    vm_id = next(i for i in run.seeded["vms"] if i.endswith("/vm-t1"))
    disk_id = next(i for i in run.seeded["disks"] if i.endswith("/vm-t1-osdisk"))
    point = point_name(INSTALL_ID, vm_id, disk_id, run.slots[0])
    replica = point_name(INSTALL_ID, vm_id, disk_id, run.slots[0], "replica")
    run.control.faults(
        [
            {
                "method": "PUT",
                "path": f"/snapshots/{re.escape(point)}$",
                "status": 429,
                "code": "TooManyRequests",
                "count": BURST,
            },
            {
                "method": "GET",
                "path": f"/snapshots/{re.escape(replica)}$",
                "status": 503,
                "code": "ServerBusy",
                "count": BURST,
            },
        ]
    )


def test_bursts_of_transient_errors_longer_than_the_sdk_retries_are_waited_out(tmp_path):
    estate_of_one = estate({"rg-app": [vm("vm-t1", "e2e")]})
    with start_twin(tmp_path, estate_of_one, 1, prepare=bursts_on_one_disk) as run:
        report = run.wait_cycle(run.slots[0])
        stats = run.stats()
    assert stats["faultsInjected"] == 2 * BURST
    assert report["phase"] == "Completed", problems(report)
    outcome = disk_outcomes(report)[0]
    assert outcome["point"]["state"] == "usable"
    assert outcome["replica"]["state"] == "usable"
    assert stats["limitViolations"] == []
