"""NCRONTAB schedules of the Functions timer trigger (6 fields, seconds first).

``{second} {minute} {hour} {day} {month} {day-of-week}``; each field takes ``*``, a
value, a range ``a-b``, a step ``*/n`` or ``a-b/n``, and comma lists; months and days take
English names (``Jan``, ``Mon``). As in NCrontab, a time matches when every field matches
(day-of-month and day-of-week are both required). A .NET TimeSpan (``hh:mm:ss``) is a
fixed interval instead. Times are evaluated in UTC (``WEBSITE_TIME_ZONE`` is not read).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from diskdr.errors import ScheduleError

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
_FIELDS = [  # (name, low, high, names, names start at)
    ("second", 0, 59, None, 0),
    ("minute", 0, 59, None, 0),
    ("hour", 0, 23, None, 0),
    ("day", 1, 31, None, 0),
    ("month", 1, 12, _MONTHS, 1),
    ("day-of-week", 0, 6, _DAYS, 0),
]
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


class Schedule:
    """A parsed timer schedule: NCRONTAB or a fixed TimeSpan interval."""

    def __init__(self, expression: str) -> None:
        self.expression = expression.strip()
        self.interval: timedelta | None = None
        span = _TIMESPAN.match(self.expression)
        if span:
            days, hours, minutes, seconds = (int(g or 0) for g in span.groups())
            self.interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            if self.interval <= timedelta(0):
                raise ScheduleError(f"timer schedule {expression!r}: interval must be > 0")
            return
        parts = self.expression.split()
        if len(parts) != 6:
            raise ScheduleError(
                f"timer schedule {expression!r}: expected 6 NCRONTAB fields "
                "(second minute hour day month day-of-week)"
            )
        self.sets = [
            _parse_field(part, *spec, expression) for part, spec in zip(parts, _FIELDS, strict=True)
        ]

    def matches(self, moment: datetime) -> bool:
        if self.interval is not None:
            return True
        second, minute, hour, day, month, weekday = self.sets
        return (
            moment.second in second
            and moment.minute in minute
            and moment.hour in hour
            and moment.day in day
            and moment.month in month
            and (moment.isoweekday() % 7) in weekday
        )

    def next_after(self, after: datetime) -> datetime:
        """The first occurrence strictly after ``after`` (UTC)."""
        if after.tzinfo is None:
            after = after.replace(tzinfo=UTC)
        if self.interval is not None:
            return after + self.interval
        seconds, minutes, hours, days, months, weekdays = self.sets
        moment = after.replace(microsecond=0) + timedelta(seconds=1)
        limit = after + timedelta(days=366 * 5)
        while moment <= limit:
            if moment.month not in months:
                moment = _first_of_next_month(moment)
                continue
            if moment.day not in days or (moment.isoweekday() % 7) not in weekdays:
                moment = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            if moment.hour not in hours:
                moment = (moment + timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if moment.minute not in minutes:
                moment = (moment + timedelta(minutes=1)).replace(second=0)
                continue
            later = [s for s in sorted(seconds) if s >= moment.second]
            if later:
                return moment.replace(second=later[0])
            moment = (moment + timedelta(minutes=1)).replace(second=0)
        raise ScheduleError(f"timer schedule {self.expression!r} never occurs")


def _first_of_next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0, second=0)


def _parse_field(
    text: str,
    name: str,
    low: int,
    high: int,
    names: list[str] | None,
    names_start: int,
    expression: str,
) -> set[int]:
    values: set[int] = set()

    def value_of(token: str) -> int:
        upper = token.upper()
        if names and upper[:3] in names and upper.isalpha():
            return names.index(upper[:3]) + names_start
        if not token.isdigit():
            raise ScheduleError(f"timer schedule {expression!r}: bad {name} value {token!r}")
        number = int(token)
        if name == "day-of-week" and number == 7:
            number = 0  # 7 is Sunday too
        if not low <= number <= high:
            raise ScheduleError(
                f"timer schedule {expression!r}: {name} {number} outside {low}-{high}"
            )
        return number

    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"timer schedule {expression!r}: bad step in {item!r}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = value_of(first), value_of(last)
            if end < start:
                raise ScheduleError(f"timer schedule {expression!r}: empty range {base!r}")
        else:
            start = value_of(base)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return values
