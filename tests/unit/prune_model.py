"""A reference model of diskdr's pruning rules (docs/retention.md), written from the rules.

Deliberately simple and slow: every rule is a scan over plain lists, periods are named with
``strftime``/``isocalendar`` of the zone's wall clock, and nothing is shared with
``diskdr.prune`` or ``diskdr.retention`` except the record type. Property tests compare it
with the real planner; a disagreement is a bug in one of them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from diskdr.model import RecoveryPoint
from diskdr.retention import RetentionRules


def captured(point: RecoveryPoint) -> datetime:
    """Capture time: a replica's recorded source time, else creation, else the slot."""
    if point.captured_at is not None:
        return point.captured_at
    if point.created_at is not None:
        return point.created_at
    return point.slot


def newest_first(points: list[RecoveryPoint]) -> list[RecoveryPoint]:
    return sorted(points, key=lambda p: (-captured(p).timestamp(), p.id))


def tag_form(resource_id: str) -> str:
    return resource_id.lower()


def period(rule: str, instant: datetime, zone: str) -> str:
    local = instant.astimezone(ZoneInfo(zone))
    if rule == "hourly":
        return local.strftime("%Y-%m-%dT%H")
    if rule == "daily":
        return local.strftime("%Y-%m-%d")
    if rule == "weekly":
        year, week, _ = local.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if rule == "monthly":
        return local.strftime("%Y-%m")
    return local.strftime("%Y")


def unit_of(point_id: str) -> str:
    """What Azure deletes with the point: its VM restore point, or the point itself."""
    marker = "/diskrestorepoints/"
    at = point_id.lower().find(marker)
    return point_id[:at] if at >= 0 else point_id


class Group:
    def __init__(self, group_id: str, members: list[RecoveryPoint]) -> None:
        self.id = group_id
        self.members = members
        self.time = min(captured(m) for m in members)
        self.usable = [m for m in members if m.state == "usable"]
        expected = len(members)
        for member in members:
            if member.members is not None and member.members > expected:
                expected = member.members
        self.complete = len(self.usable) == len(members) == expected


def copy_protected(points: list[RecoveryPoint]) -> set[str]:
    """Primaries a copy reads, and each family's newest primary with a usable replica."""
    protected = set()
    replicas = [p for p in points if p.role == "replica"]
    replicated_by_family: dict[tuple[str, str], list[RecoveryPoint]] = defaultdict(list)
    for primary in points:
        if primary.role != "primary":
            continue
        copies = [r for r in replicas if r.source_id == tag_form(primary.id)]
        if any(r.state in ("creating", "pending") for r in copies):
            protected.add(primary.id)
        if any(r.state == "usable" for r in copies):
            replicated_by_family[(primary.disk_id, primary.disk_uid)].append(primary)
    for family_points in replicated_by_family.values():
        protected.add(newest_first(family_points)[0].id)
    return protected


def kept_groups(groups: list[Group], rules: RetentionRules, now: datetime) -> set[str]:
    candidates = sorted((g for g in groups if g.usable), key=lambda g: (-g.time.timestamp(), g.id))
    kept = {g.id for g in candidates[: rules.last]}
    for rule in ("hourly", "daily", "weekly", "monthly", "yearly"):
        count = getattr(rules, rule)
        if count == 0:
            continue
        periods: dict[str, list[Group]] = defaultdict(list)
        for group in candidates:
            periods[period(rule, group.time, rules.time_zone)].append(group)
        newest_periods = sorted(
            periods.values(), key=lambda gs: max(g.time for g in gs), reverse=True
        )
        for in_period in newest_periods[:count]:
            best = sorted(
                in_period,
                key=lambda g: (not g.complete, -len(g.usable), -g.time.timestamp(), g.id),
            )[0]
            kept.add(best.id)
    if rules.within is not None:
        kept |= {g.id for g in candidates if g.time > now - rules.within}
    kept |= {g.id for g in candidates[: rules.min_keep]}
    complete = [g for g in candidates if g.complete]
    if complete:
        kept.add(complete[0].id)
    return kept


def reference_plan(
    policy: str,
    points: list[RecoveryPoint],
    primary_rules: RetentionRules,
    replica_rules: RetentionRules | None,
    now: datetime,
    owner: str,
) -> tuple[set[str], set[str]]:
    """(keep ids, remove ids) of the policy's points under the rules."""
    ours = [p for p in points if p.owner == owner and p.policy == policy]
    protected = copy_protected(ours)
    keep: set[str] = set()
    sets: dict[tuple[str, str, str], list[RecoveryPoint]] = defaultdict(list)
    for point in ours:
        sets[(point.role, point.region, point.vm_id)].append(point)
    for (role, _region, _vm), members in sets.items():
        rules = primary_rules if role == "primary" else replica_rules
        if rules is None:
            keep |= {p.id for p in members}
            continue
        by_group: dict[str, list[RecoveryPoint]] = defaultdict(list)
        for point in members:
            by_group[point.group].append(point)
        groups = [Group(gid, found) for gid, found in by_group.items()]
        chosen = kept_groups(groups, rules, now)
        for group in groups:
            if group.id in chosen:
                keep |= {p.id for p in group.usable}
        families: dict[tuple[str, str], list[RecoveryPoint]] = defaultdict(list)
        for point in members:
            if point.state == "usable":
                families[(point.disk_id, point.disk_uid)].append(point)
        keep |= {newest_first(found)[0].id for found in families.values()}
        for point in members:
            if point.state in ("creating", "pending") or point.hold or point.id in protected:
                keep.add(point.id)
        units: dict[str, list[RecoveryPoint]] = defaultdict(list)
        for point in members:
            units[unit_of(point.id)].append(point)
        for unit_points in units.values():
            if any(p.id in keep for p in unit_points):
                keep |= {p.id for p in unit_points}
    return keep, {p.id for p in ours} - keep
