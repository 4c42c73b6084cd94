"""Pruning decisions: group-wise retention, per-disk safety, copy bases, ownership."""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from diskdr.prune import SHOWN, copy_bases, digest, parse_plan_line, plan, plan_lines
from diskdr.retention import RetentionRules
from tests.unit.points import OWNER, T0, point

LAST_1 = RetentionRules(last=1)
NOW = T0 + timedelta(days=30)


def ids(items):
    return {item.id for item in items}


def test_keeps_whole_groups_and_removes_older_ones():
    points = [point(disk=d, hours=h) for h in (0, 4, 8) for d in ("d0", "d1")]
    result = plan("gold", points, LAST_1, None, NOW, OWNER)
    assert ids(result.keep) == {p.id for p in points if p.slot == T0 + timedelta(hours=8)}
    assert len(result.remove) == 4
    assert all(
        item.reasons == ("last", "min-keep", "newest-complete", "newest-usable")
        for item in result.keep
    )


def test_other_installs_and_other_policies_are_never_touched():
    mine = [point(hours=h) for h in (0, 4)]
    theirs = [point(hours=h, owner="install-b") for h in (0, 4)]
    silver = [point(hours=h, policy="silver") for h in (0, 4)]
    result = plan("gold", mine + theirs + silver, LAST_1, None, NOW, OWNER)
    touched = ids(result.keep) | ids(result.remove)
    assert touched == {p.id for p in mine}


def test_newest_usable_point_of_a_disk_survives_a_failed_group():
    older = [point(disk=d, hours=0) for d in ("d0", "d1")]
    newer = [point(disk="d0", hours=4), point(disk="d1", hours=4, state="failed")]
    result = plan("gold", older + newer, LAST_1, None, NOW, OWNER)
    kept = {(item.disk_id.rsplit("/", 1)[1], item.slot): item.reasons for item in result.keep}
    # The partial group at 4h is the newest with a usable member; the complete group at 0h
    # is the newest complete one and stays whole.
    assert kept[("d0", T0 + timedelta(hours=4))] == ("last", "min-keep", "newest-usable")
    assert kept[("d0", T0)] == ("newest-complete",)
    assert kept[("d1", T0)] == ("newest-complete", "newest-usable")
    assert ids(result.remove) == {newer[1].id}


def test_points_in_progress_and_on_hold_stay():
    points = [point(hours=0, hold=True), point(hours=4), point(hours=8, state="pending")]
    result = plan("gold", points, LAST_1, None, NOW, OWNER)
    assert ids(result.keep) == ids(points) - set()
    reasons = {item.slot: item.reasons for item in result.keep}
    assert "hold" in reasons[T0]
    assert "in-progress" in reasons[T0 + timedelta(hours=8)]


def test_copy_bases_newest_replicated_and_in_flight_sources():
    p0, p1, p2 = (point(hours=h) for h in (0, 4, 8))
    r0 = point(hours=0, role="replica", source=p0)
    r1 = point(hours=4, role="replica", source=p1)
    r2 = point(hours=8, role="replica", source=p2, state="pending")
    assert copy_bases([p0, p1, p2, r0, r1, r2]) == {p1.id: "copy-base", p2.id: "copy-reading"}


def test_copy_base_is_kept_even_when_rules_would_remove_it():
    p0, p1, p2 = (point(hours=h) for h in (0, 4, 8))
    r0 = point(hours=0, role="replica", source=p0)
    result = plan("gold", [p0, p1, p2, r0], LAST_1, RetentionRules(last=5), NOW, OWNER)
    reasons = {item.id: item.reasons for item in result.keep}
    assert reasons[p0.id] == ("copy-base",)
    assert ids(result.remove) == {p1.id}


def test_replicas_use_their_own_rules_or_are_kept_without_them():
    replicas = [point(hours=h, role="replica", source=point(hours=h)) for h in (0, 4, 8)]
    with_rules = plan("gold", replicas, LAST_1, RetentionRules(last=2), NOW, OWNER)
    assert len(with_rules.keep) == 2 and len(with_rules.remove) == 1
    without = plan("gold", replicas, LAST_1, None, NOW, OWNER)
    assert len(without.keep) == 3 and not without.remove
    assert without.notes == (
        "3 replica(s) in westus2 kept: policy gold has no replicate.retention",
    )


states = st.sampled_from(["usable", "usable", "usable", "pending", "failed", "creating"])


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.sampled_from(["d0", "d1", "d2"]), states, st.booleans()),
        max_size=40,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.integers(0, 3),
    st.integers(0, 3),
)
def test_properties_of_a_plan(specs, last, daily):
    points = [point(disk=d, hours=h * 6, state=s, hold=hold) for h, d, s, hold in specs]
    rules = RetentionRules(last=last, daily=daily)
    result = plan("gold", points, rules, None, NOW, OWNER)
    keep, remove = ids(result.keep), ids(result.remove)
    assert keep | remove == {p.id for p in points} and not keep & remove
    for p in points:
        if p.state in ("pending", "creating") or p.hold:
            assert p.id in keep
    for disk in ("d0", "d1", "d2"):
        usable = [p for p in points if p.disk_id.endswith(disk) and p.state == "usable"]
        if usable:
            assert max(usable, key=lambda p: p.slot).id in keep


def test_each_vm_is_judged_on_its_own_groups():
    # Two VMs with points in the same slots: each keeps its own daily point.
    points = [point(vm=vm, hours=h) for vm in ("vm1", "vm2") for h in (0, 4, 24, 28)]
    result = plan("gold", points, RetentionRules(daily=2), None, NOW, OWNER)
    kept = sorted((item.vm_id.rsplit("/", 1)[1], item.slot) for item in result.keep)
    assert kept == [(vm, T0 + timedelta(hours=h)) for vm in ("vm1", "vm2") for h in (4, 28)]


def test_the_full_plan_goes_to_log_lines_and_the_digest_shows_the_first_items():
    points = [point(disk=d, hours=4 * h) for h in range(30) for d in ("d0", "d1")]
    result = plan("gold", points, LAST_1, None, NOW, OWNER)
    lines = list(plan_lines(result, "cycle-gold-x:prune"))

    parsed = [parse_plan_line(f"2026-12-05 INFO activities.prune: {line}") for line in lines]
    assert len(parsed) == len(result.keep) + len(result.remove) == 60
    by_id = {fields["id"]: fields for fields in parsed if fields}
    for decision, items in (("keep", result.keep), ("remove", result.remove)):
        for item in items:
            fields = by_id[item.id]
            assert (fields["decision"], fields["run"], fields["policy"]) == (
                decision,
                "cycle-gold-x:prune",
                "gold",
            )
            assert fields["reasons"] == (",".join(item.reasons) or "-")
            assert fields["slot"] == item.slot.isoformat()
    assert parse_plan_line("diskdr-run policy=gold") is None

    shown = digest(result, act=True)
    assert shown["counts"] == {"keep": 2, "remove": 58}
    assert [i["id"] for i in shown["remove"]] == [i.id for i in result.remove][:SHOWN]
    assert [a["id"] for a in shown["act"]] == [i.id for i in result.remove]
    assert set(shown["act"][0]) == {"id", "unit", "role", "diskId", "diskUid"}
    assert digest(result, act=False)["act"] == []
