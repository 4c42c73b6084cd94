"""A copy that takes two world hours keeps a small history: every wait of ``replicate_point``
ends a generation (``continue_as_new``), so its instance never holds more than one round,
however many rounds the copy takes (docs/architecture.md, "Copies in generations")."""

from __future__ import annotations

import sqlite3

import pytest

from tests.e2e.conftest import TwinRun, disk_outcomes, estate, problems, start_twin, vm

pytestmark = pytest.mark.slow

ESTATE = estate({"rg-app": [vm("vm-h1", "e2e", data=[(0, "Premium_LRS")])]})
# One generation: started, one wait (timer), the lease renewal (entity call), one read,
# the orchestrator episodes around them. The first holds the lease, the order entity and
# the CopyStart too. Whatever the copy's length, no generation holds more than this.
HISTORY_BOUND = 40


def two_hour_copies(run: TwinRun) -> None:
    run.control.config(copy={"baseSeconds": 7200, "bytesPerSecond": 50 * 1024 * 1024})


def copy_instances(run: TwinRun) -> dict[str, int]:
    """Every replicate_point instance -> the history events it holds now."""
    host = run.twin.host
    assert host is not None and host.state_dir is not None
    with sqlite3.connect(host.state_dir / "durable.sqlite") as db:
        rows = db.execute(
            "SELECT i.instance_id, COUNT(h.seq) FROM instances i "
            "LEFT JOIN history h ON h.instance_id = i.instance_id "
            "WHERE i.name = 'replicate_point' GROUP BY i.instance_id"
        ).fetchall()
    return {instance_id: int(events) for instance_id, events in rows}


def test_a_two_hour_copy_keeps_its_history_under_a_fixed_bound(tmp_path):
    with start_twin(tmp_path, ESTATE, 1, prepare=two_hour_copies) as run:
        report = run.wait_cycle(run.slots[0])
        histories = copy_instances(run)
        log = run.twin.host.log_path.read_text(errors="replace")

    assert report["phase"] == "Completed", problems(report)
    assert all(o["replica"]["state"] == "usable" for o in disk_outcomes(report))
    assert len(histories) == 2  # the OS disk's copy and the data disk's
    for instance_id, events in histories.items():
        generations = log.count(
            f"{instance_id}: Function 'replicate_point (Orchestrator)' continued"
        )
        # Two world hours of backoff (15 s doubling to 5 min): about 30 rounds, one each.
        assert generations >= 20, (instance_id, generations)
        assert events <= HISTORY_BOUND, (instance_id, events)
