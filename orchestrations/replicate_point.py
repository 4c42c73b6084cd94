"""replicate_point: copy one primary point to the secondary region, within Azure's rules.

Take a lease from the copy gate (cap per region, one copy per disk), ask the disk's
``copy_order`` entity for its newest copy in the region, start or adopt the CopyStart copy
(skipping a point a newer copy already superseded, waiting while another copy of the disk
is in flight), record it as the disk's newest copy, poll the replica's
``completionPercent`` to 100 with durable timers (renewing the lease), release the lease.
Never raises: the outcome says what happened, with Azure's error code when there is one.
"""

from dataclasses import replace
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.points import point_states, start_copy
from diskdr.backup import CopyJob, Failure, NewestCopy
from diskdr.copy_slots import LeaseRequest
from diskdr.model import RecoveryPoint
from orchestrations.copy_gate import (
    LEASE_TTL,
    acquire,
    gate_entity,
    no_slot,
    order_entity,
    under_lease,
)
from orchestrations.correlation import correlated
from orchestrations.waiting import FIRST_DELAY, next_delay, sleep_until

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
@correlated
def replicate_point(context: df.DurableOrchestrationContext):
    request = context.get_input()
    job = CopyJob.from_dict(request["copy"])
    max_copies = int(request["maxCopies"])
    deadline = context.current_utc_datetime + timedelta(seconds=float(request["deadlineSeconds"]))
    gate = gate_entity(job.point.subscription_id, job.region)
    lease = LeaseRequest(
        holder=context.instance_id,
        disk=f"{job.point.disk_id}#{job.point.disk_uid}",
        limit=max_copies,
        ttl_seconds=LEASE_TTL.total_seconds(),
    ).to_dict()
    writes: list[dict[str, Any]] = []  # the audit trail of the CopyStarts sent
    result = yield from under_lease(
        context,
        gate,
        lease,
        deadline,
        lambda: copy_and_wait(context, job, gate, lease, deadline, writes),
    )
    return {**result, "writes": writes}


def outcome(
    replica: RecoveryPoint | None = None,
    error: Failure | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    return {
        "replica": replica.to_dict() if replica else None,
        "error": error.to_dict() if error else None,
        "note": note,
    }


def copy_and_wait(context, job: CopyJob, gate, lease, deadline, writes: list):
    order = order_entity(job.point.disk_id, job.point.disk_uid, job.region)
    delay = FIRST_DELAY
    while True:
        context.set_custom_status({"phase": "starting-copy"})
        newest = yield context.call_entity(order, "get")
        job = replace(job, newest_copy=NewestCopy.from_dict(newest) if newest else None)
        step = yield context.call_activity(start_copy, job.to_dict())
        writes.extend(step.get("writes", []))
        error = Failure.from_dict(step["error"]) if step.get("error") else None
        if error is not None and not error.transient:
            return outcome(error=error)
        if step["action"] == "superseded":
            return outcome(note=step.get("note"))
        if step["action"] != "busy" and error is None:
            break
        # Another copy of this disk (made outside this gate, e.g. by an older run whose
        # lease expired) is still in flight: Azure allows one at a time. Or Azure was
        # throttling / failing transiently: try again later.
        if context.current_utc_datetime >= deadline:
            return outcome(error=error or Failure(step.get("note") or "disk busy", code="CopyBusy"))
        yield from sleep_until(context, delay, deadline)
        delay = next_delay(delay)
        # Renew the lease; if it lapsed meanwhile and its slot went to another copy, queue
        # again: no copy ever starts without a lease.
        if not (yield from acquire(context, gate, lease, deadline)):
            return outcome(error=no_slot())
    replica = RecoveryPoint.from_dict(step["replica"])
    # Later copies of this disk must know this one exists (to wait for it, or to skip
    # points older than its source); recorded before anything else can take the lease.
    yield context.call_entity(order, "started", NewestCopy.of(replica, job.point).to_dict())
    while replica.state not in ("usable", "failed"):
        context.set_custom_status(
            {"phase": "copying", "completionPercent": replica.completion_percent}
        )
        if context.current_utc_datetime >= deadline:
            return outcome(
                replica=replica,
                error=Failure("the copy did not finish before the deadline", code="CopyTimeout"),
            )
        yield from sleep_until(context, delay, deadline)
        delay = next_delay(delay)
        renewed = yield context.call_entity(gate, "acquire", lease)
        if not renewed:
            # The copy is already running and cannot be paused; say so, and keep asking.
            context.set_custom_status({"phase": "copying", "lease": "lost"})
        states = yield context.call_activity(point_states, [replica.id])
        if replica.id not in states:  # the read failed transiently: ask again later
            continue
        if states[replica.id] is None:
            return outcome(error=Failure("the replica vanished while copying", code="NotFound"))
        replica = RecoveryPoint.from_dict(states[replica.id])
    if replica.state == "failed":
        return outcome(
            replica=replica,
            error=Failure("the cross-region copy failed", code=replica.error_code),
        )
    return outcome(replica=replica)
