"""``DISKDR_PRUNE_DRY_RUN``: the run reports what retention would remove, and removes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.conftest import disk_outcomes, estate, problems, start_twin, vm

pytestmark = pytest.mark.slow

ESTATE = estate({"rg-app": [vm("vm-d1", "e2e", data=[(0, "Premium_LRS")])]})


def test_a_dry_run_plans_the_prune_and_deletes_nothing(tmp_path):
    with start_twin(
        tmp_path,
        ESTATE,
        3,
        settings={"DISKDR_PRUNE_DRY_RUN": "true"},
        spacing=timedelta(minutes=30),
    ) as run:
        reports = [run.wait_cycle(slot) for slot in run.slots]
        left = {s.id.lower() for s in run.ours()}
        stats = run.stats()

    made = {
        outcome[key]["id"].lower()
        for report in reports
        for outcome in disk_outcomes(report)
        for key in ("point", "replica")
    }
    assert len(made) == 3 * 2 * 2  # three slots, two disks, two regions
    assert left == made
    prune = reports[2]["prune"]
    assert prune["dryRun"] is True
    # ``last: 2`` would remove the first slot's points in both regions.
    first = {
        o[key]["id"].lower() for o in disk_outcomes(reports[0]) for key in ("point", "replica")
    }
    assert {item["id"].lower() for item in prune["plan"]["remove"]} == first
    assert prune["deleted"] == [] and prune["failed"] == []
    for report in reports:
        assert report["phase"] == "Completed", problems(report)
        assert report["summary"]["pruned"] == 0
    assert "Snapshots_Delete" not in stats["requests"]
    assert stats["limitViolations"] == []
