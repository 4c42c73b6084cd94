"""Protecting VMs with VM restore points (policies with ``consistency: vm-crash | vm-app``).

``protect_vm`` delegates here for such policies: take the VM's restore point (every
protected disk at one instant), wait with durable timers until each disk restore point is
usable (or the group deadline passes), then copy the restore point to the secondary region
(``replicate_restore_point``). ``backup_cycle``'s take batches use :func:`take_restore_point_batch`.

Azure's limits (one create at a time per VM, 1 h / 3 h between points of a mode, three
creates per hour) are checked by the take activity before it asks Azure. A scheduled run
waits on a durable timer until the refusal's ``not_before`` (within the group deadline);
on-demand and VM-change runs do not wait: the VM is reported with the reason.
Generators only: no I/O, time only from the context.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from activities.restore_points import restore_point_state, take_restore_point
from diskdr.audit import AzureWrite
from diskdr.backup import (
    CycleJob,
    DiskOutcome,
    Failure,
    ProtectJob,
    VmOutcome,
    group_state,
    progress,
)
from diskdr.inventory import VmInfo
from diskdr.restore_points import (
    RestorePointJob,
    RestorePointTake,
    VmRestorePoint,
    disk_outcomes,
    restore_point_copy_job,
    restore_point_id_of,
    restore_point_job,
    with_copy,
    with_writes,
    writes_of,
)
from orchestrations.replicate_restore_point import limits_allow, replicate_restore_point
from orchestrations.taking import ACTIVITY_RETRY, TRANSIENT_ATTEMPTS, task_all_settled
from orchestrations.waiting import FIRST_DELAY, SETTLED, next_delay, sleep_until


def protect_with_restore_point(context, job: ProtectJob):
    """protect_vm for a restore point policy; returns the VM's outcome as JSON."""
    rp_job = restore_point_job(job.vm, job.slot, job.policy, job.install_id)
    result = VmOutcome.start(job)
    outcomes = list(result.disks)
    deadline = context.current_utc_datetime + timedelta(seconds=job.options.group_deadline_seconds)
    restore_point_id = None
    try:
        if job.taken is not None and not _in_flight(job.taken):
            outcomes = list(job.taken)
            restore_point_id = restore_point_id_of(outcomes)
        else:
            context.set_custom_status(progress("restore-point", outcomes))
            wait = job.trigger == "schedule"
            take = yield from take_with_limits(context, rp_job, deadline, wait)
            writes = writes_of(job.taken or ()) + take.writes  # the cycle's take, if any
            outcomes = disk_outcomes(job.vm, take.restore_point, take.error, writes=writes)
            restore_point_id = take.restore_point.id if take.restore_point else None
        if restore_point_id is not None and any(_unsettled(o) for o in outcomes):
            context.set_custom_status(progress("waiting", outcomes))
            known, latest = yield from wait_for_restore_point(context, restore_point_id, deadline)
            outcomes = (
                disk_outcomes(job.vm, latest, final=True, writes=writes_of(outcomes))
                if known
                else _late(outcomes)
            )

        sources = [o.point for o in outcomes if o.point is not None]
        if job.policy.replicates and sources and all(p.state == "usable" for p in sources):
            context.set_custom_status(progress("replicating", outcomes))
            copy_job = restore_point_copy_job(job.vm.id, sources, job.policy, job.install_id)
            copied = yield context.call_sub_orchestrator(
                replicate_restore_point,
                {
                    "copy": copy_job.to_dict(),
                    "maxCopies": job.options.max_copies,
                    "deadlineSeconds": job.options.copy_deadline_seconds,
                },
                instance_id=f"{context.instance_id}:copy:rp",
                expected_type=dict,
            )
            outcomes = with_copy(outcomes, copied)
        result = replace(result, disks=tuple(outcomes), state=group_state(outcomes))
    except Exception as error:
        recovered = yield from recover(context, job.vm, restore_point_id, outcomes)
        result = replace(
            result,
            disks=tuple(recovered),
            state=group_state(recovered),
            error=Failure.from_error(error),
        )
    context.set_custom_status(progress("done", list(result.disks)))
    return result.to_dict()


