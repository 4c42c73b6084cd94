"""VM restore points as recovery points: identity, state, Azure's limits and copy order (pure).

A policy with ``consistency: vm-crash`` or ``vm-app`` takes one VM restore point per VM and
slot instead of one snapshot per disk. Azure's objects: a *restore point collection* (one
per VM per install, in the VM's resource group; a replica collection in the secondary
region whose ``source.id`` is the primary one), its *VM restore points* (one per slot) and
their *disk restore points* (one per included disk). Each disk restore point is one
:class:`~diskdr.model.RecoveryPoint` of the slot's consistency group, so retention,
compliance and reports treat both kinds of points alike.

Restore points carry no tags. Ownership comes only from the collection's ``diskdr-owner``
tag; the slot (and so the group) is read back from the restore point's deterministic name
and accepted only if :func:`diskdr.naming.restore_point_name` gives exactly that name again
for this install, VM, slot and role. A restore point in one of our collections whose name
does not check out is reported and left alone, never guessed at.

The port (``diskdr.azure.restore_points``) turns SDK models into the plain views below;
everything else here decides without I/O or a clock (``now`` is a parameter).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from diskdr.audit import AzureWrite
from diskdr.backup import DiskOutcome, Failure, NewestCopy, PolicyRef
from diskdr.errors import PointTagsError
from diskdr.inventory import DiskInfo, VmInfo
from diskdr.model import JsonModel, PointState, RecoveryPoint
from diskdr.naming import (
    TAG_HOLD,
    TAG_OWNER,
    TAG_POLICY,
    TAG_ROLE,
    TAG_SOURCE,
    TAG_VM,
    Consistency,
    Role,
    collection_name,
    group_id,
    id_tag_value,
    is_owned_by,
    parse_resource_id,
    restore_point_name,
    same_resource_id_leniently,
)

CRASH_CONSISTENT = "CrashConsistent"
APPLICATION_CONSISTENT = "ApplicationConsistent"
FILE_SYSTEM_CONSISTENT = "FileSystemConsistent"
#: The restore point a policy's consistency asks for, and the ``diskdr-consistency`` value
#: its points report.
CONSISTENCY_MODES = {"vm-crash": CRASH_CONSISTENT, "vm-app": APPLICATION_CONSISTENT}
_CONSISTENCY_OF_MODE: dict[str, Consistency] = {
    CRASH_CONSISTENT: "crash-multi",
    APPLICATION_CONSISTENT: "app",
    # Azure reports Linux application-consistent points taken without pre/post scripts as
    # FileSystemConsistent: all disks at one instant, file systems flushed, applications
    # not quiesced. diskdr claims no more than that: crash-consistent across the disks.
    FILE_SYSTEM_CONSISTENT: "crash-multi",
}
#: The note a run's report carries on each disk of such a point.
FILE_SYSTEM_CONSISTENT_NOTE = (
    "Azure made this application-consistent restore point FileSystemConsistent (a Linux VM "
    "without application pre/post scripts, or a Windows VM whose VSS writers failed): every "
    "disk is captured at one instant with its file systems flushed, but applications were "
    "not quiesced. It is kept and counted as the policy's point."
)


def counted_as(mode: str | None) -> str | None:
    """The consistency mode Azure's spacing and rate limits count a point under: a point
    asked for ``ApplicationConsistent`` that came back ``FileSystemConsistent`` (Linux
    without pre/post scripts; Windows after a VSS failure) is still an application-consistent
    request (DESIGN "Platform facts")."""
    return APPLICATION_CONSISTENT if mode == FILE_SYSTEM_CONSISTENT else mode


# --- Azure's limits (DESIGN "Platform facts"; Learn "Overview of VM restore points") ------
#: Minimum time between two restore points of one VM, per consistency mode.
SPACING = {CRASH_CONSISTENT: timedelta(hours=1), APPLICATION_CONSISTENT: timedelta(hours=3)}
#: Creates per VM per hour per consistency mode, and copies per target collection per hour.
CREATES_PER_HOUR = 3
COPIES_PER_HOUR = 3
HOUR = timedelta(hours=1)
#: Added to every "not before" instant: how Azure rounds the instants it compares is not
#: documented, and a request refused for a few seconds is a request too many.
LIMIT_MARGIN = timedelta(seconds=5)
#: How long to wait before looking again at a VM whose restore point is being created.
IN_PROGRESS_RECHECK = timedelta(minutes=1)

_DISK_RESTORE_POINT = re.compile(
    r"(?P<restore_point>.+/restorePointCollections/[^/]+/restorePoints/[^/]+)"
    r"/diskRestorePoints/[^/]+",
    re.IGNORECASE,
)
_RESTORE_POINT = re.compile(
    r"(?P<collection>.+/restorePointCollections/[^/]+)/restorePoints/[^/]+", re.IGNORECASE
)
_STAMP = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})")
_USABLE_ACCESS_STATES = {"available", "instantaccess", "availablewithinstantaccess"}

CopyAction = Literal["adopt", "start", "busy", "superseded"]


# --- ids ---------------------------------------------------------------------------------
def restore_point_of(point_id: str) -> str | None:
    """The VM restore point a disk restore point id belongs to (None for other ids)."""
    match = _DISK_RESTORE_POINT.fullmatch(point_id.rstrip("/"))
    return match["restore_point"] if match else None


def collection_of(restore_point_id: str) -> str:
    """The collection id of a VM restore point id."""
    match = _RESTORE_POINT.fullmatch(restore_point_id.rstrip("/"))
    if match is None:
        raise ValueError(f"not a VM restore point id: {restore_point_id!r}")
    return match["collection"]


def canonical_id(resource_id: str) -> str:
    """An id in the form diskdr keeps: Azure may answer one without its leading slash
    (spec example RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy)."""
    return "/" + resource_id.strip().strip("/")


def is_restore_point_id(resource_id: str) -> bool:
    return _RESTORE_POINT.fullmatch(resource_id.rstrip("/")) is not None


def deletion_unit(point_id: str) -> str:
    """What must be deleted to remove a recovery point: its VM restore point for a disk
    restore point (Azure deletes restore points whole), else the point itself."""
    return restore_point_of(point_id) or point_id


def collection_resource_id(subscription_id: str, resource_group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Compute/restorePointCollections/{name}"
    )


def collection_tags(
    install_id: str, policy: str, vm_id: str, role: Role, source: str | None = None
) -> dict[str, str]:
    """The tags of a restore point collection diskdr makes (its points carry none).

    ``diskdr-policy`` is the policy that created the collection: it owns the collection,
    and only its pruning judges the collection's points; another policy's run never
    rewrites it (``RestorePointPort.ensure_collection``).
    A replica collection names its source collection in ``diskdr-source``.
    """
    if (role == "replica") != (source is not None):
        raise ValueError("source: a replica collection names its source, a primary one none")
    tags = {
        TAG_OWNER: install_id,
        TAG_POLICY: policy,
        TAG_VM: id_tag_value(vm_id),
        TAG_ROLE: role,
    }
    if source is not None:
        tags[TAG_SOURCE] = id_tag_value(source)
    return tags


def slot_of_name(name: str, install_id: str, vm_id: str, role: Role) -> datetime | None:
    """The slot a restore point named ``name`` was made for, if it is exactly the name this
    install gives the restore point of ``vm_id`` at that slot (None otherwise)."""
    # The stamp is the last one in the name (a VM's name may hold digits too).
    for match in reversed(list(_STAMP.finditer(name))):
        year, month, day, hour, minute = (int(part) for part in match.groups())
        try:
            slot = datetime(year, month, day, hour, minute, tzinfo=UTC)
        except ValueError:
            continue
        if restore_point_name(install_id, vm_id, slot, role) == name:
            return slot
    return None


# --- what Azure says (filled by the port) ---------------------------------------------------
@dataclass(frozen=True)
class CollectionView:
    """A restore point collection: where it is, what it copies, its tags."""

    id: str
    name: str
    region: str
    source_id: str  # the VM, or for a replica collection the source collection
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DiskRestorePointView:
    """One disk restore point as Azure reports it."""

    id: str
    disk_id: str  # the disk it was taken of (for a copy: of the source point)
    disk_uid: str = ""  # the disk's uniqueId (sourceUniqueId)
    sku: str | None = None
    source_id: str | None = None  # a copy's source disk restore point, if Azure names it
    replication: str | None = None  # succeeded | inprogress | failed; None for a local point
    completion_percent: float | None = None
    access_state: str | None = None  # snapshotAccessState (Premium SSD v2 / Ultra)

    @property
    def name(self) -> str:
        return self.id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class RestorePointView:
    """One VM restore point as Azure reports it (disks: as far as they were read)."""

    id: str
    name: str
    provisioning_state: str
    consistency_mode: str | None = None
    created_at: datetime | None = None
    source_restore_point_id: str | None = None  # set on a cross-region copy
    disks: tuple[DiskRestorePointView, ...] = ()

    @property
    def is_copy(self) -> bool:
        return self.source_restore_point_id is not None

    @property
    def provisioning(self) -> str:
        return (self.provisioning_state or "").lower()


# --- our record of one VM restore point ------------------------------------------------------
@dataclass(frozen=True)
class VmRestorePoint(JsonModel):
    """One VM restore point of ours: its identity, overall state and per-disk points."""

    id: str
    name: str
    collection_id: str
    region: str
    role: Role
    owner: str
    policy: str
    vm_id: str  # as written in the collection's diskdr-vm tag (lower case)
    slot: datetime
    group: str
    consistency: Consistency
    state: PointState
    created_at: datetime | None = None
    source_id: str | None = None  # a replica's source restore point (lower case)
    error_code: str | None = None
    hold: bool = False
    points: tuple[RecoveryPoint, ...] = ()
    consistency_mode: str | None = None  # as Azure reports it (``consistency`` is ours)

    @property
    def settled(self) -> bool:
        return self.state in ("usable", "failed")


def disk_point_state(
    restore_point: RestorePointView, disk: DiskRestorePointView
) -> tuple[PointState, float | None, str | None]:
    """(state, completion percent, error code) of one disk restore point.

    The restore point's provisioning state first (``Creating`` → creating, ``Failed`` →
    failed), then the disk restore point's cross-region replication (a copy: in progress →
    pending with its percent, failed → failed) and its access state (Premium SSD v2 / Ultra
    points stay ``Pending`` until their background copy ends).
    """
    provisioning = restore_point.provisioning
    percent = disk.completion_percent
    if provisioning == "failed":
        return "failed", percent, "RestorePointFailed"
    if provisioning != "succeeded":
        return "creating", percent, None
    replication = (disk.replication or "").lower()
    if replication == "failed":
        return "failed", percent, "ReplicationFailed"
    if replication == "inprogress" or (replication and percent is not None and percent < 100):
        return "pending", percent, None
    access = (disk.access_state or "").lower()
    if access and access not in _USABLE_ACCESS_STATES:
        return "pending", percent, None
    return "usable", 100.0 if percent is None else percent, None


def overall_state(
    restore_point: RestorePointView, points: Sequence[RecoveryPoint]
) -> tuple[PointState, str | None]:
    """The state of the whole restore point (it is usable only when every disk is)."""
    provisioning = restore_point.provisioning
    if provisioning == "failed":
        return "failed", "RestorePointFailed"
    if provisioning != "succeeded":
        return "creating", None
    states = {point.state for point in points}
    if not points:
        return "failed", "NoDiskRestorePoints"
    if "failed" in states:
        failed = next(p for p in points if p.state == "failed")
        return "failed", failed.error_code
    if "creating" in states:
        return "creating", None
    if "pending" in states:
        return "pending", None
    return "usable", None


def to_vm_restore_point(
    collection: CollectionView, restore_point: RestorePointView, install_id: str
) -> VmRestorePoint | None:
    """Our record of a restore point in ``collection``; None if the collection is not ours.

    Raises :class:`~diskdr.errors.PointTagsError` when the collection is ours but its tags
    are broken, or the restore point's name is not the one this install gives to a point of
    that VM: ours by location, but not something diskdr may decide about.
    """
    tags = dict(collection.tags or {})
    if not is_owned_by(tags, install_id):
        return None
    where = f"{restore_point.id} (collection {collection.id})"
    problems = []
    lowered = {key.lower(): value for key, value in tags.items()}
    policy = lowered.get(TAG_POLICY, "")
    vm_tag = lowered.get(TAG_VM, "")
    role = lowered.get(TAG_ROLE, "")
    if not policy:
        problems.append(f"{TAG_POLICY}: missing")
    if not vm_tag:
        problems.append(f"{TAG_VM}: missing")
    if role not in ("primary", "replica"):
        problems.append(f"{TAG_ROLE}: expected primary or replica, got {role!r}")
    if role == "replica" and not lowered.get(TAG_SOURCE):
        problems.append(f"{TAG_SOURCE}: missing (required on a replica collection)")
    if problems:
        raise PointTagsError(f"{where}: {TAG_OWNER}={install_id} but {'; '.join(problems)}")
    vm_tag = vm_tag.lower()
    # A primary collection's source is the VM itself: the full id, never a shortened tag.
    vm_id = collection.source_id if role == "primary" else vm_tag
    if role == "primary" and id_tag_value(vm_id) != vm_tag:
        raise PointTagsError(f"{where}: {TAG_VM} {vm_tag!r} is not the collection's source VM")
    slot = slot_of_name(restore_point.name, install_id, vm_id, role)  # type: ignore[arg-type]
    if slot is None:
        raise PointTagsError(
            f"{where}: in a collection of install {install_id}, but its name is not the one "
            "diskdr gives a restore point of this VM; left alone"
        )
    consistency = _CONSISTENCY_OF_MODE.get(restore_point.consistency_mode or "", "inconsistent")
    parts = parse_resource_id(collection.id)
    hold = any(key.lower() == TAG_HOLD for key in tags)
    group = group_id(install_id, vm_id, slot)
    points = []
    for disk in restore_point.disks:
        state, percent, error_code = disk_point_state(restore_point, disk)
        points.append(
            RecoveryPoint(
                id=disk.id,
                name=disk.name,
                region=collection.region,
                resource_group=parts.resource_group,
                subscription_id=parts.subscription_id,
                role=role,  # type: ignore[arg-type]
                owner=install_id,
                policy=policy,
                vm_id=vm_tag,
                disk_id=id_tag_value(disk.disk_id),
                disk_uid=disk.disk_uid.lower(),
                slot=slot,
                group=group,
                consistency=consistency,
                state=state,
                completion_percent=percent,
                error_code=error_code,
                source_id=_disk_source(disk, restore_point.source_restore_point_id),
                created_at=restore_point.created_at,
                hold=hold,
                tags=tags,
                # Azure creates a restore point's disk restore points together, so the
                # ones it lists are the whole group.
                members=len(restore_point.disks) or None,
            )
        )
    state, error_code = overall_state(restore_point, points)
    source = restore_point.source_restore_point_id
    source = canonical_id(source) if source else None
    return VmRestorePoint(
        id=restore_point.id,
        name=restore_point.name,
        collection_id=collection.id,
        region=collection.region,
        role=role,  # type: ignore[arg-type]
        owner=install_id,
        policy=policy,
        vm_id=vm_tag,
        slot=slot,
        group=group,
        consistency=consistency,
        state=state,
        created_at=restore_point.created_at,
        source_id=id_tag_value(source) if source else None,
        error_code=error_code,
        hold=hold,
        points=tuple(points),
        consistency_mode=restore_point.consistency_mode,
    )


def _disk_source(disk: DiskRestorePointView, source_restore_point: str | None) -> str | None:
    """A copy's source disk restore point, as a tag value: the one Azure names, only if it
    is a disk restore point of the copy's ``sourceRestorePoint`` (what a copy came from is
    that id; :func:`link_copies` fills it in when Azure names no source disk point)."""
    if not disk.source_id or not source_restore_point:
        return None
    source = canonical_id(disk.source_id)
    parent = restore_point_of(source)
    if parent is None or not same_resource_id_leniently(parent, source_restore_point):
        return None
    return id_tag_value(source)


def link_copies(restore_points: Iterable[VmRestorePoint]) -> list[VmRestorePoint]:
    """The restore points with each copy's disk points linked to their sources.

    A copy names its source by the VM restore point's ``sourceRestorePoint.id`` only:
    Azure's copied disk restore points name the source *disk* in ``sourceResourceId`` (spec
    example DiskRestorePoint_Get_WhenSourceResourceIsFromDifferentRegion). So each disk
    point of a copy gets, as ``source_id``, the point of the same disk in the restore point
    its ``sourceRestorePoint`` names — what retention keeps as the base of the next copy
    (:func:`diskdr.prune.copy_bases`). A copy whose source is not among ``restore_points``
    keeps what Azure said.
    """
    restore_points = list(restore_points)
    primaries = {id_tag_value(rp.id): rp for rp in restore_points if rp.role == "primary"}
    linked = []
    for restore_point in restore_points:
        source = primaries.get(restore_point.source_id or "")
        if restore_point.role != "replica" or source is None:
            linked.append(restore_point)
            continue
        by_disk = {point.disk_id: id_tag_value(point.id) for point in source.points}
        points = tuple(
            replace(point, source_id=by_disk.get(point.disk_id, point.source_id))
            for point in restore_point.points
        )
        linked.append(replace(restore_point, points=points))
    return linked


def copy_of(
    points: Iterable[RestorePointView], source_restore_point: str
) -> RestorePointView | None:
    """The copy of ``source_restore_point`` among a replica collection's restore points,
    found by what each copy says it came from (``sourceRestorePoint.id``), not by its name;
    one that did not fail first."""
    copies = [
        point
        for point in points
        if point.source_restore_point_id
        and same_resource_id_leniently(point.source_restore_point_id, source_restore_point)
    ]
    copies.sort(key=lambda point: point.provisioning in ("failed", "deleting"))
    return copies[0] if copies else None


def newest_listed_copy(
    points: Iterable[RestorePointView], install_id: str, vm_id: str
) -> NewestCopy | None:
    """The newest copy in a replica collection (the VM's, one region), by its source's
    creation time (a copy keeps its source's ``timeCreated``: Learn "Cross-region copy of VM
    restore points"); failed copies are not copies. None when it holds none."""
    copies = [
        point
        for point in points
        if point.is_copy
        and point.created_at is not None
        and point.provisioning not in ("failed", "deleting")
    ]
    if not copies:
        return None
    newest = max(copies, key=lambda point: (point.created_at, point.name))
    assert newest.created_at is not None
    slot = slot_of_name(newest.name, install_id, vm_id, "replica") or newest.created_at
    return NewestCopy(newest.id, slot, newest.created_at)


def newer_copy(first: NewestCopy | None, second: NewestCopy | None) -> NewestCopy | None:
    """The newer of two newest copies (either may be unknown)."""
    if first is None or second is None:
        return first or second
    return second if second.is_newer_than(first) else first


# --- Azure's limits on creating and copying --------------------------------------------------
@dataclass(frozen=True)
class Refusal:
    """Why a restore point may not be requested now, and from when it may."""

    code: str
    message: str
    not_before: datetime


def admission(
    existing: Iterable[RestorePointView], mode: str, now: datetime, vm_name: str = "the VM"
) -> Refusal | None:
    """Whether Azure's limits let a ``mode`` restore point of a VM be created at ``now``,
    given the VM's restore points (copies are ignored: they are not creations).

    One creation at a time per VM; ``SPACING[mode]`` between two points of a mode; at most
    ``CREATES_PER_HOUR`` creates per mode in any hour (failed ones count: Azure counts
    requests). None when a create is allowed, else the refusal with the instant it will be.
    """
    own = [point for point in existing if not point.is_copy]
    creating = [p for p in own if p.provisioning not in ("succeeded", "failed")]
    if creating:
        return Refusal(
            "RestorePointInProgress",
            f"restore point {creating[0].name} of {vm_name} is still being created; Azure "
            "creates one restore point of a VM at a time",
            now + IN_PROGRESS_RECHECK,
        )
    same_mode = [
        p for p in own if counted_as(p.consistency_mode) == mode and p.created_at is not None
    ]
    spacing = SPACING[mode]
    made = [p for p in same_mode if p.provisioning == "succeeded"]
    if made:
        newest = max(made, key=lambda p: p.created_at or now)
        assert newest.created_at is not None
        allowed = newest.created_at + spacing + LIMIT_MARGIN
        if now < allowed:
            return Refusal(
                "RestorePointTooSoon",
                f"{mode} restore points of {vm_name} must be at least {_hours(spacing)} apart "
                f"(Azure's limit); {newest.name} was created at {newest.created_at.isoformat()}, "
                f"so the next may be created from {allowed.isoformat()}",
                allowed,
            )
    recent = sorted(p.created_at for p in same_mode if p.created_at and p.created_at > now - HOUR)
    if len(recent) >= CREATES_PER_HOUR:
        allowed = recent[-CREATES_PER_HOUR] + HOUR + LIMIT_MARGIN
        return Refusal(
            "RestorePointRateLimited",
            f"{len(recent)} {mode} restore points of {vm_name} were requested within the last "
            f"hour; Azure allows {CREATES_PER_HOUR}; the next may be requested from "
            f"{allowed.isoformat()}",
            allowed,
        )
    return None


def copy_window(starts: Iterable[datetime], now: datetime) -> datetime | None:
    """When the next copy into a target collection may start, given the starts of earlier
    copies (``COPIES_PER_HOUR`` per hour); None when it may start now."""
    recent = sorted(start for start in starts if start > now - HOUR)
    if len(recent) < COPIES_PER_HOUR:
        return None
    return recent[-COPIES_PER_HOUR] + HOUR + LIMIT_MARGIN


def record_copy(
    state: Mapping[str, Any] | None, copy: NewestCopy, started_at: datetime | None
) -> dict[str, Any]:
    """The ``restore_point_copies`` entity's state after a copy of the VM's points was
    started (``started_at``) or adopted (None): the newest copy in creation order, and the
    start times of the last hour's copies (Azure's copies-per-hour limit)."""
    current = dict(state or {})
    newest = NewestCopy.from_dict(current["newest"]) if current.get("newest") else None
    if newest is None or copy.is_newer_than(newest):
        newest = copy
    starts = dict(current.get("starts") or {})
    if started_at is not None:
        starts.setdefault(copy.replica_id, started_at.isoformat())
    if starts:
        latest = max(datetime.fromisoformat(at) for at in starts.values())
        starts = {
            replica: at
            for replica, at in starts.items()
            if datetime.fromisoformat(at) > latest - HOUR
        }
    return {"newest": newest.to_dict(), "starts": starts}


def copy_starts(state: Mapping[str, Any] | None) -> list[datetime]:
    return [datetime.fromisoformat(at) for at in ((state or {}).get("starts") or {}).values()]


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:g} h"


# --- jobs and their results ----------------------------------------------------------------
@dataclass(frozen=True)
class RestorePointJob(JsonModel):
    """Take the VM restore point of one VM at one slot (in its own collection)."""

    policy: str
    vm: VmInfo  # with the disks the run protects: every other disk is excluded
    slot: datetime
    group: str
    consistency: Consistency
    mode: str  # CrashConsistent | ApplicationConsistent
    region: str
    resource_group: str
    collection_name: str
    name: str
    collection_tags: Mapping[str, str]


@dataclass(frozen=True)
class RestorePointTake(JsonModel):
    """What taking a restore point gave: the point, or why not (and maybe from when)."""

    restore_point: VmRestorePoint | None = None
    error: Failure | None = None
    not_before: datetime | None = None  # Azure's limits allow a create from then on
    writes: tuple[AzureWrite, ...] = ()  # the audit trail: each Azure write, as answered

    @property
    def retry_later(self) -> bool:
        """Refused for now (a limit, throttling, a transient error): worth asking again."""
        return self.not_before is not None or (self.error is not None and self.error.transient)


@dataclass(frozen=True)
class RestorePointCopyJob(JsonModel):
    """Copy one primary VM restore point into the policy's secondary region.

    ``newest_copy`` is the newest copy of this VM's points diskdr started in that region
    (the ``restore_point_copies`` entity keeps it): Azure copies a VM's restore points once
    per region and in creation order.
    """

    source_id: str
    source_collection_id: str
    vm_id: str
    policy: str
    slot: datetime
    created_at: datetime | None
    region: str
    resource_group: str
    collection_name: str
    name: str
    collection_tags: Mapping[str, str]
    newest_copy: NewestCopy | None = None


def uses_restore_points(policy: PolicyRef) -> bool:
    return policy.consistency in CONSISTENCY_MODES


def restore_point_job(
    vm: VmInfo, slot: datetime, policy: PolicyRef, install_id: str
) -> RestorePointJob:
    """The restore point of ``vm`` at ``slot``: in the VM's resource group and region, in
    the collection this install keeps for the VM, with deterministic names."""
    mode = CONSISTENCY_MODES[policy.consistency]
    return RestorePointJob(
        policy=policy.name,
        vm=vm,
        slot=slot,
        group=group_id(install_id, vm.id, slot),
        consistency=_CONSISTENCY_OF_MODE[mode],
        mode=mode,
        region=vm.location,
        resource_group=vm.resource_group,
        collection_name=collection_name(vm.id, install_id),
        name=restore_point_name(install_id, vm.id, slot),
        collection_tags=collection_tags(install_id, policy.name, vm.id, "primary"),
    )


def restore_point_copy_job(
    vm_id: str, source: Sequence[RecoveryPoint], policy: PolicyRef, install_id: str
) -> RestorePointCopyJob:
    """The copy of the restore point holding the disk restore points ``source``."""
    if not policy.replicates or not source:
        raise ValueError(f"policy {policy.name}: nothing to copy, or no replicate section")
    assert policy.replica_region and policy.replica_resource_group
    first = source[0]
    source_id = restore_point_of(first.id)
    if source_id is None:
        raise ValueError(f"{first.id} is not a disk restore point")
    source_collection = collection_of(source_id)
    return RestorePointCopyJob(
        source_id=source_id,
        source_collection_id=source_collection,
        vm_id=vm_id,
        policy=policy.name,
        slot=first.slot,
        created_at=first.created_at,
        region=policy.replica_region,
        resource_group=policy.replica_resource_group,
        collection_name=collection_name(vm_id, install_id, "replica"),
        name=restore_point_name(install_id, vm_id, first.slot, "replica"),
        collection_tags=collection_tags(
            install_id, policy.name, vm_id, "replica", source=source_collection
        ),
    )


# --- disk outcomes of a VM's restore point ---------------------------------------------------
def disk_outcomes(
    vm: VmInfo,
    restore_point: VmRestorePoint | None,
    error: Failure | None = None,
    *,
    final: bool = False,
    writes: Iterable[AzureWrite] = (),
) -> list[DiskOutcome]:
    """One outcome per protected disk of ``vm`` from its restore point, or from the error
    that kept it from being taken. ``final``: the waiting is over, so a disk whose point is
    not usable yet missed the group deadline. A point Azure made file-system consistent is
    the policy's point all the same, with a note saying so. ``writes``: the VM's audit trail
    so far."""
    outcomes = [_disk_outcome(disk, restore_point, error, final) for disk in vm.disks]
    if restore_point is not None and restore_point.consistency_mode == FILE_SYSTEM_CONSISTENT:
        outcomes = [
            replace(o, note=FILE_SYSTEM_CONSISTENT_NOTE) if o.point is not None else o
            for o in outcomes
        ]
    return with_writes(outcomes, writes)


def with_writes(outcomes: Sequence[DiskOutcome], writes: Iterable[AzureWrite]) -> list[DiskOutcome]:
    """The outcomes with more of the VM's Azure writes. A restore point's writes are the
    VM's, not one disk's: the first disk's outcome carries them (the run report lists each
    write once, whichever disk holds it)."""
    added = tuple(writes)
    if not outcomes or not added:
        return list(outcomes)
    first = outcomes[0]
    return [replace(first, writes=first.writes + added), *outcomes[1:]]


def writes_of(outcomes: Iterable[DiskOutcome]) -> tuple[AzureWrite, ...]:
    """The audit trail the outcomes carry."""
    return tuple(write for outcome in outcomes for write in outcome.writes)


def _disk_outcome(
    disk: DiskInfo, restore_point: VmRestorePoint | None, error: Failure | None, final: bool
) -> DiskOutcome:
    outcome = DiskOutcome(disk.id, disk.name, disk.lun)
    failure: Failure | None
    if restore_point is None:
        failure = error or Failure(
            "the restore point vanished while waiting for it", code="NotFound"
        )
        return replace(outcome, error=failure)
    point = next((p for p in restore_point.points if p.disk_id == id_tag_value(disk.id)), None)
    if point is None:
        if restore_point.state == "failed":
            failure = error or Failure(
                f"restore point {restore_point.name} failed", code=restore_point.error_code
            )
        elif restore_point.state == "creating":
            # Its disk restore points may be listed only once it is made.
            failure = _deadline(restore_point.name, "creating") if final else None
        else:
            failure = Failure(
                f"disk {disk.name} is not in restore point {restore_point.name}",
                code="DiskNotInRestorePoint",
            )
        return replace(outcome, error=failure)
    if point.state == "failed":
        failure = Failure("the disk restore point failed", code=point.error_code)
    elif final and point.state != "usable":
        failure = _deadline(point.name, point.state)
    else:
        failure = None
    return replace(outcome, point=point, error=failure)


def _deadline(name: str, state: str) -> Failure:
    return Failure(f"{name} was still {state} at the group deadline", code="DeadlineExceeded")


def with_copy(outcomes: Sequence[DiskOutcome], copied: Mapping[str, Any]) -> list[DiskOutcome]:
    """The outcomes with the result of their restore point's copy: each usable disk gets
    its disk's replica point, and the copy's error or note; the copy's writes are added."""
    replica = VmRestorePoint.from_dict(copied["replica"]) if copied.get("replica") else None
    error = Failure.from_dict(copied["error"]) if copied.get("error") else None
    note = copied.get("note")
    by_disk = {point.disk_id: point for point in (replica.points if replica else ())}
    updated = []
    for outcome in outcomes:
        if not outcome.usable or outcome.point is None:
            updated.append(outcome)
            continue
        replica_point = by_disk.get(outcome.point.disk_id)
        replica_error = error
        if replica is not None and replica_point is None and error is None:
            replica_error = Failure(
                f"the copy {replica.name} holds no point of {outcome.disk_name}",
                code="DiskNotInRestorePoint",
            )
        updated.append(
            replace(outcome, replica=replica_point, replica_error=replica_error, replica_note=note)
        )
    copy_writes = (AzureWrite.from_dict(write) for write in copied.get("writes", ()))
    return with_writes(updated, copy_writes)


def restore_point_id_of(outcomes: Iterable[DiskOutcome]) -> str | None:
    """The restore point the outcomes' points belong to (None if none was taken)."""
    for outcome in outcomes:
        if outcome.point is not None:
            return restore_point_of(outcome.point.id)
    return None
