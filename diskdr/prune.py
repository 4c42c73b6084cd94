"""Pruning decisions: which of a policy's points to delete, per region, and why.

Retention is decided per consistency group (a VM's points of one slot), so a VM keeps whole
groups, then checked per disk family so that the newest usable point of every disk in every
region stays whatever the groups say. Copy bases stay: the newest primary point already
replicated (the base of the next incremental copy) and any primary a copy is still reading.
Only points whose owner tag is this install's ever reach here. Pure: the caller lists the
points and deletes what ``remove`` names (cloud objects first; a failed delete is reported
and retried on the next run).

Disk restore points (policies with VM restore points) are kept or removed with their VM
restore point: Azure deletes a restore point whole, so if any of its disks' points must
stay, all of them stay. Their items name that restore point as their ``unit``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from diskdr import retention
from diskdr.model import JsonModel, RecoveryPoint
from diskdr.naming import id_tag_value
from diskdr.restore_points import VmRestorePoint, restore_point_of
from diskdr.retention import PointInfo, RetentionRules


@dataclass(frozen=True)
class PruneItem(JsonModel):
    """One point and the decision on it."""

    id: str
    region: str
    role: str
    vm_id: str
    disk_id: str
    slot: datetime
    group: str
    state: str
    reasons: tuple[str, ...] = ()
    unit: str | None = None  # the VM restore point deleted with this point, if any


@dataclass(frozen=True)
class PrunePlan(JsonModel):
    """The decision for one policy: points kept (with reasons) and points to remove."""

    policy: str
    keep: tuple[PruneItem, ...]
    remove: tuple[PruneItem, ...]
    notes: tuple[str, ...] = ()


def copy_bases(points: Iterable[RecoveryPoint]) -> set[str]:
    """Primary point ids that must stay for replication's sake.

    Per disk family: the newest primary whose replica is usable (the next incremental copy
    is computed against it) and every primary a copy in flight is reading from.
    """
    points = list(points)
    replicas = [p for p in points if p.role == "replica"]
    primaries_by_tag = {id_tag_value(p.id): p for p in points if p.role == "primary"}
    bases: set[str] = set()
    newest_copied: dict[tuple[str, str], RecoveryPoint] = {}
    for replica in replicas:
        source = primaries_by_tag.get(replica.source_id or "")
        if source is None:
            continue
        if replica.state in ("creating", "pending"):
            bases.add(source.id)
        elif replica.state == "usable":
            family = (source.disk_id, source.disk_uid)
            best = newest_copied.get(family)
            if best is None or source.slot > best.slot:
                newest_copied[family] = source
    bases.update(point.id for point in newest_copied.values())
    return bases


def _item(point: RecoveryPoint, reasons: tuple[str, ...] = ()) -> PruneItem:
    return PruneItem(
        id=point.id,
        region=point.region,
        role=point.role,
        vm_id=point.vm_id,
        disk_id=point.disk_id,
        slot=point.slot,
        group=point.group,
        state=point.state,
        reasons=reasons,
        unit=restore_point_of(point.id),
    )


def _group_info(members: list[RecoveryPoint], bases: set[str], owner: str) -> PointInfo:
    states = {member.state for member in members}
    usable = states == {"usable"}
    in_progress = bool(states & {"creating", "pending"})
    return PointInfo(
        id=members[0].group,
        slot=members[0].slot,
        owner=owner,
        usable=usable,
        failed=not usable and not in_progress,
        hold=any(member.hold for member in members),
        copy_base=any(member.id in bases for member in members),
    )


def decide_set(
    points: list[RecoveryPoint], rules: RetentionRules, now: datetime, owner: str, bases: set[str]
) -> tuple[list[PruneItem], list[PruneItem]]:
    """Keep/remove for one VM's points of one role in one region (group-wise, then per disk)."""
    groups: dict[str, list[RecoveryPoint]] = defaultdict(list)
    for point in points:
        groups[point.group].append(point)
    infos = [_group_info(members, bases, owner) for members in groups.values()]
    decision = retention.apply(infos, rules, now, owner)
    keep_reasons: dict[str, tuple[str, ...]] = {}
    for group in decision.keep:
        for member in groups[group.id]:
            reasons = decision.reasons[group.id]
            if member.id in bases and "copy-base" not in reasons:
                reasons = (*reasons, "copy-base")
            keep_reasons[member.id] = reasons
    # Per disk family: the newest usable point always stays, whatever the groups say.
    families: dict[tuple[str, str], list[RecoveryPoint]] = defaultdict(list)
    for point in points:
        families[(point.disk_id, point.disk_uid)].append(point)
    for members in families.values():
        usable = [m for m in members if m.state == "usable"]
        if usable:
            newest = max(usable, key=lambda m: (m.slot, m.id))
            if newest.id not in keep_reasons:
                keep_reasons[newest.id] = ("newest-usable",)
        for member in members:
            if member.id in bases and member.id not in keep_reasons:
                keep_reasons[member.id] = ("copy-base",)
            if member.hold and member.id not in keep_reasons:
                keep_reasons[member.id] = ("hold",)
            if member.state in ("creating", "pending") and member.id not in keep_reasons:
                keep_reasons[member.id] = ("in-progress",)
    # A VM restore point goes whole or stays whole: a member kept keeps the others.
    units: dict[str, list[RecoveryPoint]] = defaultdict(list)
    for point in points:
        unit = restore_point_of(point.id)
        if unit is not None:
            units[unit].append(point)
    for members in units.values():
        kept = [m for m in members if m.id in keep_reasons]
        if kept and len(kept) < len(members):
            reasons = tuple(dict.fromkeys(r for m in kept for r in keep_reasons[m.id]))
            for member in members:
                keep_reasons.setdefault(member.id, reasons)
    keep = [_item(p, keep_reasons[p.id]) for p in points if p.id in keep_reasons]
    remove = [_item(p) for p in points if p.id not in keep_reasons]
    return keep, remove


