"""A cycle of 100 VMs / 200 disks that copies every point to the secondary region, against
the emulator's Azure-faithful answers: the copies' progress is read with one listing per
resource group per wait round, shared by all the copies waiting there (the ``copy_watch``
entity), so reads per disk stay at most 3, with no LRO status poll, and every point is
copied (docs/architecture.md, "Shared copy-progress reads")."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import POLICIES, TwinRun, disk_outcomes, estate, problems, start_twin, vm
from tests.e2e.test_arm_calls import reads

pytestmark = pytest.mark.slow

VMS = 100
DISKS = 2 * VMS
ESTATE = estate(
    {
        f"rg-app-{g}": [
            vm(f"vm-{g}-{n}", "e2e", data=[(0, "Premium_LRS")]) for n in range(VMS // 4)
        ]
        for g in range(4)
    }
)


def ten_minute_copies(run: TwinRun) -> None:
    # Copies long enough for several wait rounds each (15 s doubling: about six).
    run.control.config(copy={"baseSeconds": 600, "bytesPerSecond": 50 * 1024 * 1024})


def test_copies_share_their_progress_reads_at_most_3_reads_per_disk(tmp_path):
    with start_twin(
        tmp_path,
        ESTATE,
        1,
        template=POLICIES / "scale-replicate.yaml",
        prepare=ten_minute_copies,
    ) as run:
        report = run.wait_cycle(run.slots[0], timeout=900)
        requests = run.stats()["requests"]

    assert report["phase"] == "Completed", problems(report)
    outcomes = disk_outcomes(report)
    assert len(outcomes) == DISKS
    assert all(o["replica"] and o["replica"]["state"] == "usable" for o in outcomes)
    assert requests.get("Operations_GetStatus", 0) == 0, requests
    assert requests["Snapshots_CreateOrUpdate"] == 2 * DISKS  # the points and their copies
    per_disk = reads(requests) / DISKS
    print(f"reads per disk {per_disk:.2f}: {requests}")
    assert per_disk <= 3, (per_disk, requests)
