"""backup_cycle: one policy at one slot — inventory, protect every VM, prune, report.

Started by the scheduler tick as ``cycle-{policy}-{slot}`` (and by on-demand and VM-change
runs with their VMs resolved). Two phases, so that no VM's point waits behind another VM's
copies:

1. **take** — every VM's points, ``DISKDR_VM_BATCH_SIZE`` VMs at a time (the ARM writes
   are bounded; each batch ends as soon as its create calls do, seconds after the slot);
2. **complete** — a ``protect_vm`` sub-orchestration per VM waits for its group and copies
   it, at most ``DISKDR_MAX_VMS_IN_FLIGHT`` at once (a sliding window: a VM starts when any
   other ends). A VM whose orchestration fails still reports, with the error.

Then the policy is pruned, and the run report is the orchestration's output.
"""

import hashlib
import logging
from dataclasses import replace
from datetime import timedelta

import azure.durable_functions as df

from activities.inventory import list_protected_vms
from diskdr.backup import (
    CycleJob,
    DiskOutcome,
    Failure,
    ProtectJob,
    VmOutcome,
    group_state,
    point_jobs,
)
from diskdr.inventory import VmInfo
from diskdr.report import run_event, run_report
from diskdr.restore_points import uses_restore_points
from orchestrations.protect_vm import protect_vm
from orchestrations.prune_policy import prune_policy
from orchestrations.restore_points import take_restore_points
from orchestrations.taking import ACTIVITY_RETRY, take_points

bp = df.Blueprint()
log = logging.getLogger(__name__)


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
        report = run_report(job, [], None, started, started, error=job.policy.unsupported)
        return finished(context, job, report)
    context.set_custom_status(status)
    if job.vms is None:
        try:
            listed = yield context.call_activity_with_retry(
                list_protected_vms, ACTIVITY_RETRY, job.policy.name
            )
        except Exception as error:  # nothing can be protected; say why, in the report
            now = context.current_utc_datetime
            report = run_report(job, [], None, started, now, error=f"inventory failed: {error}")
            return finished(context, job, report)
        vms = [VmInfo.from_dict(vm) for vm in listed]
    else:
        vms = list(job.vms)

    status = {**status, "phase": "taking", "vms": len(vms)}
    taken = yield from take_all(context, job, vms, status)
    status = {**status, "phase": "completing"}
    outcomes = yield from complete_all(context, job, vms, taken, status)

    prune = None
    if job.options.prune:
        context.set_custom_status({**status, "phase": "pruning", "vmsDone": len(outcomes)})
        try:
            prune = yield context.call_sub_orchestrator(
                prune_policy,
                {"policy": job.policy.name, "dryRun": job.options.prune_dry_run},
                instance_id=f"{context.instance_id}:prune",
                # Our results are JSON objects; without this the SDK expects the str its
                # orchestrator wrapper is annotated with, and warns on every result.
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
    return finished(context, job, report)


def finished(context: df.DurableOrchestrationContext, job: CycleJob, report: dict) -> dict:
    """The run's report, logged once (not on replays) as the line the alert rules of
    infra/app/alerts.bicep query."""
    if not context.is_replaying:
        level = logging.INFO if report["phase"] == "Completed" else logging.WARNING
        log.log(level, "%s", run_event(report, job.policy.rpo_seconds))
    return report


def take_all(context, job: CycleJob, vms: list[VmInfo], status: dict):
    """Phase 1: every VM's points, a batch of VMs at a time. ``{vm id: outcomes}``; a VM
    whose batch failed unexpectedly is absent (its protect_vm takes its points itself)."""
    if uses_restore_points(job.policy):  # one VM restore point per VM instead
        return (yield from take_restore_points(context, job, vms, status))
    deadline = context.current_utc_datetime + timedelta(seconds=job.options.group_deadline_seconds)
    taken: dict[str, list[DiskOutcome]] = {}
    size = max(1, job.options.vm_batch_size)
    for start in range(0, len(vms), size):
        batch = vms[start : start + size]
        context.set_custom_status({**status, "vmsTaken": start})
        groups = [point_jobs(vm, job.slot, job.policy.name, job.install_id)[1] for vm in batch]
        flat = [point_job for group in groups for point_job in group]
        try:
            outcomes = yield from take_points(context, flat, deadline)
        except Exception:
            continue
        for vm, group in zip(batch, groups, strict=True):
            taken[vm.id], outcomes = outcomes[: len(group)], outcomes[len(group) :]
    return taken


def complete_all(context, job: CycleJob, vms: list[VmInfo], taken: dict, status: dict):
    """Phase 2: protect_vm per VM (wait, copy), at most ``vms_in_flight`` at once."""
    queue = list(vms)
    running: list[tuple] = []  # (task, vm)
    results: dict[str, VmOutcome] = {}
    width = max(1, job.options.vms_in_flight)
    while queue or running:
        while queue and len(running) < width:
            vm = queue.pop(0)
            outcomes = taken.get(vm.id)
            protect = ProtectJob(
                vm,
                job.slot,
                job.policy,
                job.install_id,
                job.options,
                tuple(outcomes) if outcomes is not None else None,
                trigger=job.trigger,
            )
            task = context.call_sub_orchestrator(
                protect_vm,
                protect.to_dict(),
                instance_id=f"{context.instance_id}:vm:{vm_key(vm.id)}",
                expected_type=dict,
            )
            running.append((task, vm))
        context.set_custom_status({**status, "vmsDone": len(results), "vmsRunning": len(running)})
        finished = yield context.task_any([task for task, _ in running])
        entry = next(item for item in running if item[0] is finished)
        running.remove(entry)
        vm = entry[1]
        if isinstance(finished.result, Exception):
            results[vm.id] = failed_vm(job, vm, taken.get(vm.id), finished.result)
        else:
            results[vm.id] = VmOutcome.from_dict(finished.result)
    return [results[vm.id] for vm in vms]


def failed_vm(job: CycleJob, vm: VmInfo, taken, error: Exception) -> VmOutcome:
    """The outcome of a VM whose protect_vm failed: what was taken, and the error."""
    started = VmOutcome.start(ProtectJob(vm, job.slot, job.policy, job.install_id, job.options))
    disks = tuple(taken) if taken else started.disks
    return replace(started, disks=disks, state=group_state(disks), error=Failure.from_error(error))
