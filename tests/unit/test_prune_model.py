"""The real planner (``diskdr.prune.plan``) against the reference model of the rules.

Random estates: several VMs in two regions, snapshots and VM restore points (units),
members failed, in progress or missing, catch-up slots captured late, replicas in every
state (copy bases and copies still reading), holds, other installs' and other policies'
points, and random rules in three time zones across DST changes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from diskdr.model import RecoveryPoint
from diskdr.naming import group_id, id_tag_value
from diskdr.prune import plan
from diskdr.retention import RetentionRules
from tests.unit.prune_model import captured, reference_plan, unit_of

OWNER = "install-a"
SUB = "00000000-0000-0000-0000-000000000001"
T0 = datetime(2026, 10, 20, tzinfo=UTC)  # slots run across both DST ends (EU and US)
ZONES = ("UTC", "Europe/Berlin", "America/New_York")


def _compute(group: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute"


STATES = st.sampled_from(["usable"] * 6 + ["failed", "pending", "creating"])


@st.composite
def estates(draw) -> list[RecoveryPoint]:
    points: list[RecoveryPoint] = []
    for vm_index in range(draw(st.integers(1, 3))):
        vm = f"vm{vm_index}"
        vm_id = f"{_compute('rg-app')}/virtualMachines/{vm}"
        units = draw(st.booleans())  # VM restore points instead of snapshots
        disks = [f"{vm}-d{n}" for n in range(draw(st.integers(1, 3)))]
        tagged = draw(st.booleans())  # points made before diskdr wrote diskdr-members
        slots = draw(st.lists(st.integers(0, 60), min_size=1, max_size=14, unique=True))
        for step in slots:
            slot = T0 + timedelta(hours=5 * step)
            # Catch-up slots and late retries capture later than their slot.
            late = draw(st.sampled_from([0.0] * 4 + [3.0, 20.0, 30.0]))
            created = slot + timedelta(seconds=30, hours=late)
            group = group_id(OWNER, vm_id, slot)
            stamp = slot.strftime("%Y%m%dT%H%M")
            for disk in disks:
                if draw(st.integers(0, 9)) == 0:
                    continue  # a failed member that was cleaned up: missing
                disk_id = f"{_compute('rg-app')}/disks/{disk}"
                if units:
                    primary_id = (
                        f"{_compute('rg-app')}/restorePointCollections/rpc-{vm}/restorePoints/"
                        f"rp-{vm}-{stamp}/diskRestorePoints/{disk}"
                    )
                else:
                    primary_id = f"{_compute('rg-app')}/snapshots/{disk}-{stamp}"
                primary = _point(
                    primary_id,
                    "primary",
                    "eastus",
                    vm_id,
                    disk_id,
                    slot,
                    group,
                    draw(STATES),
                    created,
                    hold=draw(st.integers(0, 15)) == 0,
                    members=len(disks) if tagged else None,
                )
                points.append(primary)
                if primary.state == "usable" and draw(st.integers(0, 2)) > 0:
                    replica_id = (
                        f"{_compute('rg-dr')}/snapshots/{disk}-{stamp}-r"
                        if not units
                        else f"{_compute('rg-dr')}/restorePointCollections/rpc-{vm}-r/"
                        f"restorePoints/rp-{vm}-{stamp}-r/diskRestorePoints/{disk}"
                    )
                    copy_lag = timedelta(hours=draw(st.sampled_from([0.1, 1.0, 9.0])))
                    points.append(
                        _point(
                            replica_id,
                            "replica",
                            "westus2",
                            vm_id,
                            disk_id,
                            slot,
                            group,
                            draw(STATES),
                            created + copy_lag,
                            hold=draw(st.integers(0, 15)) == 0,
                            members=len(disks) if tagged else None,
                            source=primary_id,
                            captured_at=created if draw(st.booleans()) else None,
                        )
                    )
    # Strangers: another install's point and another policy's point of the same VM.
    if points and draw(st.booleans()):
        first = points[0]
        points.append(_point(first.id + "-x", "primary", "eastus", "/x/vm-x", "/x/d-x", first.slot,
                             "gx", "usable", None, owner="install-b"))  # fmt: skip
        points.append(_point(first.id + "-y", "primary", "eastus", "/x/vm-y", "/x/d-y", first.slot,
                             "gy", "failed", None, policy="silver"))  # fmt: skip
    return points


def _point(
    point_id: str,
    role: str,
    region: str,
    vm_id: str,
    disk_id: str,
    slot: datetime,
    group: str,
    state: str,
    created: datetime | None,
    *,
    hold: bool = False,
    members: int | None = None,
    source: str | None = None,
    captured_at: datetime | None = None,
    owner: str = OWNER,
    policy: str = "gold",
) -> RecoveryPoint:
    return RecoveryPoint(
        id=point_id,
        name=point_id.rsplit("/", 1)[1],
        region=region,
        resource_group="rg-app" if role == "primary" else "rg-dr",
        subscription_id=SUB,
        role=role,  # type: ignore[arg-type]
        owner=owner,
        policy=policy,
        vm_id=id_tag_value(vm_id),
        disk_id=id_tag_value(disk_id),
        disk_uid=f"uid-{disk_id.rsplit('/', 1)[1]}",
        slot=slot,
        group=group,
        consistency="crash",
        state=state,  # type: ignore[arg-type]
        source_id=id_tag_value(source) if source else None,
        created_at=created,
        hold=hold,
        members=members,
        captured_at=captured_at,
    )


@st.composite
def rule_sets(draw) -> RetentionRules:
    small = st.integers(0, 4)
    return RetentionRules(
        last=draw(small),
        hourly=draw(small),
        daily=draw(small),
        weekly=draw(st.integers(0, 2)),
        monthly=draw(st.integers(0, 2)),
        yearly=draw(st.integers(0, 1)),
        within=draw(st.sampled_from([None, timedelta(hours=30), timedelta(days=4)])),
        min_keep=draw(st.integers(1, 2)),
        time_zone=draw(st.sampled_from(ZONES)),
    )


NOW = T0 + timedelta(days=14)


@settings(max_examples=400, deadline=None)
@given(estates(), rule_sets(), st.one_of(st.none(), rule_sets()))
def test_the_planner_agrees_with_the_reference_model(points, primary_rules, replica_rules):
    decided = plan("gold", points, primary_rules, replica_rules, NOW, OWNER)
    keep = {item.id for item in decided.keep}
    remove = {item.id for item in decided.remove}
    expected_keep, expected_remove = reference_plan(
        "gold", points, primary_rules, replica_rules, NOW, OWNER
    )
    assert keep == expected_keep
    assert remove == expected_remove


@settings(max_examples=300, deadline=None)
@given(estates(), rule_sets(), rule_sets())
def test_invariants_of_every_plan(points, primary_rules, replica_rules):
    decided = plan("gold", points, primary_rules, replica_rules, NOW, OWNER)
    keep = {item.id for item in decided.keep}
    remove = {item.id for item in decided.remove}
    ours = {p.id for p in points if p.owner == OWNER and p.policy == "gold"}
    # keep + remove == all of ours, exactly once; strangers are never touched.
    assert keep | remove == ours and not keep & remove
    assert len(decided.keep) + len(decided.remove) == len(ours)
    by_id = {p.id: p for p in points}
    sets: dict[tuple[str, str, str], list[RecoveryPoint]] = defaultdict(list)
    for point_id in ours:
        point = by_id[point_id]
        sets[(point.role, point.region, point.vm_id)].append(point)
    for members in sets.values():
        groups: dict[str, list[RecoveryPoint]] = defaultdict(list)
        for point in members:
            groups[point.group].append(point)
        # The newest complete group of the VM in the region stays whole.
        complete = [
            g
            for g in groups.values()
            if all(p.state == "usable" for p in g)
            and all(p.members is None or p.members <= len(g) for p in g)
        ]
        if complete:
            newest = min(complete, key=lambda g: (-min(captured(p) for p in g).timestamp(),
                                                   g[0].group))  # fmt: skip
            assert {p.id for p in newest} <= keep
        # Each disk's newest usable point stays.
        usable_by_disk: dict[str, list[RecoveryPoint]] = defaultdict(list)
        for point in members:
            if point.state == "usable":
                usable_by_disk[point.disk_id].append(point)
        for found in usable_by_disk.values():
            newest_time = max(captured(p) for p in found)
            assert any(p.id in keep for p in found if captured(p) == newest_time)
        for point in members:
            # In progress and held points stay; failed ones go unless something protects them.
            if point.state in ("creating", "pending") or point.hold:
                assert point.id in keep
    # A VM restore point is never split.
    unit_sides: dict[str, set[bool]] = defaultdict(set)
    for point_id in ours:
        unit_sides[unit_of(point_id)].add(point_id in keep)
    assert all(len(sides) == 1 for sides in unit_sides.values())
    # Reports carry the capture time beside the slot.
    for item in (*decided.keep, *decided.remove):
        assert item.captured_at == captured(by_id[item.id])
