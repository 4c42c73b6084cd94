"""Retention by example: bucket rules, reasons word for word, safety rules and validation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from diskdr.errors import OwnershipError
from diskdr.retention import Decision, PointInfo, RetentionRules, apply, iso_duration

OWNER = "install-a"


def at(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DDTHH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def point(slot: str, name: str | None = None, **flags: bool) -> PointInfo:
    return PointInfo(id=name or f"rp-{slot}", slot=at(slot), owner=OWNER, **flags)


def kept(decision: Decision) -> dict[str, tuple[str, ...]]:
    """Kept point id -> reasons, in keep order (newest first)."""
    return {p.id: decision.reasons[p.id] for p in decision.keep}


def removed(decision: Decision) -> list[str]:
    return [p.id for p in decision.remove]


NOW = at("2026-11-25T00:00")


def test_one_point_lists_every_reason_in_the_documented_order():
    rules = RetentionRules(
        last=1,
        hourly=1,
        daily=1,
        weekly=1,
        monthly=1,
        yearly=1,
        within=timedelta(days=7),
        min_keep=1,
    )
    decision = apply([point("2026-11-24T13:20", copy_base=True, hold=True)], rules, NOW, OWNER)
    assert decision.reasons["rp-2026-11-24T13:20"] == (
        "last",
        "hourly 2026-11-24T13",
        "daily 2026-11-24",
        "weekly 2026-W48",
        "monthly 2026-11",
        "yearly 2026",
        "within P7D",
        "min-keep",
        "newest-usable",
        "hold",
        "copy-base",
    )
    assert decision.remove == ()


def test_daily_keeps_the_newest_point_of_each_of_the_newest_days():
    points = [
        point("2026-11-24T20:00"),
        point("2026-11-24T08:00"),
        point("2026-11-23T20:00"),
        point("2026-11-23T08:00"),
        point("2026-11-22T20:00"),
        point("2026-11-21T20:00"),
    ]
    decision = apply(points, RetentionRules(daily=3), NOW, OWNER)
    assert kept(decision) == {
        "rp-2026-11-24T20:00": ("daily 2026-11-24", "min-keep", "newest-usable"),
        "rp-2026-11-23T20:00": ("daily 2026-11-23",),
        "rp-2026-11-22T20:00": ("daily 2026-11-22",),
    }
    assert removed(decision) == [
        "rp-2026-11-24T08:00",
        "rp-2026-11-23T08:00",
        "rp-2026-11-21T20:00",
    ]


def test_gfs_reasons_word_for_word():
    # Every 12 hours from 2026-10-01 to 2026-11-24 12:00.
    start = at("2026-10-01T00:00")
    points = [
        PointInfo(f"p{index:03d}", start + timedelta(hours=12 * index), OWNER)
        for index in range(110)
    ]
    rules = RetentionRules(last=2, daily=3, weekly=2, monthly=2)
    decision = apply(points, rules, NOW, OWNER)
    slots = {p.id: p.slot for p in points}
    reasons = {f"{slots[pid]:%Y-%m-%dT%H:%M}": why for pid, why in kept(decision).items()}
    assert reasons == {
        "2026-11-24T12:00": (
            "last",
            "daily 2026-11-24",
            "weekly 2026-W48",
            "monthly 2026-11",
            "min-keep",
            "newest-usable",
        ),
        "2026-11-24T00:00": ("last",),
        # Monday 23rd is in the week the 24th already represents.
        "2026-11-23T12:00": ("daily 2026-11-23",),
        "2026-11-22T12:00": ("daily 2026-11-22", "weekly 2026-W47"),
        "2026-10-31T12:00": ("monthly 2026-10",),
    }


def test_buckets_are_cut_in_the_rules_time_zone():
    # 23:30 UTC on New Year's Eve is already 2027 in Berlin (and ISO week 2026-W53).
    points = [point("2026-12-31T23:30"), point("2026-12-31T22:30")]
    rules = RetentionRules(hourly=5, daily=5, weekly=5, monthly=5, yearly=5)
    berlin = apply(
        points,
        replace(rules, time_zone="Europe/Berlin"),
        at("2027-01-02T00:00"),
        OWNER,
    )
    assert kept(berlin) == {
        "rp-2026-12-31T23:30": (
            "hourly 2027-01-01T00",
            "daily 2027-01-01",
            "weekly 2026-W53",
            "monthly 2027-01",
            "yearly 2027",
            "min-keep",
            "newest-usable",
        ),
        "rp-2026-12-31T22:30": (
            "hourly 2026-12-31T23",
            "daily 2026-12-31",
            "monthly 2026-12",
            "yearly 2026",
        ),
    }
    utc = apply(points, rules, at("2027-01-02T00:00"), OWNER)
    assert kept(utc)["rp-2026-12-31T22:30"] == ("hourly 2026-12-31T22",)


def test_the_hour_repeated_by_fall_back_is_one_hourly_bucket():
    # Berlin, 2026-10-25: 02:30 CEST (00:30Z) and 02:30 CET (01:30Z) share local hour 02.
    points = [point("2026-10-25T01:30"), point("2026-10-25T00:30"), point("2026-10-24T23:30")]
    rules = RetentionRules(hourly=10, time_zone="Europe/Berlin")
    decision = apply(points, rules, at("2026-10-26T00:00"), OWNER)
    assert kept(decision) == {
        "rp-2026-10-25T01:30": ("hourly 2026-10-25T02", "min-keep", "newest-usable"),
        "rp-2026-10-24T23:30": ("hourly 2026-10-25T01",),
    }
    assert removed(decision) == ["rp-2026-10-25T00:30"]


def test_a_point_in_progress_is_kept_but_fills_no_bucket():
    points = [
        point("2026-11-24T20:00", usable=False),
        point("2026-11-24T08:00"),
        point("2026-11-23T08:00"),
    ]
    decision = apply(points, RetentionRules(last=1, daily=1), NOW, OWNER)
    assert kept(decision) == {
        "rp-2026-11-24T20:00": ("in-progress",),
        "rp-2026-11-24T08:00": ("last", "daily 2026-11-24", "min-keep", "newest-usable"),
    }
    assert removed(decision) == ["rp-2026-11-23T08:00"]


def test_within_keeps_everything_newer_than_now_minus_the_duration():
    points = [
        point("2026-11-24T23:00"),
        point("2026-11-24T01:00", usable=False),
        point("2026-11-24T00:00"),  # exactly now - 24h: not newer, so not kept by within
        point("2026-11-23T00:00", failed=True, usable=False),
    ]
    decision = apply(points, RetentionRules(within=timedelta(hours=24)), NOW, OWNER)
    assert kept(decision) == {
        "rp-2026-11-24T23:00": ("within P1D", "min-keep", "newest-usable"),
        "rp-2026-11-24T01:00": ("within P1D", "in-progress"),
    }
    assert removed(decision) == ["rp-2026-11-24T00:00", "rp-2026-11-23T00:00"]


def test_all_zero_rules_still_keep_the_newest_usable_point_and_protected_ones():
    points = [
        point("2026-11-24T20:00", usable=False),
        point("2026-11-24T16:00", failed=True, usable=False),
        point("2026-11-24T12:00"),
        point("2026-11-24T08:00", hold=True),
        point("2026-11-24T04:00", copy_base=True),
        point("2026-11-24T00:00"),
        point("2026-11-23T20:00", failed=True, usable=False, hold=True),
    ]
    decision = apply(points, RetentionRules(), NOW, OWNER)
    assert kept(decision) == {
        "rp-2026-11-24T20:00": ("in-progress",),
        "rp-2026-11-24T12:00": ("min-keep", "newest-usable"),
        "rp-2026-11-24T08:00": ("hold",),
        "rp-2026-11-24T04:00": ("copy-base",),
        "rp-2026-11-23T20:00": ("hold",),
    }
    assert removed(decision) == ["rp-2026-11-24T16:00", "rp-2026-11-24T00:00"]


def test_min_keep_counts_usable_points_only():
    points = [
        point("2026-11-24T20:00", usable=False),
        point("2026-11-24T16:00", failed=True, usable=False),
        point("2026-11-24T12:00"),
        point("2026-11-24T08:00"),
        point("2026-11-24T04:00"),
    ]
    decision = apply(points, RetentionRules(min_keep=2), NOW, OWNER)
    assert kept(decision) == {
        "rp-2026-11-24T20:00": ("in-progress",),
        "rp-2026-11-24T12:00": ("min-keep", "newest-usable"),
        "rp-2026-11-24T08:00": ("min-keep",),
    }


def test_equal_slots_are_ordered_by_id_whatever_the_input_order():
    slot = "2026-11-24T12:00"
    points = [point(slot, "b"), point(slot, "c"), point(slot, "a"), point("2026-11-24T13:00", "z")]
    for ordering in (points, points[::-1]):
        decision = apply(ordering, RetentionRules(last=2), NOW, OWNER)
        assert [p.id for p in decision.keep] == ["z", "a"]
        assert [p.id for p in decision.remove] == ["b", "c"]


def test_a_foreign_point_stops_the_decision():
    stranger = PointInfo("theirs", at("2026-11-24T12:00"), "install-b")
    with pytest.raises(OwnershipError, match="theirs is owned by 'install-b'"):
        apply([point("2026-11-24T13:00"), stranger], RetentionRules(), NOW, OWNER)


def test_duplicate_ids_are_refused():
    twins = [point("2026-11-24T13:00", "same"), point("2026-11-24T12:00", "same")]
    with pytest.raises(ValueError, match="duplicate recovery point ids: same"):
        apply(twins, RetentionRules(), NOW, OWNER)


def test_no_points_no_decision():
    decision = apply([], RetentionRules(last=3), NOW, OWNER)
    assert decision.keep == () and decision.remove == () and dict(decision.reasons) == {}


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="aware"):
        apply([], RetentionRules(), datetime(2026, 11, 25), OWNER)


def test_reasons_are_read_only():
    decision = apply([point("2026-11-24T13:00")], RetentionRules(), NOW, OWNER)
    with pytest.raises(TypeError):
        decision.reasons["x"] = ()  # type: ignore[index]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"min_keep": 0}, "min_keep: expected an integer >= 1"),
        ({"daily": -1}, "daily: expected an integer >= 0, got -1"),
        ({"last": 1.5}, "last: expected an integer >= 0, got 1.5"),
        ({"within": timedelta(0)}, "within: expected a positive duration"),
        ({"time_zone": "Mars/Olympus"}, "time_zone: expected an IANA time zone name"),
    ],
)
def test_invalid_rules_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        RetentionRules(**fields)


def test_point_info_wants_an_aware_utc_slot_and_consistent_flags():
    with pytest.raises(ValueError, match="aware UTC"):
        PointInfo("p", datetime(2026, 11, 24), OWNER)
    with pytest.raises(ValueError, match="aware UTC"):
        PointInfo("p", datetime(2026, 11, 24, tzinfo=timezone(timedelta(hours=1))), OWNER)
    with pytest.raises(ValueError, match="both usable and failed"):
        PointInfo("p", at("2026-11-24T00:00"), OWNER, failed=True)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(days=7), "P7D"),
        (timedelta(hours=36), "P1DT12H"),
        (timedelta(minutes=90), "PT1H30M"),
        (timedelta(seconds=1.5), "PT1.5S"),
        (timedelta(days=1, seconds=5), "P1DT5S"),
    ],
)
def test_iso_duration(duration, text):
    assert iso_duration(duration) == text
