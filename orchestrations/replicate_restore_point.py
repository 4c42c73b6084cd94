"""replicate_restore_point: copy one VM restore point to the secondary region, within Azure's
rules — and the ``restore_point_copies`` entity that keeps a VM's copies in order.

As ``replicate_point`` does for a snapshot: take a lease from the copy gate, ask the VM's
``restore_point_copies`` entity for its newest copy in the region and its recent starts,
start or adopt the copy (skipping a point a newer copy superseded, waiting while another
copy of the VM is in flight or while Azure's three copies per hour are used up), record it,
poll every disk restore point's replication to 100 % with durable timers (renewing the
lease), release the lease. Never raises: the outcome says what happened, with Azure's
error code when there is one. Each wait ends a generation (``continue_as_new``), as in
``replicate_point``, so a day-long copy keeps a small history.

The lease: one per VM restore point copy, keyed by the VM's source collection, so a VM has
one copy in flight at a time and each copy takes one slot of the region's cap whatever its
number of disks (Learn documents the cap of 100 for snapshot copies only; sharing the gate
keeps diskdr's copies into a region bounded either way).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from activities.restore_points import restore_point_state, start_restore_point_copy
from diskdr.backup import Failure, NewestCopy
from diskdr.copy_slots import LeaseRequest
from diskdr.naming import parse_resource_id
from diskdr.restore_points import (
    RestorePointCopyJob,
    VmRestorePoint,
    copy_starts,
    copy_window,
    record_copy,
)
from orchestrations.copy_gate import LEASE_TTL, Lease, gate_entity, under_lease
from orchestrations.correlation import correlated
from orchestrations.waiting import FIRST_DELAY, Carried, carried_of, continue_after, sleep_until

bp = df.Blueprint()

COPIES_ENTITY_NAME = "restore_point_copies"
# The shortest wait after a refusal for one of Azure's limits (see limits_allow).
MIN_WAIT = timedelta(seconds=5)


def limits_allow(context, instant: datetime) -> datetime:
    """When to ask again after a refusal that named ``instant``: then, but never sooner than
    ``MIN_WAIT`` from now (the activity's clock and the orchestration's may disagree a
    little, and a refusal must not turn into a loop of immediate retries)."""
    return max(instant, context.current_utc_datetime + MIN_WAIT)


def copies_entity(source_collection_id: str, region: str) -> df.EntityId:
    """The entity remembering the copies of one VM's restore points into a region."""
    key = hashlib.sha256(source_collection_id.lower().encode()).hexdigest()[:32]
    return df.EntityId(COPIES_ENTITY_NAME, f"{region.lower()}|{key}")


@bp.entity_trigger(context_name="context", entity_name=COPIES_ENTITY_NAME)
def restore_point_copies(context: df.DurableEntityContext) -> None:
    """State: ``{"newest": NewestCopy, "starts": {replica id: ISO time}}`` or None.

    ``started`` (input ``{"copy": NewestCopy, "startedAt": ISO | None}``) records a copy
    started (or adopted: no start time); ``get`` reads the state. Only copies made under
    the copy gate's lease for the VM report here, one at a time.
    """
    state = context.get_state(lambda: None)
    operation = context.operation_name
    if operation == "started":
        given = context.get_input()
        started_at = given.get("startedAt")
        state = record_copy(
            state,
            NewestCopy.from_dict(given["copy"]),
            datetime.fromisoformat(started_at) if started_at else None,
        )
        context.set_result(state)
    elif operation == "get":
        context.set_result(state)
    else:
        raise ValueError(f"restore_point_copies: unknown operation {operation!r}")
    context.set_state(state)


@bp.orchestration_trigger(context_name="context")
@correlated
def replicate_restore_point(context: df.DurableOrchestrationContext):
    """Input ``{"copy": RestorePointCopyJob, "maxCopies", "deadlineSeconds"}`` (+ ``carried``
    in later generations); output the outcome."""
    request = context.get_input()
    job = RestorePointCopyJob.from_dict(request["copy"])
    carried = carried_of(context, request)
    subscription = parse_resource_id(job.source_collection_id).subscription_id
    lease = Lease(
        gate_entity(subscription, job.region),
        LeaseRequest(
            holder=context.instance_id,
            disk=f"restore-points|{job.source_collection_id.lower()}",
            limit=int(request["maxCopies"]),
            ttl_seconds=LEASE_TTL.total_seconds(),
        ).to_dict(),
    )
    if carried.replica is None:  # not started yet: take the lease, start the copy
        copy = lambda: start_and_watch(context, request, job, lease, carried)  # noqa: E731
        return (yield from under_lease(context, request, lease, carried, copy))
    replica = VmRestorePoint.from_dict(carried.replica)  # in flight: the lease is ours
    copy = lambda: watch(context, request, lease, carried, replica)  # noqa: E731
    return (yield from under_lease(context, request, lease, carried, copy, held=True))


