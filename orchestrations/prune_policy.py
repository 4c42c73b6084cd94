"""prune_policy: apply a policy's retention to its points in every region.

The decision is one activity (list + pure retention, at the orchestration's clock); the
deletes fan out in small batches, one per *unit*: a snapshot, or a VM restore point with
all of its disk restore points (Azure deletes it whole). Right before each batch, the
primaries it would delete are checked again: a point a copy reads (a replica of it still
copying, or a copy gate lease held for its disk) or that is now the base of the next
incremental copy is skipped with its reason, and the next run decides again. A failed
delete is reported and the point stays listed, so the next run tries again. With
``dryRun`` nothing is deleted.

The plan itself (every item with its reasons) is kept once, in the ``plan_prune``
activity's log; the activity answers a digest (counts, the first ``SHOWN`` items, and the
removed items' ids, units and disks to act on). The output carries the digest without the
act list, and counts plus the first ``SHOWN`` of ``deleted``, ``failed``, ``skipped`` and
``writes`` (the deletes' audit trail) (docs/retention.md, "Where the plan is kept").
"""

import azure.durable_functions as df

from activities.prune import delete_point, plan_prune, recheck_prune
from diskdr.naming import parse_resource_id
from diskdr.prune import SHOWN
from orchestrations.copy_gate import gate_entity
from orchestrations.correlation import correlated

bp = df.Blueprint()

DELETE_BATCH = 20


@bp.orchestration_trigger(context_name="context")
@correlated
def prune_policy(context: df.DurableOrchestrationContext):
    request = context.get_input()
    dry_run = bool(request.get("dryRun"))
    answer = yield context.call_activity(
        plan_prune,
        {
            "policy": request["policy"],
            "now": context.current_utc_datetime.isoformat(),
            "run": context.instance_id,
            "dryRun": dry_run,
        },
    )
    act = answer["act"]
    plan = {key: value for key, value in answer.items() if key != "act"}  # what reports show
    deleted: list[str] = []
    failed: list[dict] = []
    skipped: list[dict] = []
    writes: list[dict] = []  # the audit trail of the deletes sent
    if not dry_run:
        units: dict[str, list[dict]] = {}  # what to delete -> the plan's items it removes
        for item in act:
            units.setdefault(item.get("unit") or item["id"], []).append(item)
        remove = list(units)
        for start in range(0, len(remove), DELETE_BATCH):
            batch = remove[start : start + DELETE_BATCH]
            context.set_custom_status({"phase": "deleting", "done": start, "of": len(remove)})
            reasons = yield from copy_readers(context, plan, [units[u] for u in batch])
            to_delete = []
            for unit in batch:
                why = next((reasons[i["id"]] for i in units[unit] if i["id"] in reasons), None)
                if why is None:
                    to_delete.append(unit)
                else:
                    skipped.append({"id": unit, "reason": why})
            if not to_delete:
                continue
            results = yield context.task_all(
                [context.call_activity(delete_point, u) for u in to_delete]
            )
            for unit, result in zip(to_delete, results, strict=True):
                writes.extend(result.get("writes", []))
                ids = [item["id"] for item in units[unit]]
                if result.get("error"):
                    failed.append(result if ids == [unit] else {**result, "points": ids})
                else:
                    deleted.extend(ids)
    return {
        "dryRun": dry_run,
        "plan": plan,
        "counts": {"deleted": len(deleted), "failed": len(failed), "skipped": len(skipped)},
        "deleted": deleted[:SHOWN],
        "failed": failed[:SHOWN],
        "skipped": skipped[:SHOWN],
        "writes": writes[:SHOWN],
    }


def copy_readers(context, plan: dict, batch: list[list[dict]]):
    """Primary item ids of ``batch`` a copy may read now -> why (see the module docstring)."""
    primaries = [item for items in batch for item in items if item["role"] == "primary"]
    if not primaries:
        return {}
    reasons: dict[str, str] = {}
    # A lease is taken before the CopyStart is sent: the listing cannot see that copy yet.
    for region in plan.get("copyRegions") or []:
        for subscription in sorted({parse_resource_id(i["id"]).subscription_id for i in primaries}):
            table = yield context.call_entity(gate_entity(subscription, region), "get")
            leased = {lease["disk"] for lease in (table or {}).get("leases", {}).values()}
            for item in primaries:
                if f"{item['diskId']}#{item.get('diskUid', '')}".lower() in leased:
                    reasons.setdefault(item["id"], "copy-lease")
    found = yield context.call_activity(recheck_prune, [item["id"] for item in primaries])
    for point_id, reason in found.items():
        reasons.setdefault(point_id, reason)
    return reasons
