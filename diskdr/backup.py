"""The backup flow's records and pure decisions: what to snapshot, group state, copy order.

Orchestrations move these records between activities as JSON. Nothing here calls Azure
or reads the clock; ``diskdr.service`` does the calls and ``orchestrations/`` the waiting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from diskdr.audit import AzureWrite
from diskdr.errors import AzureError, is_transient
from diskdr.inventory import DiskInfo, VmInfo
from diskdr.model import JsonModel, RecoveryPoint
from diskdr.naming import (
    Consistency,
    group_id,
    point_name,
    point_tags,
)
from diskdr.policy import Policy
from diskdr.settings import Settings

# disk: one incremental snapshot per disk; vm-crash / vm-app: one VM restore point per VM
# (diskdr.restore_points). A policy file of a newer version may name others: refused.
SUPPORTED_CONSISTENCY = ("disk", "vm-crash", "vm-app")

GroupState = Literal["complete", "partial", "failed", "in-progress"]
CopyAction = Literal["adopt", "start", "busy", "superseded"]


@dataclass(frozen=True)
class Failure(JsonModel):
    """Why one step failed: Azure's error code and request id when Azure said no."""

    message: str
    code: str | None = None
    status: int | None = None
    request_id: str | None = None
    transient: bool = False  # throttled or a server error: worth trying again later

    @classmethod
    def from_error(cls, error: Exception) -> Failure:
        if isinstance(error, AzureError):
            return cls(
                error.detail, error.code, error.status, error.request_id, is_transient(error)
            )
        return cls(f"{type(error).__name__}: {error}")


@dataclass(frozen=True)
class PolicyRef(JsonModel):
    """What a backup run needs of its policy (the file may change while it runs)."""

    name: str
    consistency: str = "disk"
    replica_region: str | None = None
    replica_resource_group: str | None = None
    #: The policy's RPO, for the run's log line (alerts on RPO breaches; docs/deploy.md).
    rpo_seconds: int | None = None

    @property
    def replicates(self) -> bool:
        return bool(self.replica_region and self.replica_resource_group)

    @property
    def unsupported(self) -> str | None:
        """Why this version cannot run the policy, or None."""
        if self.consistency in SUPPORTED_CONSISTENCY:
            return None
        return (
            f"policy {self.name}: consistency {self.consistency!r} is not supported by this "
            f"version of diskdr; use {', '.join(SUPPORTED_CONSISTENCY)}"
        )

    @classmethod
    def from_policy(cls, policy: Policy) -> PolicyRef:
        replicate = policy.replicate
        return cls(
            name=policy.name,
            consistency=policy.consistency,
            replica_region=replicate.region if replicate else None,
            replica_resource_group=replicate.resource_group if replicate else None,
            rpo_seconds=int(policy.rpo.total_seconds()) if policy.rpo else None,
        )


@dataclass(frozen=True)
class PointJob(JsonModel):
    """Take the point of one disk of one VM at one slot."""

    policy: str
    vm_id: str
    disk: DiskInfo
    slot: datetime
    group: str
    consistency: Consistency
    name: str
    resource_group: str
    tags: Mapping[str, str]


@dataclass(frozen=True)
class CopyJob(JsonModel):
    """Copy one primary point to the secondary region.

    ``newest_copy`` is the newest copy of the same disk diskdr has started in that region
    (kept by the ``copy_order`` entity), or None: Azure copies a disk's points one at a
    time and in creation order, and this is what tells, without listing snapshots.
    """

    point: RecoveryPoint
    region: str
    resource_group: str
    name: str
    tags: Mapping[str, str]
    newest_copy: NewestCopy | None = None


class Created(Protocol):
    """Anything taken at a slot and created at some instant (points, copies, copy jobs)."""

    @property
    def slot(self) -> datetime: ...

    @property
    def created_at(self) -> datetime | None: ...


class HasState(Protocol):
    @property
    def state(self) -> str: ...


def creation_order(item: Created) -> tuple[datetime, datetime]:
    """Sort key by creation (the slot when the creation time is unknown; slots break ties)."""
    return (item.created_at or item.slot, item.slot)


@dataclass(frozen=True)
class NewestCopy(JsonModel):
    """The newest copy of a disk started in a region: its replica and its source's time."""

    replica_id: str
    slot: datetime
    created_at: datetime | None = None

    def is_newer_than(self, other: Created) -> bool:
        """Whether this copy's source was created after ``other`` (a point or a copy)."""
        return creation_order(self) > creation_order(other)

    @classmethod
    def of(cls, replica: RecoveryPoint, source: RecoveryPoint) -> NewestCopy:
        return cls(replica.id, source.slot, source.created_at)


