"""The copy gate entity: one per (subscription, target region), a lease table.

Every cross-region copy holds a lease while it runs, so copies in flight never exceed the
configured cap (at most Azure's 100) and one disk is never copied twice at once — across
scheduled, on-demand and overlapping runs, because entity operations are serialized.
The decisions are pure (``diskdr.copy_slots``); leases expire on the world clock so a
terminated run cannot hold a slot forever.

Also here: ``copy_order`` (the newest copy of each disk in a region) and ``copy_watch``
(the copies' progress, read once per round for every copy into a region:
``diskdr.copy_watch``, :func:`read_progress`), and the helpers that hold a lease.
"""

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from activities.points import copy_progress
from diskdr import copy_slots, copy_watch
from diskdr.backup import Failure, NewestCopy
from diskdr.clock import utc_now
from orchestrations.waiting import Carried, continue_after

bp = df.Blueprint()

ENTITY_NAME = "copy_gate"

# A lease outlives the longest wait between two renewals (MAX_DELAY) many times over, so a
# busy host (or a fast world clock on the twin) does not let a live copy's lease lapse;
# it only frees the slot of a copy whose orchestration was terminated.
LEASE_TTL = timedelta(hours=2)


def gate_entity(subscription_id: str, region: str) -> df.EntityId:
    return df.EntityId(ENTITY_NAME, copy_slots.gate_key(subscription_id, region))


@bp.entity_trigger(context_name="context", entity_name=ENTITY_NAME)
def copy_gate(context: df.DurableEntityContext) -> None:
    table = context.get_state(copy_slots.empty_table)
    now = utc_now().timestamp()
    operation = context.operation_name
    if operation == "acquire":
        request = copy_slots.LeaseRequest.from_dict(context.get_input())
        table, granted = copy_slots.acquire(table, request, now)
        context.set_result(granted)
    elif operation == "release":
        table = copy_slots.release(table, str(context.get_input()), now)
        context.set_result(True)
    elif operation == "get":
        table = copy_slots.expire(table, now)
        context.set_result(table)
    else:
        raise ValueError(f"copy_gate: unknown operation {operation!r}")
    context.set_state(table)


ORDER_ENTITY_NAME = "copy_order"


def order_entity(point_disk_id: str, point_disk_uid: str, region: str) -> df.EntityId:
    """The entity remembering the newest copy of one disk family started in a region."""
    family = hashlib.sha256(f"{point_disk_id}#{point_disk_uid}".lower().encode()).hexdigest()
    return df.EntityId(ORDER_ENTITY_NAME, f"{region.lower()}|{family[:32]}")


@bp.entity_trigger(context_name="context", entity_name=ORDER_ENTITY_NAME)
def copy_order(context: df.DurableEntityContext) -> None:
    """State: the newest copy (``NewestCopy`` JSON) of one disk in one region, or None.

    ``started`` keeps the newer of the current and the given copy; ``get`` reads it. Only
    copies made under the copy gate's lease for the disk report here, one at a time.
    """
    current = context.get_state(lambda: None)
    operation = context.operation_name
    if operation == "started":
        given = NewestCopy.from_dict(context.get_input())
        if current is None or given.is_newer_than(NewestCopy.from_dict(current)):
            current = given.to_dict()
        context.set_result(current)
    elif operation == "get":
        context.set_result(current)
    else:
        raise ValueError(f"copy_order: unknown operation {operation!r}")
    context.set_state(current)


WATCH_ENTITY_NAME = "copy_watch"


def watch_entity(subscription_id: str, region: str) -> df.EntityId:
    """The entity sharing copy-progress reads of one subscription and target region."""
    return df.EntityId(WATCH_ENTITY_NAME, copy_slots.gate_key(subscription_id, region))


@bp.entity_trigger(context_name="context", entity_name=WATCH_ENTITY_NAME)
def copy_watch_entity(context: df.DurableEntityContext) -> None:
    """State: the last states read of the replicas copying into one region
    (``diskdr.copy_watch``). ``look`` (``{"id", "holder"}``) answers a state or asks the
    caller to read for everybody; ``report`` (``{"holder", "states", "since"}``) records
    what it read; ``forget`` (a replica id) ends a copy's watch."""
    table = context.get_state(copy_watch.empty_table)
    now = utc_now().timestamp()
    operation = context.operation_name
    given = context.get_input()
    if operation == "look":
        table, answer = copy_watch.look(table, given["id"], given["holder"], now)
        context.set_result(answer)
    elif operation == "report":
        since = float(given["since"])
        table = copy_watch.report(table, given["holder"], given["states"], since)
        context.set_result(True)
    elif operation == "forget":
        table = copy_watch.forget(table, str(given))
        context.set_result(True)
    else:
        raise ValueError(f"copy_watch: unknown operation {operation!r}")
    context.set_state(table)


def read_progress(context, watch: df.EntityId, replica_id: str):
    """The progress of ``replica_id`` (``{"known", "progress"}``, see ``diskdr.copy_watch``):
    from the watch when read since this copy's previous look, else read now — for every
    copy the watch holds, one listing per resource group — and reported for the others."""
    answer = yield context.call_entity(
        watch, "look", {"id": replica_id, "holder": context.instance_id}
    )
    if answer["read"] is None:
        return answer
    seen = yield context.call_activity(copy_progress, answer["read"])
    context.signal_entity(
        watch,
        "report",
        {"holder": context.instance_id, "states": seen, "since": answer["since"]},
    )
    mine = [point_id for point_id in seen if point_id.lower() == replica_id.lower()]
    return {"known": bool(mine), "progress": seen[mine[0]] if mine else None}


# --- holding a lease, for the copy orchestrations ----------------------------------------
def no_slot() -> Failure:
    return Failure("no copy slot became free before the deadline", code="CopySlotTimeout")


@dataclass(frozen=True)
class Lease:
    """One copy's lease at its region's gate: the entity and the lease request."""

    gate: df.EntityId
    request: dict[str, Any]


def under_lease(context, request, lease: Lease, carried: Carried, copy, held: bool = False):
    """Run the generator ``copy()`` holding ``lease``; its outcome (a dict with ``replica``,
    ``error``, ``note``), or None when this generation continued as new. Never raises.

    Unless ``held`` (a later generation of a copy already running), the lease is asked for
    first; refused, the generation waits (backoff) and continues as new, asking again,
    until the deadline passes (``CopySlotTimeout``). The lease is released on every exit,
    except after ``CopyTimeout``: Azure is still copying, so the slot stays taken until the
    lease lapses (``LEASE_TTL``) rather than let another copy push the region past its
    cap. An unexpected failure releases it by signal.
    """
    try:
        if not held:
            context.set_custom_status({"phase": "waiting-for-copy-slot"})
            if not (yield context.call_entity(lease.gate, "acquire", lease.request)):
                if context.current_utc_datetime >= carried.deadline:
                    return {"replica": None, "error": no_slot().to_dict(), "note": None}
                yield from continue_after(context, request, carried)
                return None
        result = yield from copy()
        if result is not None and (result.get("error") or {}).get("code") != "CopyTimeout":
            yield context.call_entity(lease.gate, "release", context.instance_id)
        return result
    except Exception as error:
        context.signal_entity(lease.gate, "release", context.instance_id)
        return {"replica": None, "error": Failure.from_error(error).to_dict(), "note": None}
