"""Schedules of the Functions timer trigger: NCRONTAB (6 fields) or a TimeSpan interval.

NCRONTAB parsing and evaluation are ``diskdr.schedule.Cron`` (the same evaluator the
policies use: ``{second} {minute} {hour} {day} {month} {day-of-week}``, names, ranges,
steps, lists; day-of-month and day-of-week both required, as in NCrontab). A .NET TimeSpan
(``hh:mm:ss`` or ``d.hh:mm:ss``) is a fixed interval instead, as on the host. devhost
evaluates timer schedules in UTC (``WEBSITE_TIME_ZONE`` is not read).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from diskdr.errors import ScheduleError
from diskdr.schedule import Cron

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


class Schedule:
    """A parsed timer schedule."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self.interval: timedelta | None = None
        self.cron: Cron | None = None
        span = _TIMESPAN.match(self.expression)
        if span is None:
            self.cron = Cron.parse(self.expression)
            return
        days, hours, minutes, seconds = (int(group or 0) for group in span.groups())
        self.interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if self.interval <= timedelta(0):
            raise ScheduleError(f"timer schedule {expression!r}: the interval must be > 0")

    def matches(self, moment: datetime) -> bool:
        if self.cron is None:
            return True
        return self.cron.matches(_naive_utc(moment))

    def next_after(self, after: datetime) -> datetime:
        """The first occurrence strictly after ``after`` (aware UTC)."""
        if self.interval is not None:
            return _aware(after) + self.interval
        assert self.cron is not None
        found = self.cron.next_local(_naive_utc(after))
        if found is None:
            raise ScheduleError(f"timer schedule {self.expression!r} never occurs")
        return found.replace(tzinfo=UTC)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _naive_utc(moment: datetime) -> datetime:
    return _aware(moment).astimezone(UTC).replace(tzinfo=None)
