"""Durable waiting: poll with durable timers, exponential backoff and a deadline.

Orchestrators call these with ``yield from``; time comes only from the context, so the
waits replay deterministically. Backoff starts at 15 s and doubles up to 5 minutes of
(world) time: Premium SSD v2 points and cross-region copies take minutes to hours.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from activities.points import point_states
from diskdr.model import RecoveryPoint

FIRST_DELAY = timedelta(seconds=15)
MAX_DELAY = timedelta(minutes=5)
SETTLED = ("usable", "failed")


def next_delay(delay: timedelta) -> timedelta:
    return min(delay * 2, MAX_DELAY)


def sleep_until(
    context: df.DurableOrchestrationContext, delay: timedelta, deadline: datetime
) -> Generator[Any, Any, None]:
    """A durable timer for ``delay``, cut short at ``deadline``."""
    fire_at = min(context.current_utc_datetime + delay, deadline)
    yield context.create_timer(fire_at)


def wait_until_settled(
    context: df.DurableOrchestrationContext, point_ids: list[str], deadline: datetime
) -> Generator[Any, Any, dict[str, RecoveryPoint | None]]:
    """Poll the points until each is usable, failed or gone, or the deadline passes.

    Returns the last state seen of every point read at least once (None: it no longer
    exists). A point whose read failed transiently is simply asked about again.
    """
    latest: dict[str, RecoveryPoint | None] = {}
    waiting = list(point_ids)
    delay = FIRST_DELAY
    while waiting:
        states = yield context.call_activity(point_states, waiting)
        for point_id, state in states.items():
            latest[point_id] = None if state is None else RecoveryPoint.from_dict(state)
        waiting = [point_id for point_id in waiting if not settled(latest, point_id)]
        if not waiting or context.current_utc_datetime >= deadline:
            break
        yield from sleep_until(context, delay, deadline)
        delay = next_delay(delay)
    return latest


def settled(latest: dict[str, RecoveryPoint | None], point_id: str) -> bool:
    """Known to be usable, failed or gone (a point not read yet is not settled)."""
    if point_id not in latest:
        return False
    point = latest[point_id]
    return point is None or point.state in SETTLED
