"""Compliance: for every protected VM, how old its newest usable recovery point is, per
region, against the policy's RPO.

A VM's point in a region counts only when its consistency group is complete there: every
disk the policy protects today has a usable point of that group. The age is measured from
the instant the data was captured (the earliest creation time of the group's primary
points; the slot when those are gone), for the replica too — a copy is as old as its data.

Per region: ``OK`` (age ≤ RPO), ``AT_RISK`` (RPO < age ≤ 2 RPO: one point missed),
``BREACHED`` (age > 2 RPO). Per VM: ``UNPROTECTED`` without any usable point in its own
region; otherwise the worse of the primary's status and, when the policy replicates, the
secondary's (a VM with no usable replica yet is ``AT_RISK``).

:func:`find_unprotected` lists the gaps around that: VMs in scope no policy selects,
disks a policy excludes, disks whose newest point failed, VMs whose last drill failed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from diskdr.inventory import VmInfo
from diskdr.model import JsonModel, RecoveryPoint
from diskdr.naming import id_tag_value
from diskdr.policy import Policy
from diskdr.schedule import due_slots, policy_slots

STATUS_ORDER = ("OK", "AT_RISK", "BREACHED", "UNPROTECTED")


@dataclass(frozen=True)
class RegionCompliance(JsonModel):
    region: str
    role: str
    status: str  # OK | AT_RISK | BREACHED | MISSING
    group: str | None = None
    slot: datetime | None = None
    captured_at: datetime | None = None
    age_minutes: float | None = None


@dataclass(frozen=True)
class DrillCompliance(JsonModel):
    """The VM's last DR drill: ``PASSED``, ``FAILED`` (restore, content check or cleanup),
    ``OVERDUE`` (older than the drill rotation allows, or never drilled though its turn
    came) or ``NEVER`` (not drilled yet, its turn has not come)."""

    status: str
    last_drill_at: datetime | None = None
    drill_id: str | None = None
    content_check: str | None = None


@dataclass(frozen=True)
class DrillRecord:
    """One VM's entry of a finished drill report."""

    vm_id: str
    drilled_at: datetime
    passed: bool
    drill_id: str
    content_check: str | None
    failure: str | None = None  # what failed, when it did (see :func:`drill_failure`)


@dataclass(frozen=True)
class VmCompliance(JsonModel):
    vm_id: str
    vm_name: str
    policy: str
    rpo_minutes: float
    status: str
    regions: tuple[RegionCompliance, ...]
    drill: DrillCompliance | None = None


def effective_rpo(policy: Policy, now: datetime) -> timedelta:
    """The policy's ``rpo``, else the longest gap between its slots over the past 8 days."""
    if policy.rpo is not None:
        return policy.rpo
    slots = policy_slots(policy, now - timedelta(days=8), now)
    gaps = [later - earlier for earlier, later in pairwise(slots)]
    return max(gaps, default=timedelta(days=1))


def region_status(age: timedelta, rpo: timedelta) -> str:
    if age <= rpo:
        return "OK"
    if age <= 2 * rpo:
        return "AT_RISK"
    return "BREACHED"


def _worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=STATUS_ORDER.index)


