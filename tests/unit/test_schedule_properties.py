"""Properties of due slots, checked against a brute-force oracle that walks every minute."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from diskdr.errors import ScheduleError
from diskdr.schedule import Cron, due_slots

# Zones with the awkward cases: DST both ways, half-hour and 45-minute offsets, a
# 30-minute DST shift (Lord Howe), southern-hemisphere DST, and no DST at all.
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
]

# Start instants near the 2026 DST transitions of these zones, so most examples cross one.
TRANSITIONS = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),  # New York spring
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # New York fall
    datetime(2026, 3, 29, 1, tzinfo=UTC),  # Berlin spring
    datetime(2026, 10, 25, 1, tzinfo=UTC),  # Berlin fall
    datetime(2026, 4, 4, 15, tzinfo=UTC),  # Lord Howe / Sydney fall
    datetime(2026, 10, 3, 15, tzinfo=UTC),  # Lord Howe / Sydney spring
    datetime(2026, 3, 8, 5, 30, tzinfo=UTC),  # St John's spring
    datetime(2026, 4, 4, 14, tzinfo=UTC),  # Chatham fall
    datetime(2026, 9, 26, 14, tzinfo=UTC),  # Chatham spring
]


def _field(low, high, names=()):
    number = st.integers(low, high)
    atom = number.map(str) | (st.sampled_from(names) if names else number.map(str))
    return st.one_of(
        st.just("*"),
        st.integers(1, max(1, (high - low) // 2)).map(lambda step: f"*/{step}"),
        atom,
        st.tuples(number, number).map(lambda pair: f"{min(pair)}-{max(pair)}"),
        st.tuples(number, number, st.integers(1, 7)).map(
            lambda t: f"{min(t[0], t[1])}-{max(t[0], t[1])}/{t[2]}"
        ),
        st.lists(atom, min_size=2, max_size=4).map(",".join),
    )


crons = st.tuples(
    st.sampled_from(["0", "0", "30", "*/20"]),
    _field(0, 59),
    _field(0, 23),
    st.sampled_from(["*"] * 6) | _field(1, 31),
    st.sampled_from(["*"] * 6) | _field(1, 12, ("Jan", "mar", "OCT", "November")),
    st.sampled_from(["*"] * 3) | _field(0, 7, ("Mon", "fri", "SUN", "Saturday")),
).map(" ".join)

starts = st.one_of(
    st.builds(
        lambda base, minutes: base + timedelta(minutes=minutes),
        st.sampled_from(TRANSITIONS),
        st.integers(-24 * 60, 0),
    ),
    st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
)


def oracle(cron: Cron, zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The slots by definition: walk every UTC minute and look at the local wall clock."""
    slots = []
    minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute <= end:
        local = minute.astimezone(zone)
        fires = not local.fold and _fires_in_minute(cron, local)
        if not fires:
            # A forward jump just before this minute skipped some wall-clock minutes:
            # they fire now, at the first valid instant after the gap.
            before = (minute - timedelta(minutes=1)).astimezone(zone)
            skipped = local.replace(tzinfo=None) - before.replace(tzinfo=None)
            wall = before.replace(tzinfo=None) + timedelta(minutes=1)
            while skipped > timedelta(minutes=1) and wall < local.replace(tzinfo=None):
                if _fires_in_minute(cron, wall):
                    fires = True
                    break
                wall += timedelta(minutes=1)
        if fires:
            slots.append(minute)
        minute += timedelta(minutes=1)
    return slots


def _fires_in_minute(cron: Cron, wall: datetime) -> bool:
    return cron.matches(wall.replace(second=cron.seconds[0], tzinfo=None))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expression=crons, zone_name=st.sampled_from(ZONES), start=starts, hours=st.integers(1, 36))
def test_slots_are_sorted_unique_in_range_and_match_the_cron(expression, zone_name, start, hours):
    try:
        cron = Cron.parse(expression)
    except ScheduleError:
        assume(False)
        return
    zone = ZoneInfo(zone_name)
    end = start + timedelta(hours=hours)

    slots = due_slots(cron, zone_name, start, end)

    assert slots == sorted(set(slots)), "sorted and unique"
    assert all(start < slot <= end for slot in slots), "inside (start, end]"
    assert all(slot.tzinfo is UTC and slot.second == slot.microsecond == 0 for slot in slots)
    for slot in slots:
        local = slot.astimezone(zone)
        gap_end = (slot - timedelta(minutes=1)).astimezone(zone).utcoffset() != local.utcoffset()
        assert _fires_in_minute(cron, local) or gap_end, f"{slot} does not match {expression}"
    assert slots == oracle(cron, zone, start, end)
