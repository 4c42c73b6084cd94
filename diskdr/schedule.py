"""When a policy takes recovery points: NCRONTAB schedules evaluated in a time zone.

A schedule is a 6-field NCRONTAB expression (``second minute hour day month day-of-week``,
the format of Azure Functions timer triggers) read as *local wall-clock time* of an IANA
time zone. Its firings become *slots*: UTC instants at minute precision, the identity of
a backup cycle. Daylight-saving time is handled so that every local time fires at most
once:

- a local time skipped by spring-forward fires once, at the first valid instant after the
  gap (the transition itself, e.g. 03:00 local);
- a local time repeated by fall-back fires once, at its first occurrence.

The evaluator jumps field by field (month, day, hour, minute, second) instead of scanning
time, so two years of a 4-hourly schedule take milliseconds.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from diskdr.errors import ScheduleError

if TYPE_CHECKING:
    from diskdr.policy import Policy

_FIELD_NAMES = ("second", "minute", "hour", "day", "month", "day-of-week")
_FIELD_BOUNDS = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTH_NAMES = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_DAY_NAMES = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]

# How far ahead the evaluator looks for a next firing. Day-of-month and day-of-week are
# combined with AND (as NCRONTAB does), so "Feb 29 on a Monday" recurs only every 28 years;
# Cron.parse rejects expressions that can never fire at all.
_HORIZON_YEARS = 30

_ONE_SECOND = timedelta(seconds=1)
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Cron:
    """A parsed NCRONTAB expression: the allowed values of each field, sorted.

    ``weekdays`` uses 0 = Sunday … 6 = Saturday (7 is read as Sunday too).
    """

    expression: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """Parse ``expression``; raise ``ScheduleError`` saying what is wrong and where."""
        return _parse_cached(expression)

    def matches(self, local_dt: datetime) -> bool:
        """Whether the wall-clock time ``local_dt`` (its tzinfo is ignored) is a firing."""
        return (
            local_dt.second in self.seconds
            and local_dt.minute in self.minutes
            and local_dt.hour in self.hours
            and local_dt.day in self.days
            and local_dt.month in self.months
            and _cron_weekday(local_dt) in self.weekdays
        )

    def next_local(self, after: datetime) -> datetime | None:
        """The first wall-clock firing strictly after the naive ``after`` (None: beyond horizon)."""
        t = after.replace(microsecond=0, tzinfo=None) + _ONE_SECOND
        limit_year = t.year + _HORIZON_YEARS
        while t.year <= limit_year:
            if t.month not in self.months:
                month = _next_value(self.months, t.month)
                t = datetime(t.year, month, 1) if month else datetime(t.year + 1, self.months[0], 1)
                continue
            if t.day not in self.days or _cron_weekday(t) not in self.weekdays:
                t = datetime(t.year, t.month, t.day) + _ONE_DAY
                continue
            if t.hour not in self.hours:
                hour = _next_value(self.hours, t.hour)
                midnight = datetime(t.year, t.month, t.day)
                t = midnight.replace(hour=hour) if hour is not None else midnight + _ONE_DAY
                continue
            if t.minute not in self.minutes:
                minute = _next_value(self.minutes, t.minute)
                top = t.replace(minute=0, second=0)
                t = top.replace(minute=minute) if minute is not None else top + timedelta(hours=1)
                continue
            if t.second not in self.seconds:
                second = _next_value(self.seconds, t.second)
                top = t.replace(second=0)
                t = top.replace(second=second) if second is not None else top + timedelta(minutes=1)
                continue
            return t
        return None


def _cron_weekday(dt: datetime) -> int:
    return (dt.weekday() + 1) % 7  # Python: Monday = 0; NCRONTAB: Sunday = 0


def _next_value(values: tuple[int, ...], current: int) -> int | None:
    """The smallest allowed value > ``current``, or None when the field must wrap."""
    index = bisect.bisect_right(values, current)
    return values[index] if index < len(values) else None


@functools.lru_cache(maxsize=256)
def _parse_cached(expression: str) -> Cron:
    if not isinstance(expression, str):
        raise ScheduleError(f"expected an NCRONTAB expression (a string), got {expression!r}")
    parts = expression.split()
    if len(parts) != 6:
        raise ScheduleError(f"expected 6 NCRONTAB fields, got {len(parts)}")
    fields = [_parse_field(text, index, *_FIELD_BOUNDS[index]) for index, text in enumerate(parts)]
    weekdays = sorted({0 if day == 7 else day for day in fields[5]})
    cron = Cron(
        expression=expression,
        seconds=tuple(fields[0]),
        minutes=tuple(fields[1]),
        hours=tuple(fields[2]),
        days=tuple(fields[3]),
        months=tuple(fields[4]),
        weekdays=tuple(weekdays),
    )
    # A day that no chosen month has (e.g. "0 0 0 31 Feb,Apr *") never fires; say so now
    # rather than let a policy silently never take a point. February counts as 29 days.
    longest = {month: calendar.monthrange(2028, month)[1] for month in cron.months}
    if not any(day <= longest[month] for month in cron.months for day in cron.days):
        months = ",".join(_MONTH_NAMES[m - 1][:3].capitalize() for m in cron.months)
        raise ScheduleError(
            f"never fires: no day in {parts[3]!r} exists in month(s) {months}",
        )
    return cron


def _parse_field(text: str, index: int, low: int, high: int) -> list[int]:
    name = _FIELD_NAMES[index]
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{name} field {text!r}: empty list item")
        values.update(_parse_item(item, index, low, high))
    return sorted(values)


def _parse_item(item: str, index: int, low: int, high: int) -> range:
    name = _FIELD_NAMES[index]
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not step_text.isdigit() or int(step_text) == 0:
            raise ScheduleError(f"{name} field {item!r}: step must be a positive integer")
        step = int(step_text)
    if base == "*":
        first, last = low, high
        if index == 5:
            last = 6  # 7 is an alias of Sunday, not an eighth day
    elif "-" in base:
        first_text, _, last_text = base.partition("-")
        first = _parse_value(first_text, item, index, low, high)
        last = _parse_value(last_text, item, index, low, high)
        if first > last:
            raise ScheduleError(f"{name} field {item!r}: range start {first} is after end {last}")
    else:
        first = _parse_value(base, item, index, low, high)
        # "5/15" means "from 5 to the end, every 15" (as NCRONTAB reads it).
        last = (6 if index == 5 else high) if slash else first
    return range(first, last + 1, step)


def _parse_value(text: str, item: str, index: int, low: int, high: int) -> int:
    name = _FIELD_NAMES[index]
    if text.isdigit():
        value = int(text)
        if not low <= value <= high:
            raise ScheduleError(f"{name} field {item!r}: {value} is outside {low}-{high}")
        return value
    names = _MONTH_NAMES if index == 4 else _DAY_NAMES if index == 5 else None
    if names is not None:
        lowered = text.lower()
        for position, full in enumerate(names):
            if lowered in (full, full[:3]):
                return position + 1 if index == 4 else position
        examples = "Jan, February" if index == 4 else "Mon, Tuesday"
        raise ScheduleError(
            f"{name} field {item!r}: {text!r} is not a number {low}-{high} "
            f"or a {name} name (e.g. {examples})"
        )
    raise ScheduleError(f"{name} field {item!r}: expected a number {low}-{high}, got {text!r}")


def zone_of(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; raise ``ScheduleError`` if it is unknown."""
    try:
        return ZoneInfo(name)  # ZoneInfo keeps its own cache of instances
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(f"unknown IANA time zone {name!r}") from None