@dataclass(frozen=True)
class DiskOutcome(JsonModel):
    """What happened to one disk of a VM in one run (points in both regions, or why not)."""

    disk_id: str
    disk_name: str
    lun: int | None
    point: RecoveryPoint | None = None
    error: Failure | None = None
    replica: RecoveryPoint | None = None
    replica_error: Failure | None = None
    replica_note: str | None = None
    writes: tuple[AzureWrite, ...] = ()  # the audit trail of this disk's Azure writes
    #: What the user should know about the point Azure made, e.g. a file-system-consistent
    #: restore point where an application-consistent one was asked for.
    note: str | None = None

    @property
    def usable(self) -> bool:
        return self.point is not None and self.point.state == "usable"

    @property
    def replicated(self) -> bool:
        return self.replica is not None and self.replica.state == "usable"


@dataclass(frozen=True)
class VmOutcome(JsonModel):
    """One VM's consistency group in one run."""

    vm_id: str
    vm_name: str
    policy: str
    slot: datetime
    group: str
    state: GroupState
    disks: tuple[DiskOutcome, ...]
    replicate: bool = False
    error: Failure | None = None

    @property
    def replicated(self) -> bool:
        """Every usable point is copied (or was superseded by a newer copy of its disk)."""
        return self.replicate and all(
            disk.replicated or disk.replica_note for disk in self.disks if disk.usable
        )

    @classmethod
    def start(cls, job: ProtectJob) -> VmOutcome:
        """A VM's outcome before anything happened: no point yet for any of its disks."""
        return cls(
            vm_id=job.vm.id,
            vm_name=job.vm.name,
            policy=job.policy.name,
            slot=job.slot,
            group=group_id(job.install_id, job.vm.id, job.slot),
            state="failed",
            disks=tuple(DiskOutcome(d.id, d.name, d.lun) for d in job.vm.disks),
            replicate=job.policy.replicates,
        )


def progress(phase: str, outcomes: Sequence[DiskOutcome]) -> dict[str, Any]:
    """A VM's custom status: the phase and how many of its disks are where."""
    return {
        "phase": phase,
        "disks": len(outcomes),
        "usable": sum(o.usable for o in outcomes),
        "failed": sum(o.error is not None for o in outcomes),
        "replicated": sum(o.replicated for o in outcomes),
    }


@dataclass(frozen=True)
class RunOptions(JsonModel):
    """Knobs of one run, fixed when it starts (orchestrators never read settings)."""

    vm_batch_size: int = 10  # VMs whose points are taken at once
    vms_in_flight: int = 100  # VMs waiting for their points / copies at once
    max_copies: int = 50
    group_deadline_seconds: float = 7200.0
    copy_deadline_seconds: float = 86400.0
    prune: bool = True
    prune_dry_run: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, *, prune: bool = True) -> RunOptions:
        return cls(
            vm_batch_size=settings.vm_batch_size,
            vms_in_flight=settings.vms_in_flight,
            max_copies=settings.max_copies_per_region,
            group_deadline_seconds=settings.group_deadline.total_seconds(),
            copy_deadline_seconds=settings.copy_deadline.total_seconds(),
            prune=prune,
            prune_dry_run=settings.prune_dry_run,
        )


@dataclass(frozen=True)
class CycleJob(JsonModel):
    """Input of ``backup_cycle``: protect a policy's VMs at one slot, then prune.

    ``vms`` is given when the caller already resolved them (an on-demand request);
    otherwise the run takes its own inventory of the policy's target.
    """

    policy: PolicyRef
    slot: datetime
    install_id: str
    trigger: str  # schedule | on-demand | vm-change
    options: RunOptions = RunOptions()
    vms: tuple[VmInfo, ...] | None = None


@dataclass(frozen=True)
class ProtectJob(JsonModel):
    """Input of ``protect_vm``: one VM's consistency group at one slot.

    ``taken`` holds the disks' outcomes when the caller already took the points (a cycle
    takes every VM's points first, so that none waits behind another VM's copies).
    ``trigger`` is the run's (schedule | on-demand | vm-change): only a scheduled run waits
    for Azure's restore point limits instead of skipping the VM.
    """

    vm: VmInfo
    slot: datetime
    policy: PolicyRef
    install_id: str
    options: RunOptions = RunOptions()
    taken: tuple[DiskOutcome, ...] | None = None
    trigger: str = "schedule"


