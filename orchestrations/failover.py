"""failover: restore every VM of a policy in the secondary region from its newest complete
replica group, in recovery order — VMs of one ``diskdr-recovery-order`` run in parallel,
each order waits for the one before. The output gives per VM the point, its age (the RPO
achieved), what was restored and the RTO, and the total RTO of the failover.
"""

from __future__ import annotations

from datetime import datetime

import azure.durable_functions as df

from diskdr.naming import format_slot
from diskdr.restore import RestorePlan, seconds_between, waves
from orchestrations.correlation import correlated
from orchestrations.restore import restore

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
@correlated
def failover(context: df.DurableOrchestrationContext):
    job = context.get_input()
    plans = [RestorePlan.from_dict(p) for p in job["plans"]]
    vms = []
    n = 0
    for wave in waves(plans):
        context.set_custom_status(
            {"phase": "restoring", "order": wave[0].order, "done": len(vms), "vms": len(plans)}
        )
        results = yield context.task_all(
            [
                context.call_sub_orchestrator(
                    restore, plan.to_dict(), instance_id=f"{context.instance_id}:vm:{n + i}"
                )
                for i, plan in enumerate(wave)
            ]
        )
        n += len(wave)
        for plan, result in zip(wave, results or [], strict=True):
            entry = {
                "vmId": plan.vm_id,
                "slot": format_slot(plan.slot),
                "pointAgeSeconds": plan.point_age_seconds,
                "order": plan.order,
                "pointIds": [d.point_id for d in plan.disks],
                "restoredDiskIds": [
                    d["restoredDiskId"] for d in result["disks"] if d["state"] == "usable"
                ],
                "restoredVmId": result.get("vmId"),
                "rtoSeconds": result["rtoSeconds"],
                "phase": result["phase"],
                "finishedAt": context.current_utc_datetime.isoformat(),
            }
            failures = [d for d in result["disks"] if d.get("error")]
            if result.get("error") or failures:
                entry["error"] = result.get("error") or failures[0]["error"]
            vms.append(entry)
    failed = [vm for vm in vms if vm["phase"] != "Completed"]
    requested = datetime.fromisoformat(job["requestedAt"])
    context.set_custom_status({"phase": "done"})
    return {
        "policy": job["policy"],
        "region": job["region"],
        "resourceGroup": job["resourceGroup"],
        "dryRun": False,
        "phase": "Completed"
        if not failed
        else ("PartiallyFailed" if len(failed) < len(vms) else "Failed"),
        "vms": vms,
        "rtoSeconds": seconds_between(requested, context.current_utc_datetime)
        if not failed
        else None,
    }
