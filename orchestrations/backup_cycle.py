"""backup_cycle: one policy at one slot — inventory, protect every VM, prune, report.

Started by the scheduler tick as ``cycle-{policy}-{slot}`` (and by on-demand and VM-change
runs with their VMs resolved). Two phases, so that no VM's point waits behind another VM's
copies:

1. **take** — every VM's points, ``DISKDR_VM_BATCH_SIZE`` VMs at a time (the ARM writes
   are bounded; each batch ends as soon as its create calls do, seconds after the slot);
2. **complete** — a ``protect_vm`` sub-orchestration per VM waits for its group and copies
   it, at most ``DISKDR_MAX_VMS_IN_FLIGHT`` at once: that many ``protect_lane``
   sub-orchestrations run in parallel (one ``task_all``), each pulling the next VM from the
   cycle's ``vm_queue`` entity as soon as it finished one, so the window stays full while
   VMs remain (shares dealt in advance left fast lanes idle beside slow ones). Lanes hand
   each VM's answer to the queue; the cycle reads them all at the end, so a VM whose
   orchestration failed still reports, with the error. A lane continues as new every
   ``LANE_VMS_PER_EXECUTION`` VMs, so its history stays small however large the estate.

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
from orchestrations.restore_points import take_restore_point_batch
from orchestrations.taking import ACTIVITY_RETRY, settle_all, take_points
from orchestrations.vm_queue import loaded, queue_entity

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
    yield from take_all(context, job, vms, status)
    status = {**status, "phase": "completing"}
    outcomes = yield from complete_all(context, job, vms, status)

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
    """Phase 1: every VM's points, a batch of VMs at a time. Each batch is a ``take_batch``
    sub-orchestration that hands its points to the cycle's vm_queue itself, so they are
    stored once (not again in the cycle's history). A VM whose batch failed unexpectedly
    has no points there: its protect_vm takes them itself."""
    deadline = context.current_utc_datetime + timedelta(seconds=job.options.group_deadline_seconds)
    size = max(1, job.options.vm_batch_size)
    for number, start in enumerate(range(0, len(vms), size)):
        batch = vms[start : start + size]
        context.set_custom_status({**status, "vmsTaken": start})
        # A sub-orchestration per batch: the cycle's own history holds one call per batch,
        # not two events per disk (a 500-VM cycle would otherwise replay 3,000+ events).
        try:
            yield context.call_sub_orchestrator(
                take_batch,
                {
                    "job": replace(job, vms=tuple(batch)).to_dict(),
                    "deadline": deadline.isoformat(),
                    "queue": context.instance_id,
                },
                instance_id=f"{context.instance_id}:take:{number:03d}",
                expected_type=dict,
            )
        except Exception:  # its VMs' protect_vm take their points themselves
            continue


@bp.orchestration_trigger(context_name="context")
@correlated
def take_batch(context: df.DurableOrchestrationContext):
    """One batch of backup_cycle's take phase: every disk's point (or every VM's restore
    point) of its VMs at once, handed to the cycle's vm_queue.

    Input ``{"job": CycleJob with the batch as vms, "deadline": ISO, "queue": the cycle's
    instance id}``; output ``{"vms": how many VMs have points}``.
    """
    spec = context.get_input()
    job = CycleJob.from_dict(spec["job"])
    if uses_restore_points(job.policy):  # one VM restore point per VM instead
        taken = yield from take_restore_point_batch(context, job, job.vms or ())
    else:
        taken = yield from take_disk_points(context, job, datetime.fromisoformat(spec["deadline"]))
    points = {vm_id: [outcome.to_dict() for outcome in disks] for vm_id, disks in taken.items()}
    yield context.call_entity(queue_entity(spec["queue"]), "put", points)
    return {"vms": len(points)}


def take_disk_points(context, job: CycleJob, deadline: datetime):
    """Every disk's point of the batch's VMs at once: ``{vm id: [DiskOutcome]}``."""
    groups = [point_jobs(vm, job.slot, job.policy.name, job.install_id)[1] for vm in job.vms or ()]
    flat = [point_job for group in groups for point_job in group]
    outcomes = yield from take_points(context, flat, deadline)
    taken = {}
    for vm, group in zip(job.vms or (), groups, strict=True):
        taken[vm.id], outcomes = outcomes[: len(group)], outcomes[len(group) :]
    return taken


def complete_all(context, job: CycleJob, vms: list[VmInfo], status: dict):
    """Phase 2: protect_vm per VM (wait, copy), ``vms_in_flight`` lanes pulling VMs from
    the cycle's vm_queue. Every VM's outcome, in the order of ``vms``."""
    if not vms:
        return []
    queue = queue_entity(context.instance_id)
    # Without points: the queue joins those the take batches put there to their VMs.
    jobs = [protect_job(job, vm).to_dict() for vm in vms]
    yield context.call_entity(queue, "load", loaded(jobs))
    width = max(1, min(job.options.vms_in_flight, len(vms)))
    context.set_custom_status({**status, "lanes": width})
    lanes = [
        context.call_sub_orchestrator(
            protect_lane,
            {"cycle": context.instance_id},
            instance_id=f"{context.instance_id}:lane:{number:03d}",
            expected_type=dict,
        )
        for number in range(width)
    ]
    ended = yield from settle_all(context, lanes)
    answers = yield context.call_entity(queue, "results")
    lost = next((e for e in ended if isinstance(e, Exception)), None)
    return [vm_outcome(job, vm, answers.get(str(index)), lost) for index, vm in enumerate(vms)]


def protect_job(job: CycleJob, vm: VmInfo) -> ProtectJob:
    """protect_vm's input for ``vm`` in this cycle (the vm_queue adds its points)."""
    return ProtectJob(
        vm,
        job.slot,
        job.policy,
        job.install_id,
        job.options,
        None,  # the points phase 1 took for it: joined by the vm_queue
        trigger=job.trigger,
    )


def vm_outcome(
    job: CycleJob, vm: VmInfo, answer: dict | None, lane_error: Exception | None
) -> VmOutcome:
    """A VM's outcome from its lane's answer; a VM without one (its lane failed while it
    was protecting it) reports what was taken and why there is no more."""
    answer = answer or {}
    if "outcome" in answer:
        return VmOutcome.from_dict(answer["outcome"])
    if "error" in answer:
        error = Exception(answer["error"])
    elif lane_error is not None:
        error = Exception(f"no lane reported its outcome; a lane failed: {lane_error}")
    else:
        error = Exception("no lane reported its outcome")
    taken = [DiskOutcome.from_dict(disk) for disk in answer.get("taken") or ()]
    return failed_vm(job, vm, taken, error)


# A lane starts a new execution (continue_as_new) after this many VMs, so that its history
# stays small however many VMs each lane protects (5,000 VMs over 100 lanes: 50 each).
LANE_VMS_PER_EXECUTION = 10


@bp.orchestration_trigger(context_name="context")
@correlated
def protect_lane(context: df.DurableOrchestrationContext):
    """One lane of backup_cycle's complete phase: takes a VM from the cycle's vm_queue,
    runs its protect_vm, hands in its answer with the call that takes the next VM, until
    the queue is empty.

    Input ``{"cycle": cycle instance id, "answer": the answer not yet handed in (after a
    continue_as_new), "done": VMs protected so far}``; output ``{"vms": VMs protected}``.
    A VM whose protect_vm failed is answered with the error; the lane goes on.
    """
    spec = context.get_input()
    queue = queue_entity(spec["cycle"])
    answer, done = spec.get("answer"), spec.get("done", 0)
    for _ in range(LANE_VMS_PER_EXECUTION):
        handout = yield context.call_entity(queue, "next", answer)
        if handout is None:
            return {"vms": done}
        vm_id = ProtectJob.from_dict(handout["job"]).vm.id
        answer = {"index": handout["index"]}
        try:
            answer["outcome"] = yield context.call_sub_orchestrator(
                protect_vm,
                handout["job"],
                instance_id=f"{spec['cycle']}:vm:{vm_key(vm_id)}",
                expected_type=dict,
            )
        except Exception as error:  # this VM reports the failure; the lane goes on
            answer["error"] = str(error)
        done += 1
        context.set_custom_status({"vmsDone": done})
    context.continue_as_new({"cycle": spec["cycle"], "answer": answer, "done": done})
    return None


def failed_vm(job: CycleJob, vm: VmInfo, taken, error: Exception) -> VmOutcome:
    """The outcome of a VM whose protect_vm failed: what was taken, and the error."""
    started = VmOutcome.start(ProtectJob(vm, job.slot, job.policy, job.install_id, job.options))
    disks = tuple(taken) if taken else started.disks
    return replace(started, disks=disks, state=group_state(disks), error=Failure.from_error(error))
