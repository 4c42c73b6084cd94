"""drill: a DR drill of a policy — restore the newest complete replica group of each
sampled VM into the drill resource group, check its content, measure the RTO, then delete
everything it made, also when a step failed; the output is the drill report (DESIGN
"drill" shape). One ``drill_vm`` sub-orchestration per VM, all in parallel.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.restore import check_restored_content
from diskdr.restore import RestorePlan
from orchestrations.restore import clean_up, run_restore

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
def drill(context: df.DurableOrchestrationContext):
    job = context.get_input()
    plans = job.get("plans") or []
    context.set_custom_status({"phase": "drilling", "vms": len(plans)})
    reports = yield context.task_all(
        [
            context.call_sub_orchestrator(
                drill_vm, plan, instance_id=f"{context.instance_id}:vm:{n}"
            )
            for n, plan in enumerate(plans)
        ]
    )
    vms = list(reports or []) + list(job.get("refused") or [])
    failed = [vm for vm in vms if vm.get("error") or vm.get("contentCheck") == "failed"]
    phase = (
        "Completed" if not failed else ("PartiallyFailed" if len(failed) < len(vms) else "Failed")
    )
    if not vms:
        phase = "Skipped"
    context.set_custom_status({"phase": "done"})
    return {
        "policy": job["policy"],
        "region": job["region"],
        "resourceGroup": job["resourceGroup"],
        "trigger": job.get("trigger", "on-demand"),
        "startedAt": job["requestedAt"],
        "finishedAt": context.current_utc_datetime.isoformat(),
        "phase": phase,
        "vms": vms,
    }


@bp.orchestration_trigger(context_name="context")
def drill_vm(context: df.DurableOrchestrationContext):
    plan = RestorePlan.from_dict(context.get_input())
    report: dict[str, Any] = {
        "vmId": plan.vm_id,
        "slot": plan.slot.isoformat(),
        "pointAgeSeconds": plan.point_age_seconds,
        "pointIds": [d.point_id for d in plan.disks],
        "restoredDiskIds": [],
        "contentCheck": "skipped",
        "rtoSeconds": None,
        "cleanedUp": False,
    }
    restored = yield from run_restore(context, plan)
    report["restoredDiskIds"] = [
        d["restoredDiskId"] for d in restored["disks"] if d["state"] == "usable"
    ]
    report["rtoSeconds"] = restored["rtoSeconds"]
    failures = [d for d in restored["disks"] if d.get("error")]
    if restored.get("error") or failures:
        first = restored.get("error") or failures[0]["error"]
        report["error"] = {**first, "disks": [d["restoredDiskId"] for d in failures]}
    elif restored["phase"] == "Completed":
        check = yield context.call_activity(check_restored_content, plan.to_dict())
        report["contentCheck"] = check["result"]
        report["contentDetails"] = check["details"]
    context.set_custom_status({"phase": "cleanup"})
    cleaned, remaining = yield from clean_up(context, plan)
    report["cleanedUp"] = cleaned
    if remaining:
        report["leftBehind"] = remaining
    report["drilledAt"] = context.current_utc_datetime.isoformat()
    return report