def evaluate_vm(
    vm: VmInfo,
    policy: Policy,
    points: Sequence[RecoveryPoint],
    now: datetime,
    rpo: timedelta | None = None,
) -> VmCompliance:
    """Compliance of one VM given (at least) all of its points (``rpo``: the policy's
    effective RPO, when the caller already computed it)."""
    rpo = rpo or effective_rpo(policy, now)
    vm_tag = id_tag_value(vm.id)
    wanted = {id_tag_value(disk.id) for disk in vm.disks}
    mine = [p for p in points if p.vm_id == vm_tag and p.policy == policy.name]
    captured: dict[str, datetime] = {}
    for point in mine:
        if point.role == "primary":
            instant = point.created_at or point.slot
            captured[point.group] = min(captured.get(point.group, instant), instant)

    regions = [(vm.location, "primary")]
    if policy.replicate is not None:
        regions.append((policy.replicate.region, "replica"))
    results = []
    for region, role in regions:
        usable_disks: dict[str, set[str]] = defaultdict(set)
        slots: dict[str, datetime] = {}
        for point in mine:
            if point.role == role and point.region == region and point.state == "usable":
                usable_disks[point.group].add(point.disk_id)
                slots[point.group] = point.slot
        complete = [group for group, disks in usable_disks.items() if wanted <= disks]
        if not complete:
            results.append(RegionCompliance(region, role, "MISSING"))
            continue
        newest = max(complete, key=lambda group: (slots[group], group))
        instant = captured.get(newest, slots[newest])
        age = now - instant
        results.append(
            RegionCompliance(
                region=region,
                role=role,
                status=region_status(age, rpo),
                group=newest,
                slot=slots[newest],
                captured_at=instant,
                age_minutes=round(age.total_seconds() / 60, 1),
            )
        )
    primary = results[0]
    if primary.status == "MISSING":
        status = "UNPROTECTED"
    else:
        statuses = [primary.status]
        for secondary in results[1:]:
            statuses.append("AT_RISK" if secondary.status == "MISSING" else secondary.status)
        status = _worst(statuses)
    return VmCompliance(
        vm_id=vm.id,
        vm_name=vm.name,
        policy=policy.name,
        rpo_minutes=rpo.total_seconds() / 60,
        status=status,
        regions=tuple(results),
    )


# How far back drill slots are looked at to decide whether a VM's drill is overdue.
DRILL_LOOKBACK = timedelta(days=62)


def drill_status(
    policy: Policy, vm_count: int, last: DrillRecord | None, now: datetime
) -> DrillCompliance | None:
    """A VM's drill compliance (None when its policy has no ``drill``). With ``sample`` VMs
    drilled per slot, each VM's turn comes every ``ceil(VMs / sample)`` drill slots: a last
    drill older than that many slots back is overdue."""
    if policy.drill is None:
        return None
    from diskdr.restore import drill_turns  # the drill rotation is recovery's rule

    turns = drill_turns(vm_count, policy.drill.sample)
    schedule = policy.drill.schedule
    slots = due_slots(schedule.cron, schedule.time_zone, now - DRILL_LOOKBACK, now)
    due_since = slots[-turns] if len(slots) >= turns else None
    if last is None:
        status = "OVERDUE" if due_since is not None and len(slots) > turns else "NEVER"
        return DrillCompliance(status)
    if not last.passed:
        status = "FAILED"
    elif due_since is not None and last.drilled_at < due_since - timedelta(minutes=1):
        status = "OVERDUE"
    else:
        status = "PASSED"
    return DrillCompliance(status, last.drilled_at, last.drill_id, last.content_check)


def last_drills(reports: Iterable[tuple[str, dict]]) -> dict[str, DrillRecord]:
    """The newest drill entry per VM (lower-case id) from ``(drill id, report)`` pairs."""
    newest: dict[str, DrillRecord] = {}
    for drill_id, report in reports:
        for vm in (report or {}).get("vms") or []:
            when = vm.get("drilledAt")
            if not vm.get("vmId") or not when:
                continue
            failure = drill_failure(vm)
            record = DrillRecord(
                vm_id=vm["vmId"],
                drilled_at=datetime.fromisoformat(when),
                passed=failure is None,
                drill_id=drill_id,
                content_check=vm.get("contentCheck"),
                failure=failure,
            )
            key = vm["vmId"].lower()
            if key not in newest or newest[key].drilled_at < record.drilled_at:
                newest[key] = record
    return newest


