"""Durable waiting: poll with durable timers, exponential backoff and a deadline.

Orchestrators call these with ``yield from``; time comes only from the context, so the
waits replay deterministically. Backoff starts at 15 s and doubles up to 5 minutes of
(world) time: Premium SSD v2 points and cross-region copies take minutes to hours.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from activities.points import point_states
from diskdr.model import JsonModel, RecoveryPoint

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


# --- long waits in generations (continue_as_new) ------------------------------------------
@dataclass(frozen=True)
class Carried(JsonModel):
    """What a copy orchestration hands from one generation to the next.

    A copy can wait a day (for a slot, for a busy disk, for Azure to copy); one history
    holding every round would grow to ~1,700 events, replayed on every round. So each
    generation waits once and then continues as new with this record in its input
    (key ``carried``): the absolute deadline, the next backoff, the audit trail of writes
    sent so far, and the replica being watched (None until the copy started).
    """

    deadline: datetime
    delay_seconds: float = FIRST_DELAY.total_seconds()
    writes: tuple[Mapping[str, Any], ...] = ()
    replica: Mapping[str, Any] | None = None

    @property
    def delay(self) -> timedelta:
        return timedelta(seconds=self.delay_seconds)

    def backed_off(self) -> Carried:
        """The same wait with the next (doubled, capped) delay."""
        return replace(self, delay_seconds=next_delay(self.delay).total_seconds())


def carried_of(context: df.DurableOrchestrationContext, request: Mapping[str, Any]) -> Carried:
    """The carried record of this generation: the previous one's, or a fresh one whose
    deadline is ``deadlineSeconds`` from now (the first generation)."""
    if request.get("carried"):
        return Carried.from_dict(request["carried"])
    seconds = float(request["deadlineSeconds"])
    return Carried(deadline=context.current_utc_datetime + timedelta(seconds=seconds))


def continue_after(
    context: df.DurableOrchestrationContext,
    request: Mapping[str, Any],
    carried: Carried,
    fire_at: datetime | None = None,
) -> Generator[Any, Any, None]:
    """Wait, then end this generation: the next one starts from the top with ``carried``.

    Without ``fire_at`` the wait is the carried delay (cut at the deadline) and the next
    generation gets the doubled delay; with it, the wait ends then (never past the deadline)
    and the delay is kept. The caller returns None right after: the SDK sends no output
    for a generation that continues, and the parent gets the last generation's output.
    """
    if fire_at is None:
        yield from sleep_until(context, carried.delay, carried.deadline)
        carried = carried.backed_off()
    else:
        yield context.create_timer(min(fire_at, carried.deadline))
    context.continue_as_new({**request, "carried": carried.to_dict()})
