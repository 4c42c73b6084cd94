"""The prune plan is kept once (issue #9): the cycle and prune histories carry its counts,
its first ``SHOWN`` items and the removed ids to act on — never the whole plan twice.

Every payload the two instances' histories hold is read back from the fake contexts: the
inputs and results of each task, and each instance's output.
"""

from __future__ import annotations

import json
from typing import Any

from diskdr.prune import SHOWN
from tests.orchestrations.estate import INSTALL, FakeAzure, cycle_input
from tests.orchestrations.fake_context import FakeContext
from tests.orchestrations.test_backup_cycle import cycle, estate
from tests.unit.points import point

REMOVE = [point(hours=-4 * n, owner=INSTALL) for n in range(1, 46)]
KEEP = [point(hours=-4 * n, owner=INSTALL, disk=f"keep-{n}") for n in range(30)]


def payloads(context: FakeContext, output: Any) -> list[str]:
    """Every payload of the cycle's and its sub-orchestrations' histories, as JSON."""
    found = [json.dumps(output)]
    for ctx in [context, *context.descendants()]:
        for task in ctx.scheduled:
            found += [json.dumps(task.input), json.dumps(task.result)]
    return found


def holding_all(found: list[str], ids: list[str]) -> list[str]:
    return [payload for payload in found if all(i in payload for i in ids)]


def test_the_full_plan_is_in_no_history_and_its_removed_ids_in_one_place():
    azure = FakeAzure(vms=estate(1), prune_remove=REMOVE, prune_keep=KEEP)
    report, context = cycle(azure, cycle_input())
    found = payloads(context, report)

    removed, kept = [p.id for p in REMOVE], [p.id for p in KEEP]
    # The removed ids: once, in plan_prune's answer (what prune_policy acts on).
    [act] = holding_all(found, removed)
    assert '"act"' in act
    # The kept items (with their reasons) are in no history: the activity's log has them.
    assert holding_all(found, kept) == []
    assert azure.deleted == removed


def test_the_report_counts_everything_and_shows_the_first_items_with_reasons():
    azure = FakeAzure(vms=estate(1), prune_remove=REMOVE, prune_keep=KEEP)
    report, _ = cycle(azure, cycle_input())
    prune = report["prune"]

    assert prune["plan"]["counts"] == {"keep": 30, "remove": 45} and prune["plan"]["shown"] == SHOWN
    assert [item["id"] for item in prune["plan"]["remove"]] == [p.id for p in REMOVE][:SHOWN]
    assert len(prune["plan"]["keep"]) == SHOWN
    assert all(item["reasons"] == ["last"] for item in prune["plan"]["keep"])
    assert prune["counts"] == {"deleted": 45, "failed": 0, "skipped": 0}
    assert prune["deleted"] == [p.id for p in REMOVE][:SHOWN]
    assert report["summary"]["pruned"] == 45 and report["phase"] == "Completed"
