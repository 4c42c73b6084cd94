"""Retention properties over random points, rules and zones (hypothesis, 500 examples each).

Besides the invariants of the issue (partition, newest usable kept, min_keep, idempotence)
the decision is compared with a reference model: a deliberately naive reading of the
rules, one loop per rule, with no shortcuts.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diskdr.errors import OwnershipError
from diskdr.retention import Decision, PointInfo, RetentionRules, apply, iso_duration

OWNER = "install-a"
EXAMPLES = settings(max_examples=500, deadline=None)

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Sao_Paulo",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kathmandu",  # +05:45
    "Pacific/Chatham",  # +12:45 / +13:45
]
# Instants just before DST changes, where local hours and days behave oddly.
DST_EDGES = [
    datetime(2026, 3, 29, 0, 0, tzinfo=UTC),  # Europe spring forward
    datetime(2026, 10, 25, 0, 0, tzinfo=UTC),  # Europe fall back
    datetime(2026, 3, 8, 6, 0, tzinfo=UTC),  # New York spring forward
    datetime(2026, 11, 1, 5, 0, tzinfo=UTC),  # New York fall back
    datetime(2026, 4, 4, 14, 0, tzinfo=UTC),  # Lord Howe fall back (30 minutes)
    datetime(2026, 12, 31, 20, 0, tzinfo=UTC),  # year and ISO-week boundary
]
STEPS = [timedelta(minutes=30), timedelta(hours=1), timedelta(hours=4), timedelta(days=1)]


@st.composite
def scenarios(draw) -> tuple[list[PointInfo], RetentionRules, datetime]:
    base = draw(
        st.one_of(
            st.sampled_from(DST_EDGES),
            st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)).map(
                lambda moment: moment.replace(second=0, microsecond=0, tzinfo=UTC)
            ),
        )
    )
    step = draw(st.sampled_from([*STEPS, timedelta(days=9)]))
    # Small offsets on a grid make equal slots (ties) and shared buckets common. One integer
    # per point also encodes its flags: few draws, since generation dominates the run time.
    # Flags: kind (5 in 7 usable, 1 in progress, 1 failed), 1 in 8 on hold, 1 in 8 copy base.
    codes = draw(st.lists(st.integers(0, 121 * 7 * 8 * 8 - 1), max_size=40))
    names = draw(st.permutations(range(len(codes))))
    points = []
    for index, code in enumerate(codes):
        offset, flags = divmod(code, 7 * 8 * 8)
        kind, hold, copy_base = flags % 7, flags // 7 % 8, flags // 56
        points.append(
            PointInfo(
                id=f"rp{names[index]:03d}",
                slot=base + step * offset,
                owner=OWNER,
                usable=kind < 5,
                failed=kind == 6,
                hold=hold == 0,
                copy_base=copy_base == 0,
            )
        )
    small = st.integers(0, 5)
    rules = RetentionRules(
        last=draw(small),
        hourly=draw(small),
        daily=draw(small),
        weekly=draw(small),
        monthly=draw(small),
        yearly=draw(small),
        within=draw(st.none() | st.integers(1, 130).map(lambda n: step * n)),
        min_keep=draw(st.integers(1, 4)),
        time_zone=draw(st.sampled_from(ZONES)),
    )
    now = base + step * draw(st.integers(0, 130))
    return points, rules, now


def reference(points: list[PointInfo], rules: RetentionRules, now: datetime) -> Decision:
    """The rules read literally: one pass per rule over the points, newest first."""
    ordered = sorted(points, key=lambda p: (-p.slot.timestamp(), p.id))
    usable = [p for p in ordered if p.usable]
    why: dict[str, list[str]] = {p.id: [] for p in ordered}
    for p in usable[: rules.last]:
        why[p.id].append("last")
    zone = ZoneInfo(rules.time_zone)
    buckets = [
        ("hourly", rules.hourly, lambda t: (t.date(), t.hour), "%Y-%m-%dT%H"),
        ("daily", rules.daily, lambda t: t.date(), "%Y-%m-%d"),
        ("weekly", rules.weekly, lambda t: t.isocalendar()[:2], None),
        ("monthly", rules.monthly, lambda t: (t.year, t.month), "%Y-%m"),
        ("yearly", rules.yearly, lambda t: t.year, "%Y"),
    ]
    for name, count, key, label in buckets:
        seen: list[object] = []
        for p in usable:
            local = p.slot.astimezone(zone)
            if key(local) in seen:
                continue
            if len(seen) == count:
                break
            seen.append(key(local))
            if label is None:
                year, week, _ = local.isocalendar()
                why[p.id].append(f"{name} {year}-W{week:02d}")
            else:
                why[p.id].append(f"{name} {local.strftime(label)}")
    for p in ordered:
        if rules.within is not None and not p.failed and p.slot > now - rules.within:
            why[p.id].append(f"within {iso_duration(rules.within)}")
        if p.usable and usable.index(p) < rules.min_keep:
            why[p.id].append("min-keep")
        if usable and p is usable[0]:
            why[p.id].append("newest-usable")
        if not p.usable and not p.failed:
            why[p.id].append("in-progress")
        if p.hold:
            why[p.id].append("hold")
        if p.copy_base:
            why[p.id].append("copy-base")
    return Decision(
        keep=tuple(p for p in ordered if why[p.id]),
        remove=tuple(p for p in ordered if not why[p.id]),
        reasons={pid: tuple(reasons) for pid, reasons in why.items() if reasons},
    )


@EXAMPLES
@given(scenarios())
def test_the_decision_matches_the_reference_model(scenario):
    points, rules, now = scenario
    decision = apply(points, rules, now, OWNER)
    expected = reference(points, rules, now)
    assert [p.id for p in decision.keep] == [p.id for p in expected.keep]
    assert [p.id for p in decision.remove] == [p.id for p in expected.remove]
    assert dict(decision.reasons) == dict(expected.reasons)


@EXAMPLES
@given(scenarios())
def test_keep_and_remove_partition_the_input_newest_first(scenario):
    points, rules, now = scenario
    decision = apply(points, rules, now, OWNER)
    keep_ids = [p.id for p in decision.keep]
    remove_ids = [p.id for p in decision.remove]
    assert sorted(keep_ids + remove_ids) == sorted(p.id for p in points)
    assert not set(keep_ids) & set(remove_ids)
    assert set(decision.reasons) == set(keep_ids)
    assert all(decision.reasons[pid] for pid in keep_ids)
    for part in (decision.keep, decision.remove):
        order = [(-p.slot.timestamp(), p.id) for p in part]
        assert order == sorted(order)


@EXAMPLES
@given(scenarios())
def test_the_newest_usable_point_and_min_keep_points_are_kept(scenario):
    points, rules, now = scenario
    decision = apply(points, rules, now, OWNER)
    usable = sorted((p for p in points if p.usable), key=lambda p: (-p.slot.timestamp(), p.id))
    if usable:
        assert "newest-usable" in decision.reasons[usable[0].id]
    kept_ids = {p.id for p in decision.keep}
    for p in usable[: rules.min_keep]:
        assert p.id in kept_ids
        assert "min-keep" in decision.reasons[p.id]
    assert sum(1 for p in decision.keep if p.usable) >= min(rules.min_keep, len(usable))


@EXAMPLES
@given(scenarios())
def test_protected_points_stay_and_failed_ones_go(scenario):
    points, rules, now = scenario
    decision = apply(points, rules, now, OWNER)
    kept_ids = {p.id for p in decision.keep}
    for p in points:
        if p.hold or p.copy_base or (not p.usable and not p.failed):
            assert p.id in kept_ids
        elif p.failed:
            assert p.id not in kept_ids


@EXAMPLES
@given(scenarios())
def test_applying_retention_to_its_own_keep_set_removes_nothing(scenario):
    points, rules, now = scenario
    first = apply(points, rules, now, OWNER)
    second = apply(first.keep, rules, now, OWNER)
    assert second.remove == ()
    assert second.keep == first.keep
    assert dict(second.reasons) == dict(first.reasons)


@EXAMPLES
@given(scenarios(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(scenario, shuffler: random.Random):
    points, rules, now = scenario
    shuffled = list(points)
    shuffler.shuffle(shuffled)
    assert apply(shuffled, rules, now, OWNER) == apply(points, rules, now, OWNER)


@EXAMPLES
@given(scenarios())
def test_each_bucket_rule_keeps_one_point_per_bucket_up_to_its_count(scenario):
    points, rules, now = scenario
    decision = apply(points, rules, now, OWNER)
    zone = ZoneInfo(rules.time_zone)
    keys = {
        "hourly": lambda t: (t.date(), t.hour),
        "daily": lambda t: t.date(),
        "weekly": lambda t: t.isocalendar()[:2],
        "monthly": lambda t: (t.year, t.month),
        "yearly": lambda t: t.year,
    }
    for rule, key in keys.items():
        buckets = {key(p.slot.astimezone(zone)) for p in points if p.usable}
        labelled = [
            reason
            for reasons in decision.reasons.values()
            for reason in reasons
            if reason.startswith(rule + " ")
        ]
        assert len(labelled) == len(set(labelled)) == min(getattr(rules, rule), len(buckets))


@EXAMPLES
@given(scenarios(), st.data())
def test_a_foreign_point_anywhere_raises(scenario, data):
    points, rules, now = scenario
    stranger = PointInfo("zz-foreign", now, "install-b")
    position = data.draw(st.integers(0, len(points)))
    with pytest.raises(OwnershipError):
        apply([*points[:position], stranger, *points[position:]], rules, now, OWNER)
