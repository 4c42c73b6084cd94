"""prune_policy: apply a policy's retention to its points in every region.

The decision is one activity (list + pure retention, at the orchestration's clock); the
deletes fan out in small batches, one per *unit*: a snapshot, or a VM restore point with
all of its disk restore points (Azure deletes it whole). A failed delete is reported and
the point stays listed, so the next run tries again. With ``dryRun`` nothing is deleted.
"""

import azure.durable_functions as df

from activities.prune import delete_point, plan_prune

bp = df.Blueprint()

DELETE_BATCH = 20


@bp.orchestration_trigger(context_name="context")
def prune_policy(context: df.DurableOrchestrationContext):
    request = context.get_input()
    now = context.current_utc_datetime.isoformat()
    plan = yield context.call_activity(plan_prune, {"policy": request["policy"], "now": now})
    deleted: list[str] = []
    failed: list[dict] = []
    writes: list[dict] = []  # the audit trail of the deletes sent
    if not request.get("dryRun"):
        units: dict[str, list[str]] = {}  # what to delete -> the plan's items it removes
        for item in plan["remove"]:
            units.setdefault(item.get("unit") or item["id"], []).append(item["id"])
        remove = list(units)
        for start in range(0, len(remove), DELETE_BATCH):
            batch = remove[start : start + DELETE_BATCH]
            context.set_custom_status({"phase": "deleting", "done": start, "of": len(remove)})
            results = yield context.task_all(
                [context.call_activity(delete_point, i) for i in batch]
            )
            for unit, result in zip(batch, results, strict=True):
                writes.extend(result.get("writes", []))
                if result.get("error"):
                    failed.append(
                        result if units[unit] == [unit] else {**result, "points": units[unit]}
                    )
                else:
                    deleted.extend(units[unit])
    return {
        "dryRun": bool(request.get("dryRun")),
        "plan": plan,
        "deleted": deleted,
        "failed": failed,
        "writes": writes,
    }