def plan(
    policy: str,
    points: Iterable[RecoveryPoint],
    primary_rules: RetentionRules,
    replica_rules: RetentionRules | None,
    now: datetime,
    owner: str,
) -> PrunePlan:
    """The prune decision for all of a policy's points (both roles, every region).

    Replicas are judged by ``replica_rules``; when the policy no longer replicates they are
    all kept (and a note says so): diskdr does not guess rules nobody wrote.
    """
    ours = [p for p in points if p.owner == owner and p.policy == policy]
    bases = copy_bases(ours)
    # Retention runs over one VM's groups in one region and role at a time.
    sets: defaultdict[tuple[str, str, str], list[RecoveryPoint]] = defaultdict(list)
    for point in ours:
        sets[(point.role, point.region, point.vm_id)].append(point)
    keep: list[PruneItem] = []
    remove: list[PruneItem] = []
    notes: list[str] = []
    unjudged: defaultdict[str, int] = defaultdict(int)
    for (role, region, _vm), members in sorted(sets.items()):
        rules = primary_rules if role == "primary" else replica_rules
        if rules is None:
            keep.extend(_item(p, ("no-replica-rules",)) for p in members)
            unjudged[region] += len(members)
            continue
        kept, removed = decide_set(members, rules, now, owner, bases)
        keep.extend(kept)
        remove.extend(removed)
    for region, count in sorted(unjudged.items()):
        notes.append(
            f"{count} replica(s) in {region} kept: policy {policy} has no replicate.retention"
        )
    order = lambda item: (item.region, item.vm_id, item.disk_id, item.slot)  # noqa: E731
    return PrunePlan(
        policy, tuple(sorted(keep, key=order)), tuple(sorted(remove, key=order)), tuple(notes)
    )


def restore_point_leftovers(
    policy: str, failed: Iterable[VmRestorePoint], owner: str
) -> tuple[PruneItem, ...]:
    """Items removing the policy's failed VM restore points (a failed create leaves one
    behind, holding no disk restore point; diskdr deletes it at once, these are the ones
    that delete did not reach)."""
    return tuple(
        PruneItem(
            id=point.id,
            region=point.region,
            role=point.role,
            vm_id=point.vm_id,
            disk_id="",
            slot=point.slot,
            group=point.group,
            state="failed",
            unit=point.id,
        )
        for point in failed
        if point.owner == owner and point.policy == policy and point.state == "failed"
    )
