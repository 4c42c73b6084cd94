"""protect_vm: one VM's consistency group at one slot, in both regions.

Take every disk's point in parallel (unless the cycle already did), wait with durable
timers until each is usable or failed (or the group deadline passes), then copy the usable
ones to the secondary region. Policies with VM restore points (``vm-crash`` / ``vm-app``)
take one restore point instead (``orchestrations/restore_points.py``).
Each disk's result carries Azure's error code when it failed; the others still report.
Never raises: an unexpected failure becomes the VM's error, with what is known of its disks.
"""

from dataclasses import replace
from datetime import timedelta

import azure.durable_functions as df

from activities.points import point_states
from diskdr.azure.compute import snapshot_resource_id
from diskdr.backup import (
    DiskOutcome,
    Failure,
    ProtectJob,
    VmOutcome,
    copy_job,
    group_state,
    point_jobs,
    progress,
    with_replica,
)
from diskdr.model import RecoveryPoint
from diskdr.restore_points import uses_restore_points
from orchestrations.correlation import correlated
from orchestrations.replicate_point import replicate_point
from orchestrations.restore_points import protect_with_restore_point
from orchestrations.taking import take_points
from orchestrations.waiting import SETTLED, wait_until_settled

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
@correlated
def protect_vm(context: df.DurableOrchestrationContext):
    job = ProtectJob.from_dict(context.get_input())
    if uses_restore_points(job.policy):
        return (yield from protect_with_restore_point(context, job))
    return (yield from protect_with_snapshots(context, job))


def protect_with_snapshots(context, job: ProtectJob):
    """One incremental snapshot per disk (``consistency: disk``)."""
    _, jobs = point_jobs(job.vm, job.slot, job.policy.name, job.install_id)
    result = VmOutcome.start(job)
    outcomes = list(result.disks)
    deadline = context.current_utc_datetime + timedelta(seconds=job.options.group_deadline_seconds)
    try:
        if job.taken is not None:
            outcomes = list(job.taken)
        else:
            context.set_custom_status(progress("snapshotting", outcomes))
            outcomes = yield from take_points(context, jobs, deadline)
        unsettled = [o.point.id for o in outcomes if o.point and o.point.state not in SETTLED]
        if unsettled:
            context.set_custom_status(progress("waiting", outcomes))
            latest = yield from wait_until_settled(context, unsettled, deadline)
            outcomes = [settle(o, latest) for o in outcomes]

        if job.policy.replicates:
            context.set_custom_status(progress("replicating", outcomes))
            usable = [o for o in outcomes if o.usable and o.point is not None]
            copies = yield context.task_all(
                [
                    context.call_sub_orchestrator(
                        replicate_point,
                        {
                            "copy": copy_job(o.point, job.policy, job.install_id).to_dict(),
                            "maxCopies": job.options.max_copies,
                            "deadlineSeconds": job.options.copy_deadline_seconds,
                        },
                        instance_id=f"{context.instance_id}:copy:{n}",
                        expected_type=dict,
                    )
                    for n, o in enumerate(usable)
                    if o.point is not None
                ]
            )
            replicated = {  # the SDK resolves an empty task_all to None, not []
                o.disk_id: with_replica(o, c) for o, c in zip(usable, copies or [], strict=True)
            }
            outcomes = [replicated.get(o.disk_id, o) for o in outcomes]
        result = replace(result, disks=tuple(outcomes), state=group_state(outcomes))
    except Exception as error:
        recovered = yield from recover(context, jobs, outcomes)
        result = replace(
            result,
            disks=tuple(recovered),
            state=group_state(recovered),
            error=Failure.from_error(error),
        )
    context.set_custom_status(progress("done", list(result.disks)))
    return result.to_dict()


def settle(outcome: DiskOutcome, latest: dict[str, RecoveryPoint | None]) -> DiskOutcome:
    """The outcome with its point's latest state; a point still unsettled missed the deadline."""
    if outcome.point is None:
        return outcome
    point = latest.get(outcome.point.id, outcome.point)
    if point is None:
        failure = Failure("the point vanished while waiting for it", code="NotFound")
        return replace(outcome, point=None, error=failure)
    error = outcome.error
    if point.state == "failed":
        error = Failure("the point failed while completing", code=point.error_code)
    elif point.state not in SETTLED:
        error = Failure(
            f"the point was still {point.state} at the group deadline", code="DeadlineExceeded"
        )
    # ``replace`` keeps the take's audit trail (its writes) with the settled point.
    return replace(outcome, point=point, error=error)


def recover(context, jobs, outcomes):
    """After an unexpected failure: the state of every point this run may have made."""
    names = {
        snapshot_resource_id(j.disk.subscription_id, j.resource_group, j.name): n
        for n, j in enumerate(jobs)
    }
    try:
        states = yield context.call_activity(point_states, list(names))
    except Exception:
        return outcomes
    recovered = list(outcomes)
    for point_id, n in names.items():
        state = states.get(point_id)
        if state is not None and recovered[n].point is None:
            recovered[n] = DiskOutcome(
                recovered[n].disk_id,
                recovered[n].disk_name,
                recovered[n].lun,
                RecoveryPoint.from_dict(state),
            )
    return recovered