def outcome(
    carried: Carried,
    replica: VmRestorePoint | None = None,
    error: Failure | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The copy's outcome, with the audit trail of the copy's writes (``writes``)."""
    return {
        "replica": replica.to_dict() if replica else None,
        "error": error.to_dict() if error else None,
        "note": note,
        "writes": list(carried.writes),
    }


def start_and_watch(context, request, job: RestorePointCopyJob, lease: Lease, carried: Carried):
    """Start (or adopt) the copy, holding the lease; then watch it. A wait (Azure's limits,
    a busy VM, a transient refusal) ends the generation: the next starts from the top."""
    copies = copies_entity(job.source_collection_id, job.region)
    context.set_custom_status({"phase": "starting-copy"})
    state = yield context.call_entity(copies, "get")
    not_before = copy_window(copy_starts(state), context.current_utc_datetime)
    error = None
    if not_before is None:
        newest = (state or {}).get("newest")
        job = replace(job, newest_copy=NewestCopy.from_dict(newest) if newest else None)
        step = yield context.call_activity(start_restore_point_copy, job.to_dict())
        carried = replace(carried, writes=carried.writes + tuple(step.get("writes", [])))
        error = Failure.from_dict(step["error"]) if step.get("error") else None
        if step.get("notBefore"):
            not_before = datetime.fromisoformat(step["notBefore"])
        elif error is not None and not error.transient:
            return outcome(carried, error=error)
        elif step["action"] == "superseded":
            return outcome(carried, note=step.get("note"))
        elif step["action"] != "busy" and error is None:
            return (yield from started(context, request, job, lease, carried, step))
    # Azure's copies per hour are used up, another copy of this VM is still crossing
    # regions (one at a time, in creation order), or Azure refused transiently.
    if context.current_utc_datetime >= carried.deadline or (
        not_before and not_before > carried.deadline
    ):
        return outcome(
            carried,
            error=error or Failure("the copy could not start before the deadline", "CopyBusy"),
        )
    fire_at = limits_allow(context, not_before) if not_before is not None else None
    yield from continue_after(context, request, carried, fire_at)
    return None


def started(context, request, job: RestorePointCopyJob, lease: Lease, carried: Carried, step):
    """Record the copy just started (or adopted) with the VM's copies entity; watch it."""
    copies = copies_entity(job.source_collection_id, job.region)
    replica = VmRestorePoint.from_dict(step["replica"])
    started_at = context.current_utc_datetime if step["action"] == "start" else None
    yield context.call_entity(
        copies,
        "started",
        {
            "copy": NewestCopy(replica.id, job.slot, job.created_at).to_dict(),
            "startedAt": started_at.isoformat() if started_at else None,
        },
    )
    carried = replace(carried, delay_seconds=FIRST_DELAY.total_seconds())
    return (yield from watch(context, request, lease, carried, replica))


def watch(context, request, lease: Lease, carried: Carried, replica: VmRestorePoint):
    """One round of the wait for every disk restore point's replication: the outcome once
    settled (or past the deadline), else None after continuing as new with the replica."""
    if replica.state not in ("usable", "failed"):
        percents = [p.completion_percent or 0.0 for p in replica.points]
        context.set_custom_status(
            {"phase": "copying", "completionPercent": min(percents, default=0.0)}
        )
        if context.current_utc_datetime >= carried.deadline:
            return outcome(
                carried,
                replica=replica,
                error=Failure("the copy did not finish before the deadline", code="CopyTimeout"),
            )
        yield from sleep_until(context, carried.delay, carried.deadline)
        if not (yield context.call_entity(lease.gate, "acquire", lease.request)):
            context.set_custom_status({"phase": "copying", "lease": "lost"})
        read = yield context.call_activity(restore_point_state, replica.id)
        if read["known"]:  # else the read failed transiently: ask again later
            if read["restorePoint"] is None:
                vanished = Failure("the replica vanished while copying", code="NotFound")
                return outcome(carried, error=vanished)
            replica = VmRestorePoint.from_dict(read["restorePoint"])
        if replica.state not in ("usable", "failed"):
            carried = replace(carried.backed_off(), replica=replica.to_dict())
            context.continue_as_new({**request, "carried": carried.to_dict()})
            return None
    if replica.state == "failed":
        return outcome(
            carried,
            replica=replica,
            error=Failure("the cross-region copy failed", code=replica.error_code),
        )
    return outcome(carried, replica=replica)
