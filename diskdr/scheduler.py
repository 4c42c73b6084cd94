"""The scheduler tick's decision: which (policy, slot) cycles are due now.

Stateless and idempotent: every tick looks back over the catch-up window and asks for
each policy's due slots (``catchUp: latest`` → the newest only, ``all`` → every one,
oldest first); the trigger starts ``cycle-{policy}-{slot}`` only when no instance of that
id exists, at most ``MAX_STARTS_PER_POLICY_PER_TICK`` per policy, so a slot runs once
however many ticks see it, and slots missed while the app was down are caught up by the
next ticks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from diskdr.naming import format_slot
from diskdr.policy import Policy, PolicySet
from diskdr.schedule import slots_to_run

# At most this many cycles of one policy start per tick: a catch-up of many missed slots
# (``catchUp: all``) spreads over ticks instead of taking a burst of snapshots of every
# disk (Azure allows 7 per disk per 5 minutes; the default tick is every 5 minutes).
MAX_STARTS_PER_POLICY_PER_TICK = 3


def cycle_instance_id(policy: str, slot: datetime) -> str:
    return f"cycle-{policy}-{format_slot(slot)}"


def due_cycles(
    policies: PolicySet, now: datetime, window: timedelta
) -> list[tuple[Policy, datetime]]:
    """(policy, slot) pairs due in ``(now - window, now]``, oldest slot first."""
    due = [
        (policy, slot)
        for policy in policies.policies
        for slot in slots_to_run(policy, now - window, now)
    ]
    return sorted(due, key=lambda item: (item[1], item[0].name))