def point_jobs(
    vm: VmInfo, slot: datetime, policy: str, install_id: str
) -> tuple[str, list[PointJob]]:
    """The group id and one job per protected disk of ``vm`` at ``slot``.

    Points live in their disk's resource group (same subscription and region, as Azure
    requires); names and tags are deterministic, so a re-run of the slot adopts them.
    """
    group = group_id(install_id, vm.id, slot)
    consistency: Consistency = "crash"
    jobs = []
    for disk in vm.disks:
        tags = point_tags(
            install_id,
            policy,
            vm.id,
            disk.id,
            disk.unique_id,
            slot,
            group,
            consistency,
            "primary",
            members=len(vm.disks),
        )
        jobs.append(
            PointJob(
                policy=policy,
                vm_id=vm.id,
                disk=disk,
                slot=slot,
                group=group,
                consistency=consistency,
                name=point_name(install_id, vm.id, disk.id, slot),
                resource_group=disk.resource_group,
                tags=tags,
            )
        )
    return group, jobs


def copy_job(point: RecoveryPoint, policy: PolicyRef, install_id: str) -> CopyJob:
    """The replica of ``point`` in the policy's secondary region."""
    if not policy.replicates:
        raise ValueError(f"policy {policy.name} does not replicate")
    assert policy.replica_region and policy.replica_resource_group
    tags = point_tags(
        install_id,
        point.policy,
        point.vm_id,
        point.disk_id,
        point.disk_uid,
        point.slot,
        point.group,
        point.consistency,
        "replica",
        source=point.id,
        members=point.members,
        captured=point.capture_time if point.created_at else None,
    )
    return CopyJob(
        point=point,
        region=policy.replica_region,
        resource_group=policy.replica_resource_group,
        name=point_name(install_id, point.vm_id, point.disk_id, point.slot, role="replica"),
        tags=tags,
    )


def group_state(outcomes: Sequence[DiskOutcome]) -> GroupState:
    """complete: every disk usable; in-progress: some still pending; failed: none usable."""
    if not outcomes:
        return "failed"
    states = [o.point.state if o.point is not None else "failed" for o in outcomes]
    if all(state == "usable" for state in states):
        return "complete"
    if any(state in ("creating", "pending") for state in states):
        return "in-progress"
    if any(state == "usable" for state in states):
        return "partial"
    return "failed"


def same_family(first: RecoveryPoint, second: RecoveryPoint) -> bool:
    """Points of the same snapshot family (same source disk id and unique id)."""
    return first.disk_id == second.disk_id and first.disk_uid == second.disk_uid


def copy_action(
    source: Created,
    existing: HasState | None,
    newest: NewestCopy | None,
    newest_replica: HasState | None,
) -> CopyAction:
    """What to do to copy ``source`` (a point, or a VM restore point's copy job).

    ``existing``: the source's own replica if it exists (found by its deterministic name);
    ``newest``: the newest copy of the disk (or VM) started in the region; ``newest_replica``:
    that copy's replica as Azure reports it now (None if it is gone). Azure copies one point
    of a disk (or VM) at a time and in creation order, so: ``adopt`` the source's replica (a
    re-run); skip (``superseded``) when a newer point was already copied (an older copy can
    no longer be made); wait (``busy``) while another copy is in flight; else ``start``.
    """
    if existing is not None and existing.state != "failed":
        return "adopt"
    if newest is None or newest_replica is None or newest_replica.state == "failed":
        return "start"  # no copy yet, or the newest one is gone or failed
    if newest.is_newer_than(source):
        return "superseded"
    if newest_replica.state in ("creating", "pending"):
        return "busy"
    return "start"


def with_replica(outcome: DiskOutcome, replica: Mapping[str, Any]) -> DiskOutcome:
    """``outcome`` updated with the result of its replicate step."""
    return replace(
        outcome,
        replica=RecoveryPoint.from_dict(replica["replica"]) if replica.get("replica") else None,
        replica_error=Failure.from_dict(replica["error"]) if replica.get("error") else None,
        replica_note=replica.get("note"),
        writes=outcome.writes + tuple(AzureWrite.from_dict(w) for w in replica.get("writes", ())),
    )
