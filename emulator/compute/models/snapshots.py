"""Snapshots: full and incremental snapshots of disks, cross-region CopyStart copies, the
background copy of Premium SSD v2 / Ultra snapshots, export access and deletion — with the
platform limits Azure enforces on them.

Families: the incremental snapshots of one disk *instance* — same
``creationData.sourceResourceId`` and ``sourceUniqueId`` — share an
``incrementalSnapshotFamilyId``; a disk deleted and re-created under the same name starts a
new family. A CopyStart copy joins its source's family in the target region, so "the
previous snapshot of the family" in a region is what an incremental copy sends the changes
against.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from emulator import content
from emulator.arm import check_name, normalize_id, normalize_location
from emulator.compute.exceptions import (
    CopyLimitExceeded,
    InvalidParameter,
    OperationNotAllowed,
    PropertyChangeNotAllowed,
    ResourceNotFound,
    SnapshotRateLimited,
    SnapshotsLimitReached,
    SourceNotFound,
    SourceNotReady,
    UnsupportedCreateOption,
)
from emulator.compute.models.common import (
    SNAPSHOT_SKUS,
    AccessGrant,
    BackgroundCopy,
    ComputeResource,
    new_unique_id,
    start_hydration,
)
from emulator.compute.models.disks import (
    SOURCE_TARGET,
    Disk,
    DiskHydrating,
    find_source,
    inherited_properties,
    parse_grant,
    parse_size,
    parse_tags,
)
from emulator.content import BLOCK_SIZE, BlockMap

if TYPE_CHECKING:
    from emulator.compute.models import ComputeBackend
    from emulator.lro import Operation

READ_ONLY_SNAPSHOT_PROPERTIES = frozenset(
    {
        "timeCreated",
        "diskSizeBytes",
        "diskState",
        "uniqueId",
        "provisioningState",
        "incrementalSnapshotFamilyId",
        "completionPercent",
        "copyCompletionError",
        "snapshotAccessState",
    }
)


@dataclass(eq=False)
class Snapshot(ComputeResource):
    TYPE: ClassVar[str] = "snapshots"

    sku: str = "Standard_LRS"
    size_gb: int = 0
    creation_data: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    extended_location: dict[str, Any] | None = None
    incremental: bool = False
    family_id: str | None = None  # incrementalSnapshotFamilyId
    family_key: tuple[str, str] | None = None  # (source disk id, source disk uniqueId)
    unique_id: str = field(default_factory=new_unique_id)
    time_created: float = 0.0
    content: BlockMap = field(default_factory=lambda: content.EMPTY)
    changed_blocks: int = 0  # vs the previous snapshot of its family in its region
    provisioning_state: str = "Succeeded"
    access_state: str = "Available"
    instant_access_until: float | None = None
    background: BackgroundCopy | None = None
    copy_source_id: str | None = None  # CopyStart: the source snapshot's id
    copy_source_time: float | None = None  # CopyStart: the source snapshot's timeCreated
    copy_error: dict[str, str] | None = None
    sas: AccessGrant | None = None

    @property
    def disk_state(self) -> str:
        return "ActiveSAS" if self.sas is not None else "Unattached"

    def completion_percent(self, now: float) -> float | None:
        return None if self.background is None else self.background.percent(now)

    @property
    def data_ready(self) -> bool:
        """Whether the snapshot's data can be read (restored, copied, exported)."""
        return (
            self.provisioning_state == "Succeeded"
            and self.copy_error is None
            and (self.background is None or self.background.finished)
        )

    def check_usable(self) -> None:
        """Raise unless disks can be created from this snapshot now."""
        if self.provisioning_state != "Succeeded":
            raise SourceNotReady(
                f"Snapshot {self.name} is in provisioning state {self.provisioning_state}."
            )
        if self.copy_error is not None:
            raise SourceNotReady(
                f"Snapshot {self.name} failed to copy ({self.copy_error['errorCode']}) and "
                "cannot be used."
            )
        if self.background is not None and not self.background.finished:
            raise SourceNotReady(
                f"Snapshot {self.name} is not ready: its background copy has not completed "
                "(wait for completionPercent 100)."
            )