def _as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


def _local_to_utc(local: datetime, zone: tzinfo) -> datetime:
    """The instant a wall-clock firing happens: first occurrence, or the end of a DST gap."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first  # the time exists; for a repeated time fold=0 is its first occurrence
    # ``local`` was skipped by spring-forward. fold=0 reads it with the offset before the
    # gap, which lands after the transition; fold=1 with the offset after, which lands
    # before. The transition instant lies between: find it, at second precision.
    before = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = first
    offset_after = after.astimezone(zone).utcoffset()
    while after - before > _ONE_SECOND:
        middle = before + (after - before) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == offset_after:
            after = middle
        else:
            before = middle
    return _ceil_minute(after)


def _ceil_minute(instant: datetime) -> datetime:
    floor = instant.replace(second=0, microsecond=0)
    return floor if floor == instant else floor + timedelta(minutes=1)


def iter_slots(cron: Cron, time_zone: str | tzinfo, after: datetime) -> Iterator[datetime]:
    """Slots (UTC, minute precision) of ``cron`` in ``time_zone`` strictly after ``after``.

    Sorted and unique; the mapping from wall-clock time to UTC never goes backwards (a
    repeated time takes its first occurrence, a skipped one the end of the gap), so the
    slots come out in order and duplicates are adjacent.
    """
    zone = zone_of(time_zone) if isinstance(time_zone, str) else time_zone
    start = _as_utc(after)
    # Every firing with a slot > start happens after start, so its wall-clock time is after
    # the wall-clock time of start (the mapping is monotonic).
    local = start.astimezone(zone).replace(tzinfo=None)
    previous: datetime | None = None
    while True:
        firing = cron.next_local(local)
        if firing is None:
            return
        slot = _local_to_utc(firing, zone).replace(second=0, microsecond=0)
        if slot > start and slot != previous:
            yield slot
            previous = slot
        # Every later firing in this local minute has the same slot: skip to the next minute.
        local = firing.replace(second=59)


def due_slots(
    cron: Cron | str, time_zone: str | tzinfo, start: datetime, end: datetime
) -> list[datetime]:
    """Slots of ``cron`` in ``time_zone`` in the half-open interval ``(start, end]``."""
    parsed = Cron.parse(cron) if isinstance(cron, str) else cron
    stop = _as_utc(end)
    slots: list[datetime] = []
    for slot in iter_slots(parsed, time_zone, start):
        if slot > stop:
            break
        slots.append(slot)
    return slots


def policy_slots(policy: Policy, start: datetime, end: datetime) -> list[datetime]:
    """All slots of a policy's schedules in ``(start, end]``, merged, sorted and unique."""
    merged: set[datetime] = set()
    for schedule in policy.schedules:
        merged.update(due_slots(schedule.cron, schedule.time_zone, start, end))
    return sorted(merged)


