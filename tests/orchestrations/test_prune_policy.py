"""prune_policy stepped as a generator: the plan at the orchestration's clock, batched deletes."""

from __future__ import annotations

from datetime import datetime

from diskdr.prune import SHOWN
from orchestrations.prune_policy import DELETE_BATCH, prune_policy
from tests.orchestrations.conftest import orchestrator_function
from tests.orchestrations.estate import INSTALL, FakeAzure
from tests.orchestrations.fake_context import FakeContext, run
from tests.unit.points import point

PRUNE = orchestrator_function(prune_policy)
OLD = [point(hours=-4 * n, owner=INSTALL) for n in range(1, 46)]  # 45 points to remove


def prune(azure: FakeAzure, dry_run: bool = False) -> tuple[dict, FakeContext]:
    context = FakeContext({"policy": "gold", "dryRun": dry_run}, instance_id="cycle:prune")
    return run(PRUNE, context, azure.responders()), context


def test_the_plan_is_made_at_the_orchestration_clock_and_deletes_go_in_batches():
    azure = FakeAzure(prune_remove=OLD, prune_keep=[point(owner=INSTALL)])
    result, context = prune(azure)

    [plan_call] = context.calls("plan_prune")
    assert plan_call.input["policy"] == "gold"
    assert datetime.fromisoformat(plan_call.input["now"]) == context.started_at
    sizes = [len(t.children) for t in context.awaited if t.kind == "all"]
    assert DELETE_BATCH == 20 and sizes == [20, 20, 5]
    assert [s["done"] for s in context.statuses] == [0, 20, 40]
    assert {s["of"] for s in context.statuses} == {45}
    assert azure.deleted == [p.id for p in OLD]
    # The output counts everything and shows the first SHOWN of each list.
    assert result["counts"] == {"deleted": 45, "failed": 0, "skipped": 0}
    assert result["deleted"] == [p.id for p in OLD][:SHOWN] and result["failed"] == []
    assert result["dryRun"] is False
    assert [item["id"] for item in result["plan"]["keep"]] == [point(owner=INSTALL).id]
    assert result["plan"]["counts"] == {"keep": 1, "remove": 45}
    assert "act" not in result["plan"]


def test_a_dry_run_plans_and_deletes_nothing():
    result, context = prune(FakeAzure(prune_remove=OLD), dry_run=True)

    assert context.calls("delete_point") == []
    assert result["dryRun"] is True and result["deleted"] == []
    assert result["plan"]["counts"]["remove"] == 45 and len(result["plan"]["remove"]) == SHOWN
    [plan_call] = context.calls("plan_prune")
    assert plan_call.input["dryRun"] is True


def test_a_refused_delete_is_reported_and_keeps_its_point_listed():
    azure = FakeAzure(prune_remove=OLD[:3], delete_errors={OLD[1].id: "ScopeLocked"})
    result, _ = prune(azure)

    assert result["deleted"] == [OLD[0].id, OLD[2].id]
    [failure] = result["failed"]
    assert failure["id"] == OLD[1].id and failure["error"]["code"] == "ScopeLocked"
    assert OLD[1].id in [item["id"] for item in result["plan"]["remove"]]


def test_nothing_to_remove_schedules_no_delete():
    result, context = prune(FakeAzure())

    assert context.calls("delete_point") == [] and result["deleted"] == []


def test_a_point_a_copy_started_reading_after_the_plan_is_skipped_not_deleted():
    # Issue #8, hole 3: the plan said remove; by delete time a copy reads OLD[1].
    azure = FakeAzure(prune_remove=OLD[:3], copy_readers={OLD[1].id: "copy-reading"})
    result, context = prune(azure)

    [recheck] = context.calls("recheck_prune")
    assert recheck.input == [p.id for p in OLD[:3]]
    assert azure.deleted == [OLD[0].id, OLD[2].id]
    assert result["skipped"] == [{"id": OLD[1].id, "reason": "copy-reading"}]
    assert result["failed"] == []


def test_a_copy_lease_on_the_disk_holds_its_points_until_the_next_run():
    azure = FakeAzure(prune_remove=OLD[:2])
    plan_prune = azure.plan_prune
    azure_responders = azure.responders()
    azure_responders["plan_prune"] = lambda request: {
        **plan_prune(request),
        "copyRegions": ["westus2"],
    }
    lease = {"disk": f"{OLD[0].disk_id}#{OLD[0].disk_uid}", "expires": 1e12}
    gets = []
    azure_responders["copy_gate.get"] = lambda _: gets.append(1) or {"leases": {"copy-1": lease}}
    context = FakeContext({"policy": "gold"}, instance_id="cycle:prune")
    result = run(PRUNE, context, azure_responders)

    assert len(gets) == 1 and azure.deleted == []
    assert result["skipped"] == [
        {"id": OLD[0].id, "reason": "copy-lease"},
        {"id": OLD[1].id, "reason": "copy-lease"},
    ]