class SnapshotBackendMixin:
    """Snapshot operations of a subscription's ``ComputeBackend``."""

    snapshots: dict[tuple[str, str], Snapshot]

    # --- lookups -----------------------------------------------------------------------

    def get_snapshot(self: ComputeBackend, resource_group: str, name: str) -> Snapshot:
        self.check_group(resource_group)
        snapshot = self.snapshots.get((resource_group.lower(), name.lower()))
        if snapshot is None:
            raise ResourceNotFound.for_resource("Microsoft.Compute/snapshots", name, resource_group)
        return snapshot

    def list_snapshots(self: ComputeBackend, resource_group: str | None = None) -> list[Snapshot]:
        if resource_group is None:
            return list(self.snapshots.values())
        self.check_group(resource_group)
        rg = resource_group.lower()
        return [s for (g, _), s in self.snapshots.items() if g == rg]

    # --- create ------------------------------------------------------------------------

    def begin_create_or_update_snapshot(
        self: ComputeBackend, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[Snapshot, Operation, bool]:
        self.check_group(resource_group)
        check_name(name, kind="snapshot")
        existing = self.snapshots.get((resource_group.lower(), name.lower()))
        if existing is not None:
            return existing, self._update_snapshot_by_put(existing, body), False

        location = normalize_location(body.get("location", ""))
        if not location:
            raise InvalidParameter(
                "The location property is required.", target="location", code="LocationRequired"
            )
        self.check_name_free(resource_group, name, location, "snapshots")
        props = dict(body.get("properties") or {})
        creation = dict(props.pop("creationData", None) or {})
        option = str(creation.get("createOption") or "")
        snapshot = Snapshot(
            subscription=self.subscription,
            resource_group=self.group_name(resource_group),
            name=name,
            location=location,
            tags=parse_tags(body.get("tags")) or {},
            creation_data=creation,
            extended_location=body.get("extendedLocation"),
            time_created=self.world.now(),
        )
        requested_incremental = props.pop("incremental", None)
        requested_sku = (body.get("sku") or {}).get("name")
        if requested_sku is not None and requested_sku not in SNAPSHOT_SKUS:
            raise InvalidParameter(f"Unknown snapshot sku '{requested_sku}'.", target="sku.name")
        size = parse_size(props.pop("diskSizeGB", None))
        for key in READ_ONLY_SNAPSHOT_PROPERTIES:
            props.pop(key, None)
        snapshot.properties = props

        # A refusal found while creating: the snapshot is left behind, Failed.
        failure: Exception | None = None
        match option.lower():
            case "copy":
                failure = self._snapshot_of_source(snapshot, requested_incremental)
            case "copystart":
                if requested_incremental is False:
                    raise InvalidParameter(
                        "CopyStart copies an incremental snapshot to an incremental snapshot; "
                        "incremental cannot be false.",
                        target="properties.incremental",
                    )
                self._start_copy(snapshot)
            case "import":
                snapshot.incremental = bool(requested_incremental)
                snapshot.size_gb = size or 0
            case "":
                raise InvalidParameter(
                    "createOption is required.", target="properties.creationData.createOption"
                )
            case _:
                raise UnsupportedCreateOption(option, "snapshots")
        if snapshot.incremental:
            # Incremental snapshots always live on Standard HDD storage.
            snapshot.sku = "Standard_LRS"
        else:
            snapshot.sku = requested_sku or "Standard_LRS"
        if size is not None and size > snapshot.size_gb:
            snapshot.size_gb = size
        snapshot.provisioning_state = "Updating"
        self.snapshots[snapshot.key] = snapshot

        def finish(when: float) -> None:
            if failure is not None:
                snapshot.provisioning_state = "Failed"
                raise failure
            snapshot.provisioning_state = "Succeeded"
            self.announce_write(snapshot, when)

        op = self.begin("Snapshots_CreateOrUpdate", snapshot, finish=finish)
        return snapshot, op, True

    def _snapshot_of_source(
        self: ComputeBackend, snapshot: Snapshot, requested_incremental: Any
    ) -> Exception | None:
        """``Copy``: snapshot a disk (or copy a snapshot) in the same region."""
        source = find_source(self, snapshot.creation_data, "Copy", location=snapshot.location)
        incremental = bool(requested_incremental)
        if isinstance(source, Snapshot):
            source.check_usable()
            snapshot.content = source.content
            snapshot.size_gb = source.size_gb
            snapshot.properties = {**inherited_properties(source.properties), **snapshot.properties}
            snapshot.creation_data["sourceUniqueId"] = source.unique_id
            if incremental and source.incremental:
                snapshot.incremental = True
                snapshot.family_id = source.family_id
                snapshot.family_key = source.family_key
            return None
        if not isinstance(source, Disk):
            raise InvalidParameter(
                f"'{source.id}' is neither a disk nor a snapshot.", target=SOURCE_TARGET
            )
        disk = source
        if disk.background_copy_sku and not incremental:
            raise InvalidParameter(
                f"Disk {disk.name} is {disk.sku}: only incremental snapshots are supported.",
                target="properties.incremental",
            )
        snapshot.content = disk.content  # the disk's data at this instant
        snapshot.size_gb = disk.size_gb
        snapshot.properties = {**inherited_properties(disk.properties), **snapshot.properties}
        snapshot.creation_data["sourceUniqueId"] = disk.unique_id
        snapshot.incremental = incremental
        if not incremental:
            return None
        snapshot.family_key = disk.family_key
        family = self.family(disk.family_key, snapshot.location)
        snapshot.family_id = family[0].family_id if family else str(uuid.uuid4())
        previous = family[-1] if family else None
        snapshot.changed_blocks = content.changed_blocks(
            snapshot.content, previous.content if previous else None
        )
        if disk.background_copy_sku:
            self._check_not_hydrating(disk)
            self._check_pending_snapshots(disk, family)
        self._check_snapshot_rate(disk, snapshot)
        disk.recent_snapshots.append(snapshot.time_created)
        failure = None
        limit = self.world.config.limits.incremental_snapshots_per_disk
        if len(family) >= limit:
            failure = SnapshotsLimitReached(disk.name, limit)
            self.violation("incrementalSnapshotsPerDisk", failure, disk.id)
        if disk.background_copy_sku:
            minutes = snapshot.creation_data.get("instantAccessDurationMinutes")
            snapshot.background = start_hydration(
                self.world,
                snapshot,
                snapshot.changed_blocks * BLOCK_SIZE,
                minutes if isinstance(minutes, int) and minutes > 0 else None,
            )
        return failure

    def _check_not_hydrating(self: ComputeBackend, disk: Disk) -> None:
        """No snapshot of a Premium SSD v2 / Ultra disk while it hydrates: 409, nothing made."""
        try:
            disk.check_not_hydrating(self.world.now())
        except DiskHydrating as error:
            self.violation("snapshotWhileHydrating", error, disk.id)
            raise

    def _check_pending_snapshots(self: ComputeBackend, disk: Disk, family: list[Snapshot]) -> None:
        """Premium SSD v2 / Ultra: at most ``pendingSnapshotsPerDisk`` (3) snapshots of a
        disk whose background copy has not ended (Learn "Create an incremental snapshot for
        managed disks", Premium SSD v2 and Ultra restrictions); refused at once."""
        limit = self.world.config.limits.pending_snapshots_per_disk
        pending = [s for s in family if s.background is not None and not s.background.finished]
        if len(pending) >= limit:
            error = OperationNotAllowed(
                f"Disk {disk.name} already has {len(pending)} snapshots whose background copy "
                f"is in progress; at most {limit} are allowed for {disk.sku} disks. Retry once "
                "one of them is complete."
            )
            self.violation("pendingSnapshotsPerDisk", error, disk.id)
            raise error

    def _check_snapshot_rate(self: ComputeBackend, disk: Disk, snapshot: Snapshot) -> None:
        limits = self.world.config.limits
        window_start = snapshot.time_created - limits.snapshot_window_seconds
        while disk.recent_snapshots and disk.recent_snapshots[0] <= window_start:
            disk.recent_snapshots.popleft()
        if len(disk.recent_snapshots) >= limits.snapshots_per_disk_per_window:
            error = SnapshotRateLimited(
                disk.name, limits.snapshots_per_disk_per_window, limits.snapshot_window_seconds
            )
            self.violation("snapshotsPerDiskPerWindow", error, disk.id)
            raise error

    # --- cross-region copy -------------------------------------------------------------

    def _start_copy(self: ComputeBackend, snapshot: Snapshot) -> None:
        """``CopyStart``: copy an incremental snapshot (usually into another region).

        The PUT's LRO ends quickly; the data arrives later, ``completionPercent`` growing in
        proportion to the data that changed since the family's previous snapshot in the
        target region. Restrictions (Microsoft's "Copy an incremental snapshot to a new
        region"): 100 copies in flight per subscription per target region, one copy per
        disk (family) at a time, copies in creation order.
        """
        source = find_source(self, snapshot.creation_data, "CopyStart")
        if not isinstance(source, Snapshot):
            raise SourceNotFound(source.name)
        if not source.incremental:
            raise InvalidParameter(
                f"Snapshot {source.name} is a full snapshot; CopyStart copies only incremental "
                "snapshots.",
                target=SOURCE_TARGET,
            )
        if not source.data_ready:
            raise SourceNotReady(
                f"Snapshot {source.name} cannot be copied yet: it is not complete "
                f"(provisioningState {source.provisioning_state}, "
                f"snapshotAccessState {source.access_state})."
            )
        region = snapshot.location
        limits = self.world.config.limits
        in_flight = self.copies_in_flight(region)
        if len(in_flight) >= limits.copies_in_flight_per_region:
            self._refuse_copy(
                "copiesInFlightPerRegion",
                f"Subscription {self.subscription} already has {len(in_flight)} snapshot copies "
                f"in progress into region {region} (at most "
                f"{limits.copies_in_flight_per_region} at a time).",
                source,
            )
        family_copies = [
            s
            for s in self.service.all_snapshots()
            if s.family_key == source.family_key and s.copy_source_id is not None
        ]
        for other in family_copies:
            if other.background is not None and other.background.in_flight:
                self._refuse_copy(
                    "oneCopyPerDisk",
                    f"Snapshot {other.name} of the same disk is still being copied; only one "
                    "incremental snapshot of a disk can be copied at a time.",
                    source,
                )
        newer = [
            s
            for s in family_copies
            if s.location == region
            and s.copy_source_time is not None
            and s.copy_source_time > source.time_created
        ]
        if newer:
            self._refuse_copy(
                "copyInCreationOrder",
                f"Snapshot {newer[0].name} in {region} was copied from a snapshot newer than "
                f"{source.name}; snapshots of a disk must be copied in the order they were "
                "created.",
                source,
            )

        # The previous copy of this family already in the target region is the base.
        base = [
            s
            for s in self.family(source.family_key, region)
            if s.data_ready and (s.copy_source_time or s.time_created) < source.time_created
        ]
        changed = content.changed_blocks(source.content, base[-1].content if base else None)
        speedup = (
            2.0
            if snapshot.creation_data.get("provisionedBandwidthCopySpeed") == "Enhanced"
            else 1.0
        )
        now = snapshot.time_created
        seconds = self.world.config.copy.seconds(changed * BLOCK_SIZE, speedup)
        snapshot.incremental = True
        snapshot.family_key = source.family_key
        snapshot.family_id = source.family_id
        snapshot.size_gb = source.size_gb
        snapshot.properties = {**inherited_properties(source.properties), **snapshot.properties}
        snapshot.creation_data["sourceUniqueId"] = source.unique_id
        snapshot.copy_source_id = source.id
        snapshot.copy_source_time = source.time_created
        snapshot.changed_blocks = changed
        snapshot.access_state = "Pending"
        snapshot.background = BackgroundCopy(now, now + seconds, changed * BLOCK_SIZE)
        source_content = source.content
        self.world.stats.record_copies_in_flight(
            f"{self.subscription}/{region}", len(in_flight) + 1
        )

        def done(when: float) -> None:
            job = snapshot.background
            if job is None or not job.in_flight:
                return
            job.finished = True
            snapshot.content = source_content
            snapshot.access_state = "Available"

        self.world.at(snapshot.background.end, done)

    def _refuse_copy(self: ComputeBackend, limit: str, message: str, source: Snapshot) -> None:
        error = CopyLimitExceeded(message)
        self.violation(limit, error, source.id)
        raise error

    def copies_in_flight(self: ComputeBackend, region: str) -> list[Snapshot]:
        """This subscription's CopyStart copies into ``region`` whose data is still moving."""
        return [
            s
            for s in self.snapshots.values()
            if s.location == region
            and s.copy_source_id is not None
            and s.background is not None
            and s.background.in_flight
        ]

    def family(
        self: ComputeBackend, family_key: tuple[str, str] | None, region: str
    ) -> list[Snapshot]:
        """The incremental snapshots of one family in ``region``, oldest first."""
        if family_key is None:
            return []
        members = [
            s
            for s in self.snapshots.values()
            if s.incremental and s.family_key == family_key and s.location == region
        ]
        return sorted(members, key=lambda s: (s.copy_source_time or s.time_created, s.time_created))

    # --- update ------------------------------------------------------------------------

    def _update_snapshot_by_put(
        self: ComputeBackend, snapshot: Snapshot, body: dict[str, Any]
    ) -> Operation:
        location = normalize_location(body.get("location", "")) or snapshot.location
        self.check_name_free(snapshot.resource_group, snapshot.name, location, "snapshots")
        props = dict(body.get("properties") or {})
        creation = props.pop("creationData", None) or {}
        for key in ("createOption", "sourceResourceId", "sourceUri"):
            if key in creation and not _same_value(creation[key], snapshot.creation_data.get(key)):
                raise PropertyChangeNotAllowed(
                    f"Changing property 'creationData.{key}' is not allowed.",
                    target=f"properties.creationData.{key}",
                )
        if "incremental" in props and bool(props["incremental"]) != snapshot.incremental:
            raise PropertyChangeNotAllowed(
                "Changing property 'incremental' is not allowed.", target="properties.incremental"
            )
        patch: dict[str, Any] = {"properties": props, "tags": body.get("tags") or {}}
        if body.get("sku"):
            patch["sku"] = body["sku"]
        return self._begin_snapshot_update(snapshot, patch, "Snapshots_CreateOrUpdate")

    def begin_update_snapshot(
        self: ComputeBackend, resource_group: str, name: str, patch: dict[str, Any]
    ) -> tuple[Snapshot, Operation]:
        snapshot = self.get_snapshot(resource_group, name)
        return snapshot, self._begin_snapshot_update(snapshot, patch, "Snapshots_Update")

    def _begin_snapshot_update(
        self: ComputeBackend, snapshot: Snapshot, patch: dict[str, Any], operation_id: str
    ) -> Operation:
        if snapshot.provisioning_state == "Deleting":
            raise OperationNotAllowed(f"Snapshot {snapshot.name} is being deleted.")
        props = dict(patch.get("properties") or {})
        for key in READ_ONLY_SNAPSHOT_PROPERTIES | {"creationData", "incremental"}:
            props.pop(key, None)
        size = parse_size(props.pop("diskSizeGB", None))
        sku = (patch.get("sku") or {}).get("name")
        if sku is not None:
            if sku not in SNAPSHOT_SKUS:
                raise InvalidParameter(f"Unknown snapshot sku '{sku}'.", target="sku.name")
            if snapshot.incremental and sku != snapshot.sku:
                raise OperationNotAllowed(
                    "The sku of an incremental snapshot cannot be changed (always Standard_LRS)."
                )
            snapshot.sku = sku
        tags = parse_tags(patch.get("tags"))
        if tags is not None:
            snapshot.tags = tags
        if size is not None and size > snapshot.size_gb:
            snapshot.size_gb = size
        snapshot.properties.update(props)
        previous_state = snapshot.provisioning_state
        snapshot.provisioning_state = "Updating"

        def finish(when: float) -> None:
            # A Failed snapshot stays Failed: updating its tags does not make it usable.
            snapshot.provisioning_state = "Failed" if previous_state == "Failed" else "Succeeded"
            self.announce_write(snapshot, when)

        return self.begin(operation_id, snapshot, finish=finish)

    # --- delete ------------------------------------------------------------------------

    def begin_delete_snapshot(
        self: ComputeBackend, resource_group: str, name: str
    ) -> Operation | None:
        self.check_group(resource_group)
        snapshot = self.snapshots.get((resource_group.lower(), name.lower()))
        if snapshot is None:
            return None
        if snapshot.sas is not None:
            raise OperationNotAllowed(
                f"Snapshot {snapshot.name} has an active SAS; end access (endGetAccess) before "
                "deleting."
            )
        snapshot.provisioning_state = "Deleting"
        self._fail_copies_reading(snapshot)

        def finish(when: float) -> None:
            self.snapshots.pop(snapshot.key, None)
            self.announce_delete(snapshot, when)

        return self.begin("Snapshots_Delete", snapshot, finish=finish)

    def _fail_copies_reading(self: ComputeBackend, source: Snapshot) -> None:
        """Deleting a copy's source before the copy ends fails the copy."""
        now = self.world.now()
        for target in self.service.all_snapshots():
            job = target.background
            if (
                target.copy_source_id
                and normalize_id(target.copy_source_id) == normalize_id(source.id)
                and job is not None
                and job.in_flight
            ):
                job.failed_at = now
                target.copy_error = {
                    "errorCode": "CopySourceNotFound",
                    "errorMessage": (
                        f"The source snapshot {source.id} was deleted before the copy completed."
                    ),
                }
                self.copy_failed("copySourceDeleted", target.id, target.copy_error["errorMessage"])

    # --- export access -----------------------------------------------------------------

    def begin_grant_snapshot_access(
        self: ComputeBackend, resource_group: str, name: str, body: dict[str, Any]
    ) -> Operation:
        snapshot = self.get_snapshot(resource_group, name)
        access, seconds = parse_grant(body)
        if not snapshot.data_ready or snapshot.access_state == "InstantAccess":
            raise SourceNotReady(
                f"Snapshot {snapshot.name} cannot be exported yet "
                f"(snapshotAccessState {snapshot.access_state})."
            )
        grant = self.grant_access(snapshot, access, seconds)
        return self.begin(
            "Snapshots_GrantAccess", snapshot, finish=lambda when: {"accessSAS": grant.url}
        )

    def begin_revoke_snapshot_access(
        self: ComputeBackend, resource_group: str, name: str
    ) -> Operation:
        snapshot = self.get_snapshot(resource_group, name)
        snapshot.sas = None
        return self.begin("Snapshots_RevokeAccess", snapshot)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip("/").lower() == b.strip("/").lower()
    return a == b
