"""``DISKDR_PRUNE_DRY_RUN``: the run reports what retention would remove, and removes nothing.

Three cycles run one after the other: the first slot is the minute the twin starts in (the
first tick catches it up whenever devhost is ready), and each next slot is added to the
policy only once the previous cycle has ended. So however slow the machine, no slot is
lost to a late start (``catchUp: latest`` runs only the newest of several missed slots) and
no two cycles overlap (an overlap would let a newer copy supersede an older one).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.conftest import (
    POLICIES,
    disk_outcomes,
    estate,
    problems,
    start_twin,
    vm,
    write_policy,
)

pytestmark = pytest.mark.slow

ESTATE = estate({"rg-app": [vm("vm-d1", "e2e", data=[(0, "Premium_LRS")])]})


def test_a_dry_run_plans_the_prune_and_deletes_nothing(tmp_path):
    with start_twin(tmp_path, ESTATE, 1, settings={"DISKDR_PRUNE_DRY_RUN": "true"}) as run:
        slots = list(run.slots)
        reports = [run.wait_cycle(slots[0])]
        for _ in range(2):
            # The next minute of the world clock: the tick starts it as soon as it reads
            # the policy (at once if the minute has passed by then: it is the newest slot).
            now = run.clock.now().replace(second=0, microsecond=0)
            slots.append(max(now, slots[-1]) + timedelta(minutes=1))
            write_policy(run.policy_file, slots, POLICIES / "e2e.yaml")
            reports.append(run.wait_cycle(slots[-1]))
        left = {s.id.lower() for s in run.ours()}
        stats = run.stats()

    for report in reports:
        assert report["phase"] == "Completed", problems(report)
        assert report["summary"]["pruned"] == 0
    outcomes = [outcome for report in reports for outcome in disk_outcomes(report)]
    made = {o[key]["id"].lower() for o in outcomes for key in ("point", "replica") if o[key]}
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
    assert "Snapshots_Delete" not in stats["requests"]
    assert stats["limitViolations"] == []
