"""Pruning decisions: which of a policy's points to delete, per region, and why.

Retention is decided per consistency group (a VM's points of one slot) over one VM's
groups in one region and role at a time, by the rules of docs/retention.md:

* a group is *complete* when it has every member it expects (the ``diskdr-members`` tag)
  and all are usable, *partial* when some but not all of its members are usable;
* ``last N`` keeps the N newest groups with a usable member; each bucket rule keeps the
  best group of each of its N newest periods (a complete group if the period has one,
  else the partial group with the most usable members, the newer on a tie); ``within``
  keeps every group captured inside the window; a kept group keeps its usable members;
* whatever the rules say: the newest complete group stays whole, each disk's newest
  usable point stays, and so do points in progress, points on hold and copy bases (the
  newest primary already replicated, and any primary a copy is still reading);
* failed points fill nothing and are removed (unless on hold or a copy base).

Time is capture time (:attr:`RecoveryPoint.capture_time`), never the slot label: a
catch-up cycle or late retry captures today's data under an older slot. Only points whose
owner tag is this install's ever reach here. Pure: the caller lists the points and deletes
what ``remove`` names, re-checking copy readers right before each delete.

Disk restore points (policies with VM restore points) are kept or removed with their VM
restore point: Azure deletes a restore point whole, so if any of its disks' points must
stay, all of them stay. Their items name that restore point as their ``unit``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from diskdr.model import JsonModel, RecoveryPoint
from diskdr.naming import id_tag_value
from diskdr.restore_points import VmRestorePoint, restore_point_of
from diskdr.retention import BUCKET_RULES, RetentionRules, bucket_label, iso_duration

GroupState = Literal["complete", "partial", "unusable"]


@dataclass(frozen=True)
class PruneItem(JsonModel):
    """One point and the decision on it. ``slot`` is the point's identity, ``captured_at``
    its time (when its data was captured); reports show both."""

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
    captured_at: datetime | None = None
    disk_uid: str = ""
    group_state: str | None = None  # complete | partial | unusable


@dataclass(frozen=True)
class PrunePlan(JsonModel):
    """The decision for one policy: points kept (with reasons) and points to remove.

    ``copy_regions``: the regions the policy copies to, whose copy gates the deletes
    consult (a copy holding a lease for a disk may be about to read its points)."""

    policy: str
    keep: tuple[PruneItem, ...]
    remove: tuple[PruneItem, ...]
    notes: tuple[str, ...] = ()
    copy_regions: tuple[str, ...] = ()


#: How many items of each list (keep, remove; deleted, failed, skipped) the digests of a
#: plan that histories and run reports carry show, after their counts. The full plan is
#: written once, to the ``plan_prune`` activity's log (:func:`plan_lines`).
SHOWN = 20

#: The first word of each log line of a full plan (one line per item, see :func:`plan_lines`).
PLAN_EVENT = "diskdr-prune-item"


def digest(decided: PrunePlan, act: bool) -> dict[str, Any]:
    """What the ``plan_prune`` activity answers instead of the whole plan.

    ``counts`` and the first :data:`SHOWN` items of ``keep`` and ``remove`` (with their
    reasons), the notes and copy regions — the part reports carry — and, under ``act``,
    what the orchestration needs to delete and re-check each removed item: its id, unit,
    role and disk (no reasons, no times). A dry run acts on nothing.
    """
    full = decided.to_dict()
    return {
        "policy": decided.policy,
        "counts": {"keep": len(decided.keep), "remove": len(decided.remove)},
        "shown": SHOWN,
        "keep": full["keep"][:SHOWN],
        "remove": full["remove"][:SHOWN],
        "notes": full["notes"],
        "copyRegions": full["copyRegions"],
        "act": [act_item(item) for item in decided.remove] if act else [],
    }


def act_item(item: PruneItem) -> dict[str, Any]:
    """A removed item as ``prune_policy`` acts on it (see :func:`digest`)."""
    return {
        "id": item.id,
        "unit": item.unit,
        "role": item.role,
        "diskId": item.disk_id,
        "diskUid": item.disk_uid,
    }


def plan_lines(decided: PrunePlan, run: str) -> Iterator[str]:
    """The full plan as log lines, one per item: ``diskdr-prune-item run=... policy=gold
    decision=remove id=... region=... role=... vm=... disk=... slot=... captured=...
    state=... group=... groupState=... unit=... reasons=last,newest-usable``.

    Keys are fixed, values hold no spaces (Azure ids have none; absent values are ``-``),
    so a log query can parse every field; ``run`` (the prune orchestration's instance id)
    ties the lines to the run report that shows the first items.
    """
    for decision, items in (("keep", decided.keep), ("remove", decided.remove)):
        for item in items:
            fields = {
                "run": run,
                "policy": decided.policy,
                "decision": decision,
                "id": item.id,
                "region": item.region,
                "role": item.role,
                "vm": item.vm_id,
                "disk": item.disk_id,
                "slot": item.slot.isoformat(),
                "captured": item.captured_at.isoformat() if item.captured_at else None,
                "state": item.state,
                "group": item.group,
                "groupState": item.group_state,
                "unit": item.unit,
                "reasons": ",".join(item.reasons),
            }
            values = (
                f"{key}={str(value or '-').replace(' ', '_')}" for key, value in fields.items()
            )
            yield " ".join([PLAN_EVENT, *values])


def parse_plan_line(line: str) -> dict[str, str] | None:
    """The fields of one :func:`plan_lines` line found in ``line`` (None: not one)."""
    start = line.find(PLAN_EVENT + " ")
    if start < 0:
        return None
    pairs = line[start + len(PLAN_EVENT) + 1 :].split()
    return {key: value for key, _, value in (pair.partition("=") for pair in pairs)}


@dataclass(frozen=True)
class ConsistencyGroup:
    """One VM's points of one slot, in one region and role."""

    id: str
    slot: datetime
    members: tuple[RecoveryPoint, ...]

    @property
    def time(self) -> datetime:
        """The group's capture time: its earliest member's."""
        return min(member.capture_time for member in self.members)

    @property
    def expected(self) -> int:
        """How many members the group has: the ``diskdr-members`` tag, else those listed."""
        tagged = [member.members for member in self.members if member.members is not None]
        return max([len(self.members), *tagged])

    @property
    def usable(self) -> tuple[RecoveryPoint, ...]:
        return tuple(member for member in self.members if member.state == "usable")

    @property
    def state(self) -> GroupState:
        usable = len(self.usable)
        if usable == len(self.members) == self.expected:
            return "complete"
        return "partial" if usable else "unusable"

    @property
    def rank(self) -> tuple[bool, int]:
        """Which group best stands for a period: complete first, then most usable members."""
        return (self.state == "complete", len(self.usable))


def family(point: RecoveryPoint) -> tuple[str, str]:
    """A point's snapshot family: its source disk id and unique id."""
    return (point.disk_id, point.disk_uid)


def copy_bases(points: Iterable[RecoveryPoint]) -> dict[str, str]:
    """Primary point ids that must stay for replication's sake, with the reason.

    Per disk family: the newest primary (by capture time) whose replica is usable — the
    next incremental copy is computed against it (``copy-base``) — and every primary a
    copy in flight is reading from (``copy-reading``).
    """
    points = list(points)
    primaries_by_tag = {id_tag_value(p.id): p for p in points if p.role == "primary"}
    bases: dict[str, str] = {}
    newest_copied: dict[tuple[str, str], RecoveryPoint] = {}
    for replica in points:
        if replica.role != "replica":
            continue
        source = primaries_by_tag.get(replica.source_id or "")
        if source is None:
            continue
        if replica.state in ("creating", "pending"):
            bases[source.id] = "copy-reading"
        elif replica.state == "usable":
            best = newest_copied.get(family(source))
            if best is None or _newer(source, best):
                newest_copied[family(source)] = source
    for point in newest_copied.values():
        bases.setdefault(point.id, "copy-base")
    return bases


def _newer(first: RecoveryPoint, second: RecoveryPoint) -> bool:
    """Whether ``first`` was captured after ``second`` (equal times: the smaller id)."""
    return (first.capture_time, second.id) > (second.capture_time, first.id)


def _item(
    point: RecoveryPoint, reasons: tuple[str, ...] = (), group_state: str | None = None
) -> PruneItem:
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
        captured_at=point.capture_time,
        disk_uid=point.disk_uid,
        group_state=group_state,
    )