def drill_failure(vm: Mapping[str, Any]) -> str | None:
    """What failed in one VM's drill entry, in words an operator acts on (None: it passed).

    The restore's error (Azure's code and message), then a failed content check (with the
    verify script's exit code when it ran), then a cleanup that left resources behind.
    """
    error = vm.get("error")
    if error:
        return f"restore failed: {error.get('code') or 'Error'}: {error.get('message', '')}".strip()
    if vm.get("contentCheck") == "failed":
        script = vm.get("verifyScript") or {}
        if script:
            return f"content check failed (verify script exit code {script.get('exitCode')})"
        return "content check failed"
    if not vm.get("cleanedUp"):
        return f"cleanup left resources behind: {', '.join(vm.get('leftBehind') or []) or '?'}"
    return None


def failed_drills(last: Mapping[str, DrillRecord]) -> dict[str, str]:
    """Lower-case VM id -> what failed in its last drill, for :func:`find_unprotected`."""
    return {
        vm: f"drill {record.drill_id}: {record.failure}"
        for vm, record in last.items()
        if record.failure is not None
    }


# --- what is not protected ------------------------------------------------------------------
UNPROTECTED_REASONS = (
    "NoPolicy",
    "AllDisksExcluded",
    "DiskExcluded",
    "DiskFailing",
    "NoUsablePoint",
    "DrillFailed",
)


@dataclass(frozen=True)
class Unprotected(JsonModel):
    """A VM (or one of its disks) in scope that diskdr does not protect, and why.

    ``reason``: ``NoPolicy`` (no policy selects the VM), ``AllDisksExcluded`` /
    ``DiskExcluded`` (the policy's ``excludeDisks`` leaves it out), ``DiskFailing`` (the
    disk's newest point failed; ``detail`` is Azure's error code), ``NoUsablePoint`` (a
    protected disk with no usable point in its own region: never taken, or Azure refused
    every create), ``DrillFailed`` (the VM's last DR drill failed; ``detail`` says how).
    """

    vm_id: str
    vm_name: str
    reason: str
    policy: str | None = None
    disk_id: str | None = None
    detail: str | None = None


def find_unprotected(
    vms: Iterable[VmInfo],
    policy_for: Callable[[VmInfo], Policy | None],
    protected: Callable[[VmInfo, Policy], VmInfo],
    points: Sequence[RecoveryPoint],
    failed_drills: Mapping[str, str] | None = None,
) -> list[Unprotected]:
    """Every gap in protection of ``vms`` (all VMs in scope, with all of their disks).

    ``policy_for``: the policy that selects a VM (None: none does); ``protected``: the VM
    with only the disks its policy protects; ``failed_drills``: lower-case VM id → what
    failed in its last drill (:func:`failed_drills`).
    """
    newest: dict[str, RecoveryPoint] = {}
    usable: set[str] = set()
    for point in points:
        if point.role == "primary":
            current = newest.get(point.disk_id)
            if current is None or point.slot > current.slot:
                newest[point.disk_id] = point
            if point.state == "usable":
                usable.add(point.disk_id)
    found: list[Unprotected] = []
    for vm in sorted(vms, key=lambda vm: vm.id.lower()):
        policy = policy_for(vm)
        if policy is None:
            found.append(Unprotected(vm.id, vm.name, "NoPolicy"))
            continue
        kept = {disk.id.lower() for disk in protected(vm, policy).disks}
        if not kept:
            found.append(Unprotected(vm.id, vm.name, "AllDisksExcluded", policy.name))
            continue
        for disk in vm.disks:
            if disk.id.lower() not in kept:
                found.append(Unprotected(vm.id, vm.name, "DiskExcluded", policy.name, disk.id))
                continue
            tag = id_tag_value(disk.id)
            last = newest.get(tag)
            if last is not None and last.state == "failed":
                found.append(
                    Unprotected(
                        vm.id, vm.name, "DiskFailing", policy.name, disk.id, last.error_code
                    )
                )
            elif tag not in usable:
                found.append(Unprotected(vm.id, vm.name, "NoUsablePoint", policy.name, disk.id))
        drill = (failed_drills or {}).get(vm.id.lower())
        if drill:
            found.append(Unprotected(vm.id, vm.name, "DrillFailed", policy.name, detail=drill))
    return found
