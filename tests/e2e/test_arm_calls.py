"""A cycle of 100 VMs / 300 disks against the emulator's Azure-faithful answers (DiskRP
LROs without Retry-After): it completes, diskdr never polls an operation's status, and it
reads at most 3 times per disk (inventory and readiness by paged listings shared by all
the disks, one GET per take)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import POLICIES, disk_outcomes, estate, problems, start_twin, vm

pytestmark = pytest.mark.slow

VMS = 100
DISKS = 3 * VMS
ESTATE = estate(
    {
        f"rg-app-{g}": [
            vm(f"vm-{g}-{n}", "e2e", data=[(0, "Premium_LRS"), (1, "PremiumV2_LRS")])
            for n in range(VMS // 4)
        ]
        for g in range(4)
    }
)


def reads(requests: dict[str, int]) -> int:
    """GETs by operationId (``*_Get*``, ``*_List*``, and the LRO status polls)."""
    return sum(
        count
        for operation, count in requests.items()
        if operation.partition("_")[2].startswith(("Get", "List"))
    )


def test_a_cycle_of_300_disks_reads_at_most_3_times_per_disk_and_never_polls(tmp_path):
    with start_twin(tmp_path, ESTATE, 1, template=POLICIES / "scale.yaml") as run:
        assert run.control.config()["lroHints"] is False  # Azure's answers, not the fast mode
        report = run.wait_cycle(run.slots[0], timeout=600)
        requests = run.stats()["requests"]

    assert report["phase"] == "Completed", problems(report)
    outcomes = disk_outcomes(report)
    assert len(outcomes) == DISKS and all(o["point"]["state"] == "usable" for o in outcomes)
    assert requests.get("Operations_GetStatus", 0) == 0, requests
    assert requests["Snapshots_CreateOrUpdate"] == DISKS
    per_disk = reads(requests) / DISKS
    assert per_disk <= 3, (per_disk, requests)
