"""NCRONTAB schedules: parsing, firing times, DST, catch-up, and speed."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from diskdr.errors import ScheduleError
from diskdr.policy import Policy
from diskdr.schedule import (
    Cron,
    due_slots,
    first_close_pair,
    next_slot,
    policy_slots,
    slots_to_run,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def policy(*schedules: tuple[str, str], catch_up: str = "latest") -> Policy:
    return Policy.model_validate(
        {
            "name": "p",
            "target": {},
            "schedules": [{"cron": cron, "timeZone": zone} for cron, zone in schedules],
            "retention": {"daily": 7},
            "catchUp": catch_up,
        }
    )


# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "field", "values"),
    [
        ("0 0 */4 * * *", "hours", (0, 4, 8, 12, 16, 20)),
        ("0 0 9-17 * * *", "hours", tuple(range(9, 18))),
        ("0 0 9-17/4 * * *", "hours", (9, 13, 17)),
        ("0 5/20 * * * *", "minutes", (5, 25, 45)),
        ("0 0,15,30 * * * *", "minutes", (0, 15, 30)),
        ("0 0 0 * Jan,mar,DECEMBER *", "months", (1, 3, 12)),
        ("0 0 0 * Feb-Apr *", "months", (2, 3, 4)),
        ("0 0 0 * * Mon-Fri", "weekdays", (1, 2, 3, 4, 5)),
        ("0 0 0 * * sunday,SAT", "weekdays", (0, 6)),
        ("0 0 0 * * 7", "weekdays", (0,)),
        ("0 0 0 * * 5-7", "weekdays", (0, 5, 6)),
        ("0 0 0 * * */2", "weekdays", (0, 2, 4, 6)),
        ("*/20 0 0 * * *", "seconds", (0, 20, 40)),
        ("0 0 0 1,15 * *", "days", (1, 15)),
    ],
)
def test_fields_parse_to_their_values(expression, field, values):
    assert getattr(Cron.parse(expression), field) == values


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 */4 * * *", "expected 6 NCRONTAB fields, got 5"),
        ("0 0 0 * * * *", "expected 6 NCRONTAB fields, got 7"),
        ("", "expected 6 NCRONTAB fields, got 0"),
        ("0 0 25 * * *", "hour field '25': 25 is outside 0-23"),
        ("60 0 0 * * *", "second field '60': 60 is outside 0-59"),
        ("0 0 0 0 * *", "day field '0': 0 is outside 1-31"),
        ("0 0 5-1 * * *", "hour field '5-1': range start 5 is after end 1"),
        ("0 0 */0 * * *", "hour field '*/0': step must be a positive integer"),
        ("0 0 1,,2 * * *", "hour field '1,,2': empty list item"),
        ("0 x * * * *", "minute field 'x': expected a number 0-59, got 'x'"),
        (
            "0 0 0 * Smarch *",
            "month field 'Smarch': 'Smarch' is not a number 1-12 or a month name "
            "(e.g. Jan, February)",
        ),
        ("0 0 0 30 Feb *", "never fires: no day in '30' exists in month(s) Feb"),
        ("0 0 0 31 Apr,Jun *", "never fires: no day in '31' exists in month(s) Apr,Jun"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression, message):
    with pytest.raises(ScheduleError) as raised:
        Cron.parse(expression)
    assert str(raised.value) == message


def test_matches_reads_wall_clock_fields():
    cron = Cron.parse("0 30 9 * Jan Mon")
    assert cron.matches(datetime(2026, 1, 5, 9, 30))  # a Monday in January
    assert not cron.matches(datetime(2026, 1, 6, 9, 30))  # Tuesday
    assert not cron.matches(datetime(2026, 2, 2, 9, 30))  # Monday in February
    assert not cron.matches(datetime(2026, 1, 5, 9, 30, 1))


def test_day_of_month_and_day_of_week_must_both_match():
    # NCRONTAB (unlike Vixie cron) combines the two day fields with AND.
    slots = due_slots("0 0 12 13 * Fri", "UTC", utc(2026, 1, 1), utc(2027, 1, 1))
    assert slots == [utc(2026, 2, 13, 12), utc(2026, 3, 13, 12), utc(2026, 11, 13, 12)]


def test_feb_29_on_a_monday_is_found_years_ahead():
    slots = due_slots("0 0 0 29 Feb Mon", "UTC", utc(2026, 1, 1), utc(2050, 1, 1))
    assert slots == [utc(2044, 2, 29)]


# -- slots in UTC --------------------------------------------------------------------------


def test_interval_is_half_open_start_excluded_end_included():
    slots = due_slots("0 0 */4 * * *", "UTC", utc(2026, 11, 24, 0), utc(2026, 11, 24, 12))
    assert slots == [utc(2026, 11, 24, 4), utc(2026, 11, 24, 8), utc(2026, 11, 24, 12)]


def test_slots_are_minutes_even_when_the_cron_fires_every_second():
    slots = due_slots("* 0 6 * * *", "UTC", utc(2026, 1, 1), utc(2026, 1, 3))
    assert slots == [utc(2026, 1, 1, 6), utc(2026, 1, 2, 6)]


def test_month_ends_are_skipped_for_short_months():
    slots = due_slots("0 0 0 31 * *", "UTC", utc(2026, 1, 1), utc(2026, 8, 1))
    assert [slot.month for slot in slots] == [1, 3, 5, 7]


def test_start_and_end_may_be_in_any_zone():
    berlin = datetime(2026, 6, 1, 2, 0).astimezone(UTC)  # any aware instant
    assert due_slots("0 0 * * * *", "UTC", berlin, berlin + timedelta(hours=2)) == [
        berlin + timedelta(hours=1),
        berlin + timedelta(hours=2),
    ]


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="aware"):
        due_slots("0 0 * * * *", "UTC", datetime(2026, 1, 1), utc(2026, 1, 2))


def test_unknown_zone_is_a_schedule_error():
    with pytest.raises(ScheduleError, match="unknown IANA time zone 'Mars/Base'"):
        due_slots("0 0 * * * *", "Mars/Base", utc(2026, 1, 1), utc(2026, 1, 2))


# -- time zones and daylight saving ----------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "expected"),
    [
        # spring forward 02:00 -> 03:00: 02:30 does not exist, fires at 03:00 local
        ("Europe/Berlin", (2026, 3, 29), utc(2026, 3, 29, 1, 0)),
        # fall back 03:00 -> 02:00: 02:30 happens twice, fires at the first (CEST)
        ("Europe/Berlin", (2026, 10, 25), utc(2026, 10, 25, 0, 30)),
        ("America/New_York", (2026, 3, 8), utc(2026, 3, 8, 7, 0)),
        # fall back 02:00 -> 01:00: 02:30 happens once (EST)
        ("America/New_York", (2026, 11, 1), utc(2026, 11, 1, 7, 30)),
    ],
)
def test_daily_0230_fires_exactly_once_on_each_2026_transition_day(zone, day, expected):
    from zoneinfo import ZoneInfo

    local_midnight = datetime(*day, tzinfo=ZoneInfo(zone))
    next_midnight = datetime.combine(
        local_midnight.date() + timedelta(days=1), local_midnight.time(), ZoneInfo(zone)
    )
    slots = due_slots("0 30 2 * * *", zone, local_midnight, next_midnight)
    assert slots == [expected]


def test_repeated_hour_fires_once_per_wall_clock_time():
    # New York falls back at 06:00 UTC (02:00 EDT -> 01:00 EST): 01:00-01:59 repeats.
    slots = due_slots(
        "0 */15 * * * *", "America/New_York", utc(2026, 11, 1, 4, 50), utc(2026, 11, 1, 7, 10)
    )
    assert slots == [
        utc(2026, 11, 1, 5, 0),  # 01:00 EDT
        utc(2026, 11, 1, 5, 15),
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 1, 5, 45),  # 01:45 EDT; 01:00-01:45 EST are the same wall times
        utc(2026, 11, 1, 7, 0),  # 02:00 EST
    ]


def test_skipped_times_fire_at_the_end_of_the_gap():
    # New York springs forward at 07:00 UTC (02:00 EST -> 03:00 EDT).
    slots = due_slots("0 30 * * * *", "America/New_York", utc(2026, 3, 8, 5), utc(2026, 3, 8, 9))
    assert slots == [
        utc(2026, 3, 8, 5, 30),  # 00:30 EST
        utc(2026, 3, 8, 6, 30),  # 01:30 EST
        utc(2026, 3, 8, 7, 0),  # 02:30 does not exist: 03:00 EDT
        utc(2026, 3, 8, 7, 30),  # 03:30 EDT
        utc(2026, 3, 8, 8, 30),
    ]


def test_half_hour_dst_of_lord_howe_island():
    # Lord Howe (UTC+10:30) springs forward 30 minutes, 02:00 -> 02:30 local, on 2026-10-04
    # (15:30 UTC on the 3rd). 02:15 does not exist that day: it fires at 02:30 (+11:00).
    slots = due_slots("0 15 2 * * *", "Australia/Lord_Howe", utc(2026, 10, 2), utc(2026, 10, 5))
    assert slots == [
        utc(2026, 10, 2, 15, 45),  # 02:15 +10:30 on the 3rd
        utc(2026, 10, 3, 15, 30),  # 02:30 +11:00 on the 4th
        utc(2026, 10, 4, 15, 15),  # 02:15 +11:00 on the 5th
    ]


# -- policies: merging, catch-up, next slot ------------------------------------------------


def test_policy_slots_merge_schedules_without_duplicates():
    p = policy(("0 0 */6 * * *", "UTC"), ("0 0 0,12 * * *", "UTC"), ("0 0 1 * * *", "Etc/GMT-1"))
    # Etc/GMT-1 is UTC+1: 01:00 there is 00:00 UTC, already a slot.
    assert policy_slots(p, utc(2026, 1, 1), utc(2026, 1, 2)) == [
        utc(2026, 1, 1, 6),
        utc(2026, 1, 1, 12),
        utc(2026, 1, 1, 18),
        utc(2026, 1, 2, 0),
    ]


def test_catch_up_latest_runs_only_the_newest_missed_slot():
    p = policy(("0 0 */4 * * *", "UTC"))
    assert slots_to_run(p, utc(2026, 1, 1), utc(2026, 1, 1, 13)) == [utc(2026, 1, 1, 12)]
    assert slots_to_run(p, utc(2026, 1, 1, 13), utc(2026, 1, 1, 14)) == []


def test_catch_up_all_runs_every_missed_slot_oldest_first():
    p = policy(("0 0 */4 * * *", "UTC"), catch_up="all")
    assert slots_to_run(p, utc(2026, 1, 1), utc(2026, 1, 1, 13)) == [
        utc(2026, 1, 1, 4),
        utc(2026, 1, 1, 8),
        utc(2026, 1, 1, 12),
    ]


def test_next_slot_is_the_earliest_over_all_schedules():
    p = policy(("0 0 6 * * *", "UTC"), ("0 0 2 * * *", "America/New_York"))
    assert next_slot(p, utc(2026, 1, 1, 0)) == utc(2026, 1, 1, 6)
    assert next_slot(p, utc(2026, 1, 1, 6)) == utc(2026, 1, 1, 7)  # 02:00 EST
    assert next_slot(p, utc(2026, 1, 1, 6, 30)) == utc(2026, 1, 1, 7)


def test_first_close_pair_finds_the_first_gap_below_the_minimum():
    pair = first_close_pair(
        [("0 0 6 * * *", "UTC"), ("0 30 6 * * Mon", "UTC")],
        timedelta(hours=1),
        utc(2026, 1, 1),
        utc(2026, 2, 1),
    )
    assert pair == (utc(2026, 1, 5, 6), utc(2026, 1, 5, 6, 30))  # the first Monday
    assert (
        first_close_pair(
            [("0 0 */3 * * *", "UTC")], timedelta(hours=3), utc(2026, 1, 1), utc(2027, 1, 1)
        )
        is None
    )


def test_two_years_of_a_4_hourly_schedule_take_well_under_a_second():
    began = time.perf_counter()
    slots = due_slots("0 0 */4 * * *", "Europe/Berlin", utc(2026, 1, 1), utc(2028, 1, 1))
    elapsed = time.perf_counter() - began
    assert len(slots) == 730 * 6
    assert elapsed < 0.5, f"{elapsed:.3f} s"
