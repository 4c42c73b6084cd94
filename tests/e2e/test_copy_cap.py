"""The copy cap across overlapping runs: with ``DISKDR_MAX_COPIES_PER_REGION=2``, eight disks
replicating at once and an on-demand backup (over HTTP) of the same VMs started while the
scheduled cycle is still copying, the emulator never sees more than two copies in flight
into the secondary region, nor two copies of one disk, nor copies out of creation order."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.e2e.conftest import (
    REPLICA_REGION,
    TwinRun,
    disk_outcomes,
    estate,
    problems,
    start_twin,
    vm,
)
from twin.harness import SUBSCRIPTION

pytestmark = pytest.mark.slow

VMS = ("vm-c1", "vm-c2", "vm-c3", "vm-c4")
ESTATE = estate({"rg-app": [vm(name, "e2e", data=[(0, "Premium_LRS")]) for name in VMS]})
DISKS = 2 * len(VMS)
CAP = 2


def slow_copies_capped_at_two(run: TwinRun) -> None:
    # Azure's limit made the cap, so that one copy too many is a recorded violation; copies
    # take ten world minutes, so many would overlap if nothing held them back.
    run.control.config(
        limits={"copiesInFlightPerRegion": CAP},
        copy={"baseSeconds": 300, "bytesPerSecond": 50 * 1024 * 1024},
    )


def test_copies_in_flight_never_exceed_the_cap_across_overlapping_runs(tmp_path):
    settings = {"DISKDR_MAX_COPIES_PER_REGION": str(CAP)}
    with start_twin(
        tmp_path, ESTATE, 1, settings=settings, prepare=slow_copies_capped_at_two
    ) as run:
        run.twin.host.wait_until(
            lambda: run.stats()["copiesInFlight"], timeout=120, what="the first copies"
        )
        status, body = run.twin.http("POST", "/api/backups", {"vmIds": run.seeded["vms"]})
        assert status == 202, body
        scheduled = run.wait_cycle(run.slots[0])
        on_demand = run.wait_report(body["id"])
        stats = run.stats()

    # The runs overlapped: the on-demand one began before the scheduled one had finished.
    assert on_demand["trigger"] == "on-demand"
    assert on_demand["slot"] != scheduled["slot"]
    started, finished = on_demand["startedAt"], scheduled["finishedAt"]
    assert datetime.fromisoformat(started) < datetime.fromisoformat(finished)

    for report in (scheduled, on_demand):
        assert report["phase"] == "Completed", problems(report)
        assert report["summary"]["disks"] == DISKS
        assert report["summary"]["usable"] == DISKS
    # Every disk's newest point reached the secondary region; an older point of a disk may
    # be skipped when the newer copy went first (Azure copies a disk in creation order).
    for outcome in disk_outcomes(on_demand):
        assert outcome["replica"]["state"] == "usable", outcome["diskName"]
        assert outcome["replica"]["region"] == REPLICA_REGION
    for outcome in disk_outcomes(scheduled):
        replica = outcome["replica"] or {}
        assert replica.get("state") == "usable" or outcome["replicaNote"], outcome["diskName"]

    assert stats["peakCopies"] == {f"{SUBSCRIPTION}/{REPLICA_REGION}": CAP}
    assert stats["limitViolations"] == []
    assert stats["copiesInFlight"] == {}