def groups_of(points: Iterable[RecoveryPoint]) -> list[ConsistencyGroup]:
    """The points' consistency groups, newest capture first (equal times: by group id)."""
    members: dict[str, list[RecoveryPoint]] = defaultdict(list)
    for point in points:
        members[point.group].append(point)
    groups = [ConsistencyGroup(gid, found[0].slot, tuple(found)) for gid, found in members.items()]
    groups.sort(key=lambda group: group.id)
    groups.sort(key=lambda group: group.time, reverse=True)
    return groups


def group_reasons(
    groups: list[ConsistencyGroup], rules: RetentionRules, now: datetime
) -> dict[str, list[str]]:
    """Why each group is kept, by group id (groups newest first; absent: not kept)."""
    reasons: dict[str, list[str]] = defaultdict(list)
    candidates = [group for group in groups if group.usable]
    for group in candidates[: rules.last]:
        reasons[group.id].append("last")
    for rule in BUCKET_RULES:
        count = getattr(rules, rule)
        if not count:
            continue
        best: dict[str, ConsistencyGroup] = {}  # period label -> its best group so far
        for group in candidates:  # newest first: periods appear newest first
            label = bucket_label(rule, group.time, rules.time_zone)
            if label not in best or group.rank > best[label].rank:
                best[label] = group
        for label in list(best)[:count]:
            reasons[best[label].id].append(f"{rule} {label}")
    if rules.within is not None:
        cutoff = now - rules.within
        for group in candidates:
            if group.time > cutoff:
                reasons[group.id].append(f"within {iso_duration(rules.within)}")
    for group in candidates[: rules.min_keep]:
        reasons[group.id].append("min-keep")
    complete = next((group for group in candidates if group.state == "complete"), None)
    if complete is not None:
        reasons[complete.id].append("newest-complete")
    return reasons