def take_with_limits(context, job: RestorePointJob, deadline: datetime, wait: bool):
    """Take the restore point; while Azure's limits refuse it, wait (``wait``: a scheduled
    run) on a durable timer until it is allowed, within the deadline. Transient failures
    are asked for again with backoff, as for snapshots. The take returned carries the
    writes of every attempt (the audit trail)."""
    delay = FIRST_DELAY
    attempts = 0
    writes: tuple[AzureWrite, ...] = ()
    while True:
        raw = yield context.call_activity_with_retry(
            take_restore_point, ACTIVITY_RETRY, job.to_dict()
        )
        take = RestorePointTake.from_dict(raw)
        writes += take.writes
        take = replace(take, writes=writes)
        if take.not_before is not None:
            if not wait or take.not_before > deadline:
                return take
            context.set_custom_status(
                {"phase": "waiting-for-azure-limits", "until": str(take.not_before)}
            )
            yield context.create_timer(limits_allow(context, take.not_before))
            continue
        transient = take.error is not None and take.error.transient
        if not transient or attempts >= TRANSIENT_ATTEMPTS:
            return take
        if context.current_utc_datetime >= deadline:
            return take
        yield from sleep_until(context, delay, deadline)
        delay = next_delay(delay)
        attempts += 1


def wait_for_restore_point(context, restore_point_id: str, deadline: datetime):
    """Poll the restore point until it is usable, failed or gone, or the deadline passes.
    ``(known, restore point)``: known is False if no read ever succeeded."""
    delay = FIRST_DELAY
    known = False
    latest: VmRestorePoint | None = None
    while True:
        read = yield context.call_activity(restore_point_state, restore_point_id)
        if read["known"]:
            known = True
            found = read["restorePoint"]
            latest = VmRestorePoint.from_dict(found) if found else None
            if latest is None or latest.settled:
                break
        if context.current_utc_datetime >= deadline:
            break
        yield from sleep_until(context, delay, deadline)
        delay = next_delay(delay)
    return known, latest


def take_restore_point_batch(context, job: CycleJob, batch: Sequence[VmInfo]):
    """One batch of backup_cycle's take phase for a restore point policy: every VM's
    restore point at once. ``{vm id: outcomes}``; a VM refused for now (Azure's limits,
    throttling) is absent, so its protect_vm asks again (and waits). A restore point still
    being made is in flight (no point, no error per disk, with the take's writes):
    protect_vm adopts it (its disk restore points are listed once made)."""
    jobs = [restore_point_job(vm, job.slot, job.policy, job.install_id) for vm in batch]
    # Settled: the batch ends only when no retrying sibling still runs (see settle_all).
    results = yield from task_all_settled(
        context,
        [
            context.call_activity_with_retry(take_restore_point, ACTIVITY_RETRY, rp_job.to_dict())
            for rp_job in jobs
        ],
    )
    taken: dict[str, list[DiskOutcome]] = {}
    for vm, raw in zip(batch, results, strict=True):
        take = RestorePointTake.from_dict(raw)
        point = take.restore_point
        if take.retry_later:
            continue
        if point is not None and point.state == "creating":
            taken[vm.id] = with_writes(
                [DiskOutcome(d.id, d.name, d.lun) for d in vm.disks], take.writes
            )
            continue
        taken[vm.id] = disk_outcomes(vm, point, take.error, writes=take.writes)
    return taken


def recover(context, vm: VmInfo, restore_point_id: str | None, outcomes: list[DiskOutcome]):
    """After an unexpected failure: what became of the restore point this run made."""
    if restore_point_id is None:
        return outcomes
    try:
        read = yield context.call_activity(restore_point_state, restore_point_id)
    except Exception:
        return outcomes
    if not read["known"] or read["restorePoint"] is None:
        return outcomes
    return disk_outcomes(
        vm, VmRestorePoint.from_dict(read["restorePoint"]), writes=writes_of(outcomes)
    )


def _in_flight(outcomes: Sequence[DiskOutcome]) -> bool:
    """The cycle's take of the restore point had not ended: no disk has a point or an error."""
    return all(o.point is None and o.error is None for o in outcomes)


def _unsettled(outcome: DiskOutcome) -> bool:
    if outcome.error is not None:
        return False
    return outcome.point is None or outcome.point.state not in SETTLED


def _late(outcomes: list[DiskOutcome]) -> list[DiskOutcome]:
    """The outcomes when the restore point could not be read until the deadline."""
    return [
        replace(o, error=Failure("its state was unknown at the group deadline", "DeadlineExceeded"))
        if _unsettled(o)
        else o
        for o in outcomes
    ]
