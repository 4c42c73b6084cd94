"""backup_cycle: one policy at one slot — inventory, protect every VM, prune, report.

Started by the scheduler tick as ``cycle-{policy}-{slot}`` (and by on-demand requests with
their VMs resolved). VMs are protected as ``protect_vm`` sub-orchestrations in bounded
batches so a large estate never floods ARM; the report is the orchestration's output.
"""

import hashlib

import azure.durable_functions as df

from activities.inventory import list_protected_vms
from diskdr.backup import CycleJob, ProtectJob, VmOutcome
from diskdr.inventory import VmInfo
from diskdr.report import run_report
from orchestrations.protect_vm import protect_vm
from orchestrations.prune_policy import prune_policy

bp = df.Blueprint()


def vm_key(vm_id: str) -> str:
    """A short stable key of a VM for sub-orchestration instance ids."""
    return hashlib.sha256(vm_id.lower().encode()).hexdigest()[:12]


@bp.orchestration_trigger(context_name="context")
def backup_cycle(context: df.DurableOrchestrationContext):
    job = CycleJob.from_dict(context.get_input())
    started = context.current_utc_datetime
    status = {"phase": "inventory", "policy": job.policy.name, "trigger": job.trigger}
    if job.policy.unsupported:
        context.set_custom_status({**status, "phase": "done", "result": "Failed"})
        return run_report(job, [], None, started, started, error=job.policy.unsupported)
    context.set_custom_status(status)
    if job.vms is None:
        listed = yield context.call_activity(list_protected_vms, job.policy.name)
        vms = [VmInfo.from_dict(vm) for vm in listed]
    else:
        vms = list(job.vms)

    outcomes: list[VmOutcome] = []
    batch_size = max(1, job.options.vm_batch_size)
    for start in range(0, len(vms), batch_size):
        batch = vms[start : start + batch_size]
        status = {**status, "phase": "protecting", "vms": len(vms), "vmsDone": len(outcomes)}
        context.set_custom_status(status)
        results = yield context.task_all(
            [
                context.call_sub_orchestrator(
                    protect_vm,
                    ProtectJob(vm, job.slot, job.policy, job.install_id, job.options).to_dict(),
                    instance_id=f"{context.instance_id}:vm:{vm_key(vm.id)}",
                    # Our reports are JSON objects; without this the SDK expects the str
                    # its orchestrator wrapper is annotated with, and warns on every result.
                    expected_type=dict,
                )
                for vm in batch
            ]
        )
        outcomes.extend(VmOutcome.from_dict(result) for result in results)

    prune = None
    if job.options.prune:
        context.set_custom_status({**status, "phase": "pruning", "vmsDone": len(outcomes)})
        try:
            prune = yield context.call_sub_orchestrator(
                prune_policy,
                {"policy": job.policy.name, "dryRun": job.options.prune_dry_run},
                instance_id=f"{context.instance_id}:prune",
                expected_type=dict,
            )
        except Exception as error:  # points taken stay reported; pruning retries next run
            prune = {"dryRun": job.options.prune_dry_run, "failed": [{"error": str(error)}]}
    report = run_report(job, outcomes, prune, started, context.current_utc_datetime)
    context.set_custom_status(
        {
            **status,
            **report["summary"],
            "phase": "done",
            "vmsDone": len(outcomes),
            "result": report["phase"],
        }
    )
    return report