def decide_set(
    points: list[RecoveryPoint], rules: RetentionRules, now: datetime, bases: dict[str, str]
) -> tuple[list[PruneItem], list[PruneItem]]:
    """Keep/remove for one VM's points of one role in one region."""
    groups = groups_of(points)
    kept_groups = group_reasons(groups, rules, now)
    state_of = {group.id: group.state for group in groups}
    newest_usable: dict[tuple[str, str], RecoveryPoint] = {}
    for point in points:
        if point.state == "usable":
            best = newest_usable.get(family(point))
            if best is None or _newer(point, best):
                newest_usable[family(point)] = point
    keep_reasons: dict[str, tuple[str, ...]] = {}
    for point in points:
        why = list(kept_groups.get(point.group, ())) if point.state == "usable" else []
        if newest_usable.get(family(point)) is point:
            why.append("newest-usable")
        if point.state in ("creating", "pending"):
            why.append("in-progress")
        if point.hold:
            why.append("hold")
        if point.id in bases:
            why.append(bases[point.id])
        if why:
            keep_reasons[point.id] = tuple(why)
    # A VM restore point goes whole or stays whole: a member kept keeps the others.
    units: dict[str, list[RecoveryPoint]] = defaultdict(list)
    for point in points:
        unit = restore_point_of(point.id)
        if unit is not None:
            units[unit].append(point)
    for unit_members in units.values():
        kept = [m for m in unit_members if m.id in keep_reasons]
        if kept and len(kept) < len(unit_members):
            reasons = tuple(dict.fromkeys(r for m in kept for r in keep_reasons[m.id]))
            for member in unit_members:
                keep_reasons.setdefault(member.id, reasons)
    keep = [_item(p, keep_reasons[p.id], state_of[p.group]) for p in points if p.id in keep_reasons]
    remove = [_item(p, (), state_of[p.group]) for p in points if p.id not in keep_reasons]
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
        kept, removed = decide_set(members, rules, now, bases)
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
) -> tuple[tuple[PruneItem, ...], tuple[PruneItem, ...]]:
    """(keep, remove) items of the policy's failed VM restore points (a failed create
    leaves one behind, holding no disk restore point; diskdr deletes it at once, these are
    the ones that delete did not reach). One on hold stays: nothing diskdr plans to delete
    is refused, then reported as a failure, on every run."""
    keep: list[PruneItem] = []
    remove: list[PruneItem] = []
    for point in failed:
        if point.owner != owner or point.policy != policy or point.state != "failed":
            continue
        item = PruneItem(
            id=point.id,
            region=point.region,
            role=point.role,
            vm_id=point.vm_id,
            disk_id="",
            slot=point.slot,
            group=point.group,
            state="failed",
            reasons=("hold",) if point.hold else (),
            unit=point.id,
            captured_at=point.created_at or point.slot,
            group_state="unusable",
        )
        (keep if point.hold else remove).append(item)
    return tuple(keep), tuple(remove)
