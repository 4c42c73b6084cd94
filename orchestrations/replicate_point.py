"""replicate_point: copy one primary point to the secondary region, within Azure's rules.

Take a lease from the copy gate (cap per region, one copy per disk), ask the disk's
``copy_order`` entity for its newest copy in the region, start or adopt the CopyStart copy
(skipping a point a newer copy already superseded, waiting while another copy of the disk
is in flight), record it as the disk's newest copy, poll the replica's
``completionPercent`` to 100 with durable timers (renewing the lease), release the lease.
Never raises: the outcome says what happened, with Azure's error code when there is one.

A copy can take a day, so the instance never holds more than one wait in its history:
each wait (for a slot, a busy disk, the next read of the replica) ends its generation, and
the next one (``continue_as_new``) starts from the top with what ``Carried`` holds — the
deadline, the backoff, the writes sent, the replica in flight (docs/architecture.md,
"Copies in generations").
"""

from dataclasses import replace
from typing import Any

import azure.durable_functions as df

from activities.points import start_copy
from diskdr.backup import CopyJob, Failure, NewestCopy
from diskdr.copy_slots import LeaseRequest
from diskdr.model import RecoveryPoint
from diskdr.naming import parse_resource_id
from orchestrations.copy_gate import (
    LEASE_TTL,
    Lease,
    gate_entity,
    order_entity,
    read_progress,
    under_lease,
    watch_entity,
)
from orchestrations.correlation import correlated
from orchestrations.waiting import FIRST_DELAY, Carried, carried_of, continue_after, sleep_until

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
@correlated
def replicate_point(context: df.DurableOrchestrationContext):
    """Input ``{"copy": CopyJob, "maxCopies", "deadlineSeconds"}`` (+ ``carried`` in later
    generations); output the outcome with ``writes``, the CopyStarts sent."""
    request = context.get_input()
    job = CopyJob.from_dict(request["copy"])
    carried = carried_of(context, request)
    lease = Lease(
        gate_entity(job.point.subscription_id, job.region),
        LeaseRequest(
            holder=context.instance_id,
            disk=f"{job.point.disk_id}#{job.point.disk_uid}",
            limit=int(request["maxCopies"]),
            ttl_seconds=LEASE_TTL.total_seconds(),
        ).to_dict(),
    )
    if carried.replica is None:  # not started yet: take the lease, start the copy
        copy = lambda: start_and_watch(context, request, job, lease, carried)  # noqa: E731
        result = yield from under_lease(context, request, lease, carried, copy)
    else:  # a later generation of a copy in flight: the lease is ours
        replica = RecoveryPoint.from_dict(carried.replica)
        copy = lambda: watch(context, request, lease, carried, replica)  # noqa: E731
        result = yield from under_lease(context, request, lease, carried, copy, held=True)
    if result is None:  # continued as new
        return None
    return {"writes": list(carried.writes), **result}


def outcome(
    carried: Carried,
    replica: RecoveryPoint | None = None,
    error: Failure | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The copy's outcome, with the audit trail of the CopyStarts sent (``writes``)."""
    return {
        "replica": replica.to_dict() if replica else None,
        "error": error.to_dict() if error else None,
        "note": note,
        "writes": list(carried.writes),
    }


def start_and_watch(context, request, job: CopyJob, lease: Lease, carried: Carried):
    """Start (or adopt) the copy, holding the lease; then watch it."""
    order = order_entity(job.point.disk_id, job.point.disk_uid, job.region)
    context.set_custom_status({"phase": "starting-copy"})
    newest = yield context.call_entity(order, "get")
    job = replace(job, newest_copy=NewestCopy.from_dict(newest) if newest else None)
    step = yield context.call_activity(start_copy, job.to_dict())
    carried = replace(carried, writes=carried.writes + tuple(step.get("writes", [])))
    error = Failure.from_dict(step["error"]) if step.get("error") else None
    if error is not None and not error.transient:
        return outcome(carried, error=error)
    if step["action"] == "superseded":
        return outcome(carried, note=step.get("note"))
    if step["action"] == "busy" or error is not None:
        # Another copy of this disk (made outside this gate, e.g. by an older run whose
        # lease expired) is still in flight: Azure allows one at a time. Or Azure was
        # throttling / failing transiently: try again later, from the top (renewing the
        # lease: if it lapsed and its slot went to another copy, this copy queues again;
        # no copy ever starts without a lease).
        if context.current_utc_datetime >= carried.deadline:
            busy = Failure(step.get("note") or "disk busy", code="CopyBusy")
            return outcome(carried, error=error or busy)
        yield from continue_after(context, request, carried)
        return None
    replica = RecoveryPoint.from_dict(step["replica"])
    # Later copies of this disk must know this one exists (to wait for it, or to skip
    # points older than its source); recorded before anything else can take the lease.
    yield context.call_entity(order, "started", NewestCopy.of(replica, job.point).to_dict())
    carried = replace(carried, delay_seconds=FIRST_DELAY.total_seconds())
    return (yield from watch(context, request, lease, carried, replica))


def watch(context, request, lease: Lease, carried: Carried, replica: RecoveryPoint):
    """One round of the wait for the copy: its outcome once settled (or past the deadline),
    else None after continuing as new with the replica's latest state.

    The replica's progress comes from the region's ``copy_watch``: read since this copy's
    previous round, or read now for every copy into the region (``read_progress``)."""
    subscription = parse_resource_id(replica.id).subscription_id
    watcher = watch_entity(subscription, replica.region)
    if replica.state not in ("usable", "failed"):
        context.set_custom_status(
            {"phase": "copying", "completionPercent": replica.completion_percent}
        )
        if context.current_utc_datetime >= carried.deadline:
            context.signal_entity(watcher, "forget", replica.id)
            return outcome(
                carried,
                replica=replica,
                error=Failure("the copy did not finish before the deadline", code="CopyTimeout"),
            )
        yield from sleep_until(context, carried.delay, carried.deadline)
        if not (yield context.call_entity(lease.gate, "acquire", lease.request)):
            # The copy is already running and cannot be paused; say so, and keep asking.
            context.set_custom_status({"phase": "copying", "lease": "lost"})
        seen = yield from read_progress(context, watcher, replica.id)
        if seen["known"]:  # else not read yet (or transiently failed): ask again later
            if seen["progress"] is None:
                context.signal_entity(watcher, "forget", replica.id)
                vanished = Failure("the replica vanished while copying", code="NotFound")
                return outcome(carried, error=vanished)
            replica = with_progress(replica, seen["progress"])
        if replica.state not in ("usable", "failed"):
            carried = replace(carried.backed_off(), replica=replica.to_dict())
            context.continue_as_new({**request, "carried": carried.to_dict()})
            return None
        context.signal_entity(watcher, "forget", replica.id)
    if replica.state == "failed":
        return outcome(
            carried,
            replica=replica,
            error=Failure("the cross-region copy failed", code=replica.error_code),
        )
    return outcome(carried, replica=replica)


def with_progress(replica: RecoveryPoint, progress: dict[str, Any]) -> RecoveryPoint:
    """The replica as the watch last read it (``diskdr.copy_watch.progress_of``)."""
    return replace(
        replica,
        state=progress["state"],
        completion_percent=progress.get("completionPercent"),
        error_code=progress.get("errorCode"),
    )