def slots_to_run(policy: Policy, start: datetime, end: datetime) -> list[datetime]:
    """The slots a scheduler tick covering ``(start, end]`` must run, per ``catchUp``.

    ``latest`` runs only the newest due slot (a late tick does not take a burst of stale
    points); ``all`` runs every due slot, oldest first.
    """
    due = policy_slots(policy, start, end)
    if policy.catch_up == "latest":
        return due[-1:]
    return due


def next_slot(policy: Policy, after: datetime) -> datetime | None:
    """The first slot of the policy strictly after ``after`` (None if it never fires again)."""
    candidates = [
        next(iter_slots(Cron.parse(schedule.cron), schedule.time_zone, after), None)
        for schedule in policy.schedules
    ]
    upcoming = [slot for slot in candidates if slot is not None]
    return min(upcoming) if upcoming else None


def first_close_pair(
    schedules: Sequence[tuple[str, str | tzinfo]],
    minimum: timedelta,
    start: datetime,
    end: datetime,
) -> tuple[datetime, datetime] | None:
    """The first two consecutive merged slots in ``(start, end]`` less than ``minimum`` apart.

    ``schedules`` are ``(cron, time zone)`` pairs. Stops at the first such pair, so a
    schedule that fires every minute is answered at once. None if there is none.
    """
    stop = _as_utc(end)
    streams = [iter_slots(Cron.parse(cron), zone, start) for cron, zone in schedules]
    previous: datetime | None = None
    for slot in heapq.merge(*streams):
        if slot > stop:
            break
        if previous is not None and slot != previous and slot - previous < minimum:
            return previous, slot
        previous = slot
    return None
