"""drill: a DR drill of a policy — restore the newest complete replica group of each
sampled VM into the drill resource group, check its content, measure the RTO, then delete
everything it made, also when a step failed; the output is the drill report (DESIGN
"drill" shape). One ``drill_vm`` sub-orchestration per VM, all in parallel.

With ``drill.verifyScript`` the VM is restored as a VM and the script runs on it through a
managed Run Command: started by one activity, watched with durable timers until its
``executionState`` ends; the content check passes only when it exits 0. Without
``drill.subnetId`` the drill first makes an isolated network for those VMs, and deletes it
after every VM's cleanup (``networks`` in the report).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.restore import begin_verify_script, check_restored_content, verify_script_state
from diskdr.naming import format_slot
from diskdr.restore import DrillNetwork, RestorePlan
from orchestrations.correlation import correlated
from orchestrations.restore import clean_up, make_networks, remove_networks, run_restore
from orchestrations.waiting import FIRST_DELAY, next_delay, sleep_until

bp = df.Blueprint()

# The script's own limit is the platform's 90 minutes (diskdr.restore_steps); a little more
# for the agent to pick it up and report.
VERIFY_DEADLINE = timedelta(minutes=100)
SCRIPT_ENDED = ("Succeeded", "Failed", "TimedOut", "Canceled", "Missing")


@bp.orchestration_trigger(context_name="context")
@correlated
def drill(context: df.DurableOrchestrationContext):
    job = context.get_input()
    plans = job.get("plans") or []
    networks = [DrillNetwork.from_dict(n) for n in job.get("networks") or []]
    context.set_custom_status({"phase": "network", "vms": len(plans)})
    yield from make_networks(context, networks)
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
    context.set_custom_status({"phase": "cleanup-network"})
    removed = yield from remove_networks(context, networks)
    if phase == "Completed" and not all(n["cleanedUp"] for n in removed):
        phase = "PartiallyFailed"  # the drill left its network behind
    context.set_custom_status({"phase": "done"})
    extra = {"networks": removed} if removed else {}
    return {
        **extra,
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
@correlated
def drill_vm(context: df.DurableOrchestrationContext):
    plan = RestorePlan.from_dict(context.get_input())
    report: dict[str, Any] = {
        "vmId": plan.vm_id,
        "slot": format_slot(plan.slot),
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
        if plan.verify_script:
            context.set_custom_status({"phase": "verify"})
            try:
                verified = yield from run_verify_script(context, plan)
            except Exception as error:  # a lost activity: still report, and clean up
                verified = {
                    "executionState": "Unknown",
                    "exitCode": None,
                    "error": {"code": "Unexpected", "message": f"{type(error).__name__}: {error}"},
                }
            report["verifyScript"] = verified
            if verified.get("exitCode") != 0:
                report["contentCheck"] = "failed"
    context.set_custom_status({"phase": "cleanup"})
    cleaned, remaining = yield from clean_up(context, plan)
    report["cleanedUp"] = cleaned
    if remaining:
        report["leftBehind"] = remaining
    report["drilledAt"] = context.current_utc_datetime.isoformat()
    return report


def run_verify_script(context: df.DurableOrchestrationContext, plan: RestorePlan):
    """Run ``plan.verify_script`` on the restored VM and wait for it to end; the outcome
    ``{"executionState", "exitCode", "output"?, "error"?}`` (``exitCode`` 0 only when it
    passed; None when it never ended or could not start)."""
    started = yield context.call_activity(begin_verify_script, plan.to_dict())
    if started.get("error"):
        return {"executionState": "NotStarted", "exitCode": None, "error": started["error"]}
    deadline = context.current_utc_datetime + VERIFY_DEADLINE
    delay = FIRST_DELAY
    state: dict[str, Any] = {"executionState": None, "exitCode": None}
    while True:
        state = yield context.call_activity(verify_script_state, plan.to_dict())
        if state.get("executionState") in SCRIPT_ENDED:
            break
        if context.current_utc_datetime >= deadline:
            return {**state, "exitCode": None, "error": {
                "code": "DeadlineExceeded",
                "message": f"the verify script was still {state.get('executionState')} "
                "at the drill's deadline",
            }}  # fmt: skip
        yield from sleep_until(context, delay, deadline)
        delay = next_delay(delay)
    if state["executionState"] != "Succeeded" and state.get("exitCode") == 0:
        state = {**state, "exitCode": None}  # a timeout or a cancel is no pass
    return state
