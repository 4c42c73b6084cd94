"""Retention: which recovery points of one disk to keep, which to remove, and why.

A pure decision in the style of restic's ``forget`` and borg's ``prune``: recovery points,
rules and the current instant go in; the points to keep (each with the rules that kept it)
and the points to remove come out. Nothing here reads the clock or touches Azure; the
prune step that deletes cloud objects lives elsewhere and calls :func:`apply`.

Semantics (docs/retention.md has the long form and examples):

* points are ordered newest first (ties on equal slots broken by id, ascending);
* ``last N`` keeps the N newest usable points;
* each bucket rule (``hourly``, ``daily``, ``weekly`` = ISO week, ``monthly``, ``yearly``)
  keeps the newest usable point of each of the N newest distinct buckets, the buckets cut
  in the rules' time zone;
* ``within D`` keeps every point whose slot is later than ``now - D``;
* whatever the rules say: the ``min_keep`` newest usable points, the newest usable point,
  points still in progress, points on hold and copy bases are kept; failed points are
  removed unless on hold or a copy base.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import compress, count, islice, repeat
from operator import attrgetter, eq, ne
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from diskdr.errors import OwnershipError

__all__ = [
    "BUCKET_RULES",
    "Decision",
    "PointInfo",
    "RetentionRules",
    "apply",
    "bucket_label",
    "iso_duration",
]

_COUNT_RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
#: The rules that keep one point (or group) per period, in reason order.
BUCKET_RULES = ("hourly", "daily", "weekly", "monthly", "yearly")
# Zones whose wall clock is UTC: bucket keys come straight from the slot, no conversion.
_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu"})
_ZERO = timedelta(0)


@dataclass(frozen=True)
class RetentionRules:
    """How many points each rule keeps, and the zone the buckets are cut in.

    A count of 0 switches a rule off. ``within`` keeps everything newer than
    ``now - within``. ``min_keep`` (at least 1) newest usable points always stay.
    """

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: timedelta | None = None
    min_keep: int = 1
    time_zone: str = "UTC"

    def __post_init__(self) -> None:
        for name in _COUNT_RULES:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        if not isinstance(self.min_keep, int) or isinstance(self.min_keep, bool):
            raise ValueError(f"min_keep: expected an integer >= 1, got {self.min_keep!r}")
        if self.min_keep < 1:
            raise ValueError(
                f"min_keep: expected an integer >= 1 (the newest usable point always stays), "
                f"got {self.min_keep}"
            )
        if self.within is not None and (
            not isinstance(self.within, timedelta) or self.within <= _ZERO
        ):
            raise ValueError(f"within: expected a positive duration, got {self.within!r}")
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(
                f"time_zone: expected an IANA time zone name, got {self.time_zone!r}"
            ) from None

    @property
    def zone(self) -> ZoneInfo:
        """The bucket time zone (``ZoneInfo`` caches instances, so this is cheap)."""
        return ZoneInfo(self.time_zone)


@dataclass(frozen=True)
class PointInfo:
    """What retention needs to know about one recovery point.

    ``usable``: complete (points not yet usable are in progress and never removed).
    ``hold``: carries the ``diskdr-hold`` tag; never removed.
    ``copy_base``: base of the next incremental copy, or read by a running copy; never removed.
    ``failed``: creation failed; removed unless on hold or a copy base, and never fills a rule.
    """

    id: str
    slot: datetime
    owner: str
    usable: bool = True
    hold: bool = False
    copy_base: bool = False
    failed: bool = False

    def __post_init__(self) -> None:
        offset = self.slot.utcoffset()
        if offset is None or offset != _ZERO:
            raise ValueError(
                f"recovery point {self.id}: slot must be an aware UTC datetime, got {self.slot!r}"
            )
        if self.usable and self.failed:
            raise ValueError(f"recovery point {self.id}: cannot be both usable and failed")


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`apply`: both tuples newest first; ``reasons`` per kept id."""

    keep: tuple[PointInfo, ...]
    remove: tuple[PointInfo, ...]
    reasons: Mapping[str, tuple[str, ...]]


