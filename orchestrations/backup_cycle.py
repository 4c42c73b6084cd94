"""backup_cycle: one policy at one slot — inventory, protect every VM, prune, report.

Started by the scheduler tick as ``cycle-{policy}-{slot}`` (and by on-demand and VM-change
runs with their VMs resolved). Two phases, so that no VM's point waits behind another VM's
copies:

1. **take** — every VM's points, ``DISKDR_VM_BATCH_SIZE`` VMs at a time (the ARM writes
   are bounded; each batch ends as soon as its create calls do, seconds after the slot);
2. **complete** — a ``protect_vm`` sub-orchestration per VM waits for its group and copies
   it, at most ``DISKDR_MAX_VMS_IN_FLIGHT`` at once: that many ``protect_lane``
   sub-orchestrations run in parallel (one ``task_all``), each protecting its share of the
   VMs one after the other. A VM whose orchestration fails still reports, with the error.

   Not a sliding window that re-yields ``task_any`` over the running VMs: the extension
   awaits each yielded action in order and the SDK's ``WhenAny`` carries only the newly
   scheduled child, so on Azure such a window runs one VM at a time after the first
   window (docs/devhost.md, "Replay as the extension does").

Then the policy is pruned, and the run report is the orchestration's output.
"""

import hashlib
import logging
from dataclasses import replace
from datetime import datetime, timedelta

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
from orchestrations.correlation import correlated
from orchestrations.protect_vm import protect_vm
from orchestrations.prune_policy import prune_policy
from orchestrations.restore_points import take_restore_points
from orchestrations.taking import ACTIVITY_RETRY, settle_all, take_points

bp = df.Blueprint()
log = logging.getLogger(__name__)


def vm_key(vm_id: str) -> str:
    """A short stable key of a VM for sub-orchestration instance ids."""
    return hashlib.sha256(vm_id.lower().encode()).hexdigest()[:12]


@bp.orchestration_trigger(context_name="context")
@correlated
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
    for number, start in enumerate(range(0, len(vms), size)):
        batch = vms[start : start + size]
        context.set_custom_status({**status, "vmsTaken": start})
        # A sub-orchestration per batch: the cycle's own history holds one call per batch,
        # not two events per disk (a 500-VM cycle would otherwise replay 3,000+ events).
        try:
            result = yield context.call_sub_orchestrator(
                take_batch,
                {"job": replace(job, vms=tuple(batch)).to_dict(), "deadline": deadline.isoformat()},
                instance_id=f"{context.instance_id}:take:{number:03d}",
                expected_type=dict,
            )
        except Exception:  # its VMs' protect_vm take their points themselves
            continue
        for vm_id, outcomes in result.items():
            taken[vm_id] = [DiskOutcome.from_dict(outcome) for outcome in outcomes]
    return taken


@bp.orchestration_trigger(context_name="context")
@correlated
def take_batch(context: df.DurableOrchestrationContext):
    """One batch of backup_cycle's take phase: every disk's point of its VMs at once.

    Input ``{"job": CycleJob with the batch as vms, "deadline": ISO}``; output
    ``{vm id: [DiskOutcome]}``.
    """
    spec = context.get_input()
    job = CycleJob.from_dict(spec["job"])
    deadline = datetime.fromisoformat(spec["deadline"])
    groups = [point_jobs(vm, job.slot, job.policy.name, job.install_id)[1] for vm in job.vms or ()]
    flat = [point_job for group in groups for point_job in group]
    outcomes = yield from take_points(context, flat, deadline)
    taken = {}
    for vm, group in zip(job.vms or (), groups, strict=True):
        taken[vm.id], outcomes = outcomes[: len(group)], outcomes[len(group) :]
    return {vm_id: [outcome.to_dict() for outcome in disks] for vm_id, disks in taken.items()}


def lanes_of(vms: list, width: int) -> list[list]:
    """``vms`` dealt round-robin into at most ``width`` lanes (none empty)."""
    count = max(1, min(width, len(vms)))
    return [vms[lane::count] for lane in range(count) if vms[lane::count]]


def complete_all(context, job: CycleJob, vms: list[VmInfo], taken: dict, status: dict):
    """Phase 2: protect_vm per VM (wait, copy), ``vms_in_flight`` lanes in parallel."""
    lanes = lanes_of(vms, job.options.vms_in_flight)
    context.set_custom_status({**status, "lanes": len(lanes)})
    tasks = []
    for number, lane in enumerate(lanes):
        jobs = []
        for vm in lane:
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
            jobs.append(protect.to_dict())
        tasks.append(
            context.call_sub_orchestrator(
                protect_lane,
                {"cycle": context.instance_id, "jobs": jobs},
                instance_id=f"{context.instance_id}:lane:{number:03d}",
                expected_type=list,
            )
        )
    answers = yield from settle_all(context, tasks)
    results: dict[str, VmOutcome] = {}
    for lane, answer in zip(lanes, answers, strict=True):
        by_vm = {} if isinstance(answer, Exception) else {a["vmId"]: a for a in answer}
        for vm in lane:
            found = by_vm.get(vm.id)
            if found is None or "error" in found:
                error = answer if isinstance(answer, Exception) else None
                if found is not None:
                    error = Exception(found["error"])
                error = error or Exception("its lane ended without an outcome")
                results[vm.id] = failed_vm(job, vm, taken.get(vm.id), error)
            else:
                results[vm.id] = VmOutcome.from_dict(found["outcome"])
    return [results[vm.id] for vm in vms]


@bp.orchestration_trigger(context_name="context")
@correlated
def protect_lane(context: df.DurableOrchestrationContext):
    """One lane of backup_cycle's complete phase: protect_vm for each of its VMs in turn.

    Input ``{"cycle": cycle instance id, "jobs": [ProtectJob]}``; output one
    ``{"vmId", "outcome"}`` or ``{"vmId", "error"}`` per VM, in order.
    """
    spec = context.get_input()
    answers = []
    for raw in spec["jobs"]:
        vm_id = ProtectJob.from_dict(raw).vm.id
        try:
            outcome = yield context.call_sub_orchestrator(
                protect_vm,
                raw,
                instance_id=f"{spec['cycle']}:vm:{vm_key(vm_id)}",
                expected_type=dict,
            )
            answers.append({"vmId": vm_id, "outcome": outcome})
        except Exception as error:  # this VM reports the failure; the lane goes on
            answers.append({"vmId": vm_id, "error": str(error)})
        context.set_custom_status({"vmsDone": len(answers), "vms": len(spec["jobs"])})
    return answers


def failed_vm(job: CycleJob, vm: VmInfo, taken, error: Exception) -> VmOutcome:
    """The outcome of a VM whose protect_vm failed: what was taken, and the error."""
    started = VmOutcome.start(ProtectJob(vm, job.slot, job.policy, job.install_id, job.options))
    disks = tuple(taken) if taken else started.disks
    return replace(started, disks=disks, state=group_state(disks), error=Failure.from_error(error))
