"""The copy gate entity: one per (subscription, target region), a lease table.

Every cross-region copy holds a lease while it runs, so copies in flight never exceed the
configured cap (at most Azure's 100) and one disk is never copied twice at once — across
scheduled, on-demand and overlapping runs, because entity operations are serialized.
The decisions are pure (``diskdr.copy_slots``); leases expire on the world clock so a
terminated run cannot hold a slot forever.
"""

import azure.durable_functions as df

from diskdr import copy_slots
from diskdr.clock import utc_now

bp = df.Blueprint()

ENTITY_NAME = "copy_gate"


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
