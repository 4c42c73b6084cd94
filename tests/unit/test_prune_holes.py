"""One test per data-safety hole of issue #8 that the planner closes (each failed before)."""

from datetime import timedelta

from diskdr.prune import copy_bases, plan
from diskdr.retention import RetentionRules
from tests.unit.points import OWNER, T0, point

NOW = T0 + timedelta(days=30)


def ids(items):
    return {item.id for item in items}


def test_one_failing_disk_does_not_delete_the_healthy_disks_history():
    # Hole 1: d1 fails from day 3 on; daily: 7 must keep d0's seven newest days.
    points = []
    for day in range(1, 11):
        points.append(point(disk="d0", hours=24 * day, members=2))
        points.append(point(disk="d1", hours=24 * day, members=2,
                            state="failed" if day >= 3 else "usable"))  # fmt: skip
    result = plan("gold", points, RetentionRules(daily=7), None, NOW, OWNER)
    kept_d0 = sorted(item.slot for item in result.keep if item.disk_id.endswith("d0"))
    assert kept_d0 == [T0 + timedelta(days=d) for d in (2, 4, 5, 6, 7, 8, 9, 10)]
    # Day 2 is the newest complete group: kept whole. Failed points are removed.
    day2 = {p.id for p in points if p.slot == T0 + timedelta(days=2)}
    assert day2 <= ids(result.keep)
    assert {p.id for p in points if p.state == "failed"} <= ids(result.remove)


def test_a_group_with_a_missing_member_is_partial_not_complete():
    # Hole 2: the d1 points of the two newest groups failed and were cleaned up.
    complete = [point(disk=d, hours=0, members=2) for d in ("d0", "d1")]
    partial = [point(disk="d0", hours=h, members=2) for h in (4, 8)]
    result = plan("gold", complete + partial, RetentionRules(last=2), None, NOW, OWNER)
    assert ids(result.keep) == {p.id for p in complete + partial}
    reasons = {item.id: item.reasons for item in result.keep}
    assert "newest-complete" in reasons[complete[0].id]
    assert {item.group_state for item in result.keep if item.slot == T0} == {"complete"}
    assert {item.group_state for item in result.keep if item.slot > T0} == {"partial"}


def test_buckets_use_capture_time_not_the_slot_label():
    # Hole 4: the 20:00 slot of the 24th (hours 20) was only captured on the 25th at 01:00.
    on_24th = point(hours=8)
    late = point(hours=20, created=25)
    on_25th = point(hours=32)
    result = plan("gold", [on_24th, late, on_25th], RetentionRules(daily=2), None, NOW, OWNER)
    reasons = {item.id: item.reasons for item in result.keep}
    assert reasons[on_24th.id] == ("daily 2026-01-01",)
    assert ids(result.remove) == {late.id}
    [item] = [i for i in result.remove if i.id == late.id]
    assert item.slot == T0 + timedelta(hours=20) and item.captured_at == T0 + timedelta(hours=25)


def test_the_copy_base_is_the_newest_captured_replicated_point():
    # Hole 4: copies go in creation order, so the base is the last created, not the last slot.
    caught_up = point(hours=0, created=12)  # a catch-up of slot 00:00 taken at 12:00
    regular = point(hours=6)
    replicas = [point(hours=h, role="replica", source=p) for h, p in ((0, caught_up), (6, regular))]
    assert copy_bases([caught_up, regular, *replicas]) == {caught_up.id: "copy-base"}