def iso_duration(duration: timedelta) -> str:
    """Render a positive duration as ISO 8601 (``P7D``, ``PT36H`` stays ``P1DT12H``)."""
    if duration <= _ZERO:
        raise ValueError(f"expected a positive duration, got {duration!r}")
    hours, rest = divmod(duration.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"P{duration.days}D" if duration.days else "P"
    clock = ""
    if hours:
        clock += f"{hours}H"
    if minutes:
        clock += f"{minutes}M"
    if seconds or duration.microseconds:
        fraction = f".{duration.microseconds:06d}".rstrip("0") if duration.microseconds else ""
        clock += f"{seconds}{fraction}S"
    return text + ("T" + clock if clock else "")


_by_id = attrgetter("id")
_by_slot = attrgetter("slot")
_by_owner = attrgetter("owner")
_by_usable = attrgetter("usable")
_by_flags = attrgetter("usable", "hold", "copy_base")
# The flags of an ordinary complete point; any other combination needs a closer look.
_PLAIN_FLAGS = (True, False, False)


def apply(
    points: Iterable[PointInfo], rules: RetentionRules, now: datetime, owner: str
) -> Decision:
    """Decide which ``points`` (all of one disk, all owned by ``owner``) to keep.

    Raises :class:`~diskdr.errors.OwnershipError` if any point belongs to another install,
    and ``ValueError`` on duplicate point ids or a naive ``now``.
    """
    if now.utcoffset() is None:
        raise ValueError(f"now must be an aware datetime, got {now!r}")
    # Sort once; then each pass below is a C-level map/compress over the sorted list, and
    # Python-level work is done only for points that may be kept. That is what keeps a
    # decision over a million points within its budget (docs/performance.md).
    ordered = _newest_first(points)
    _check_inputs(ordered, owner)
    size = len(ordered)

    rule_reasons = _rule_reasons(ordered, rules)
    # The min_keep newest usable points (the first of them is the newest usable point).
    min_keep_ranks = {
        index: rank
        for rank, index in enumerate(
            islice(compress(count(), map(_by_usable, ordered)), rules.min_keep)
        )
    }
    # Points in progress, failed, on hold or copy bases.
    flagged = compress(count(), map(ne, map(_by_flags, ordered), repeat(_PLAIN_FLAGS)))
    # Slots are newest first, so the points inside the ``within`` window form a prefix.
    within_end = 0
    within_reason = ""
    if rules.within is not None:
        cutoff = now - rules.within
        within_end = bisect_left(ordered, True, key=lambda point: point.slot <= cutoff)
        within_reason = f"within {iso_duration(rules.within)}"

    candidates = sorted({*rule_reasons, *min_keep_ranks, *flagged, *range(within_end)})
    keep: list[PointInfo] = []
    remove: list[PointInfo] = []
    reasons: dict[str, tuple[str, ...]] = {}
    previous = -1
    for index in candidates:
        # Everything between two candidates is removed without a closer look.
        remove.extend(ordered[previous + 1 : index])
        previous = index
        point = ordered[index]
        why = rule_reasons.get(index) or []
        if index < within_end and not point.failed:
            why.append(within_reason)
        rank = min_keep_ranks.get(index)
        if rank is not None:
            why.append("min-keep")
            if rank == 0:
                why.append("newest-usable")
        if not point.usable and not point.failed:
            why.append("in-progress")
        if point.hold:
            why.append("hold")
        if point.copy_base:
            why.append("copy-base")
        if why:
            keep.append(point)
            reasons[point.id] = tuple(why)
        else:
            remove.append(point)
    remove.extend(ordered[previous + 1 : size])
    return Decision(keep=tuple(keep), remove=tuple(remove), reasons=MappingProxyType(reasons))


def _newest_first(points: Iterable[PointInfo]) -> list[PointInfo]:
    """Sort newest slot first; points with equal slots in ascending id order."""
    ordered = sorted(points, key=_by_slot, reverse=True)
    slots = list(map(_by_slot, ordered))
    # Equal slots are rare: find them with one C-level pass and sort only those runs by id.
    # ``ties`` yields each i with slots[i] == slots[i + 1]; adjacent ones form one run.
    ties = compress(count(), map(eq, slots, islice(slots, 1, None)))
    first = last = -1  # the current run is ordered[first : last + 1]
    for index in ties:
        if index != last:  # not adjacent to the current run: a new run starts here
            _sort_by_id(ordered, first, last)
            first = index
        last = index + 1
    _sort_by_id(ordered, first, last)
    return ordered


def _sort_by_id(ordered: list[PointInfo], first: int, last: int) -> None:
    if first >= 0:
        ordered[first : last + 1] = sorted(ordered[first : last + 1], key=_by_id)


def _check_inputs(points: list[PointInfo], owner: str) -> None:
    # Ownership is asserted, not filtered: a foreign point here is a caller bug that could
    # delete another install's data, so it must stop the decision.
    if any(map(ne, map(_by_owner, points), repeat(owner))):
        stranger = next(point for point in points if point.owner != owner)
        raise OwnershipError(
            f"recovery point {stranger.id} is owned by {stranger.owner!r}, not by this "
            f"install ({owner!r}); only this install's points may reach retention"
        )
    # Reasons are keyed by id: a duplicate id could put one resource in both keep and remove.
    if len(set(map(_by_id, points))) != len(points):
        counts = Counter(map(_by_id, points))
        duplicates = sorted(point_id for point_id, seen in counts.items() if seen > 1)
        raise ValueError(f"duplicate recovery point ids: {', '.join(duplicates)}")


def _rule_reasons(ordered: list[PointInfo], rules: RetentionRules) -> dict[int, list[str]]:
    """The ``last`` and bucket reasons, by index in ``ordered`` (newest first).

    Only usable points fill rules: an in-progress or failed point must not take the place
    of the complete point that would otherwise represent its bucket.
    """
    last = rules.last
    hourly, daily, weekly = rules.hourly, rules.daily, rules.weekly
    monthly, yearly = rules.monthly, rules.yearly
    if not (last or hourly or daily or weekly or monthly or yearly):
        return {}
    zone = None if rules.time_zone in _UTC_ZONES else rules.zone
    # Bucket keys already kept, per rule. Local time runs monotonically with the slot except
    # across a backward clock change, so a set (rather than "the previous key") keeps exactly
    # one point per bucket even if a bucket comes round twice.
    seen_hours: set[int] = set()
    seen_days: set[int] = set()
    seen_weeks: set[int] = set()
    seen_months: set[int] = set()
    seen_years: set[int] = set()
    previous_day = 0
    found: dict[int, list[str]] = {}
    for index, point in enumerate(ordered):
        if not point.usable:
            continue
        why: list[str] = []
        if last:
            last -= 1
            why.append("last")
        if hourly or daily or weekly or monthly or yearly:
            # One zone conversion per point; in UTC the slot's own fields are local time.
            local = point.slot if zone is None else point.slot.astimezone(zone)
            day = local.toordinal()
            if hourly:
                key = day * 24 + local.hour
                if key not in seen_hours:
                    seen_hours.add(key)
                    hourly -= 1
                    why.append(f"hourly {_date_label(local)}T{local.hour:02d}")
            # Day, week, month and year can only change when the local date does; most
            # neighbouring points share a date, so this skips most of the work.
            if day != previous_day:
                previous_day = day
                if daily and day not in seen_days:
                    seen_days.add(day)
                    daily -= 1
                    why.append(f"daily {_date_label(local)}")
                # Ordinal 1 (0001-01-01) is a Monday, so this numbers ISO weeks.
                if weekly and (week := (day - 1) // 7) not in seen_weeks:
                    seen_weeks.add(week)
                    weekly -= 1
                    iso_year, iso_week, _ = local.isocalendar()
                    why.append(f"weekly {iso_year:04d}-W{iso_week:02d}")
                if monthly and (month := local.year * 12 + local.month) not in seen_months:
                    seen_months.add(month)
                    monthly -= 1
                    why.append(f"monthly {local.year:04d}-{local.month:02d}")
                if yearly and local.year not in seen_years:
                    seen_years.add(local.year)
                    yearly -= 1
                    why.append(f"yearly {local.year:04d}")
        if why:
            found[index] = why
        if not (last or hourly or daily or weekly or monthly or yearly):
            break
    return found


def _date_label(local: datetime) -> str:
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d}"


def bucket_label(rule: str, instant: datetime, time_zone: str = "UTC") -> str:
    """The period ``instant`` falls in for a bucket rule, cut in ``time_zone``: the text a
    reason shows after the rule's name (``daily 2026-11-24``, ``weekly 2026-W48``)."""
    local = instant if time_zone in _UTC_ZONES else instant.astimezone(ZoneInfo(time_zone))
    if rule == "hourly":
        return f"{_date_label(local)}T{local.hour:02d}"
    if rule == "daily":
        return _date_label(local)
    if rule == "weekly":
        iso_year, iso_week, _ = local.isocalendar()
        return f"{iso_year:04d}-W{iso_week:02d}"
    if rule == "monthly":
        return f"{local.year:04d}-{local.month:02d}"
    if rule == "yearly":
        return f"{local.year:04d}"
    raise ValueError(f"not a bucket rule: {rule!r} (expected one of {', '.join(BUCKET_RULES)})")
