"""VM restore points: restore point collections, VM restore points and their disk restore points,
cross-region copies, and the platform rules Azure applies to them.

A VM restore point captures every included disk of a VM **at one instant** (the PUT's world
time): each disk restore point keeps a reference to its disk's block map as it was then, so
writes that land after the create call returned are in none of them. Disk restore points are
incremental snapshots under the hood: those of one disk instance form a family (``familyId``)
per region, and a copy sends only the blocks changed since the family's previous copy in the
target region.

Rules and their sources (details and error codes in docs/emulator.md):

- Learn "Overview of VM restore points": 3 creates per VM per hour per consistency mode and 3
  copies per target collection per hour (HTTP 429); Ultra, Premium SSD v2 and
  write-accelerated disks are not supported in crash-consistent points; at most 500 points
  per VM; no concurrent creation on one VM.
- Learn "Support matrix for VM restore points": at least 1 hour between crash-consistent and
  3 hours between application-consistent points of a VM.
- Learn "Troubleshoot restore point failures": the error codes (``VMAgentStatusCommunicationError``,
  ``VMRestorePointClientError``, ``DiskRestorePointUsedByCustomer``, ...).
- Learn "Cross-region copy of VM restore points" (how-to and limitations): the copy's
  ``provisioningState`` is ``Succeeded`` once the copy is initiated; progress is in the instance
  view, updated every 10 minutes; no copy of a copy; one copy of a point per target region;
  copies in creation order; a disk restored before the copy completes is not checked.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from emulator import content
from emulator.arm import check_name, iso, normalize_id, normalize_location, parse_resource_id
from emulator.compute.exceptions import (
    BadRequest,
    InvalidParameter,
    OperationNotAllowed,
    PropertyChangeNotAllowed,
    ResourceNotFound,
    SourceNotFound,
    SourceNotReady,
)
from emulator.compute.models.common import (
    BACKGROUND_COPY_SKUS,
    AccessGrant,
    BackgroundCopy,
    ComputeResource,
    new_unique_id,
    start_hydration,
)
from emulator.compute.models.disks import (
    Disk,
    DiskSource,
    find_source,
    parse_grant,
    parse_tags,
    register_disk_source,
)
from emulator.compute.models.vms import VirtualMachine
from emulator.content import BLOCK_SIZE, BlockMap
from emulator.errors import ArmError
from emulator.lro import retry_hint

if TYPE_CHECKING:
    from diskdr.clock import WorldClock
    from emulator.compute.models import ComputeBackend
    from emulator.lro import Operation

CRASH_CONSISTENT = "CrashConsistent"
APPLICATION_CONSISTENT = "ApplicationConsistent"
FILE_SYSTEM_CONSISTENT = "FileSystemConsistent"
CONSISTENCY_MODES = (CRASH_CONSISTENT, APPLICATION_CONSISTENT)
# Azure refreshes a cross-region copy's progress every 10 minutes (Learn, copy limitations).
PROGRESS_INTERVAL_SECONDS = 600.0
HOUR = 3600.0
# Instant access of Premium SSD v2 / Ultra disk restore points (Learn: 60-300, default 300).
DEFAULT_INSTANT_ACCESS_MINUTES = 300


class VMRestorePointClientError(ArmError):
    """A restore point the compute service could not create (Learn, troubleshooting)."""

    status = 409
    code = "VMRestorePointClientError"


class VMAgentStatusCommunicationError(ArmError):
    """The VM agent did not answer: application-consistent points need it."""

    status = 409
    code = "VMAgentStatusCommunicationError"


class DiskRestorePointUsedByCustomer(ArmError):
    status = 409
    code = "DiskRestorePointUsedByCustomer"

    def __init__(self) -> None:
        super().__init__(
            "There is an active shared access signature outstanding for disk restore point. "
            "Call EndGetAccess before deleting the restore point."
        )


@dataclass(eq=False)
class DiskRestorePoint:
    """One disk of a VM restore point: the disk's block map at the point's instant."""

    restore_point: RestorePoint
    name: str
    # The disk the point was taken of, for a copy too (spec example DiskRestorePoint_Get_
    # WhenSourceResourceIsFromDifferentRegion): the copy's source is in
    # ``source_disk_restore_point_id``.
    source_resource_id: str
    source_unique_id: str
    family_key: tuple[str, str]  # (disk id, disk uniqueId): the incremental chain
    family_id: str
    size_gb: int
    sku: str  # the source disk's sku
    disk_name: str
    disk_id: str
    lun: int | None  # None: the OS disk
    caching: str
    write_accelerator: bool
    managed_disk_extra: dict[str, Any]
    properties: dict[str, Any]  # osType, hyperVGeneration, ... inherited from the disk
    content: BlockMap
    changed_blocks: int
    captured_while_frozen: bool
    unique_id: str = field(default_factory=new_unique_id)
    # A copy (or a point created in another region than its VM): the data on its way.
    source_location: str | None = None
    replication: BackgroundCopy | None = None
    source_disk_restore_point_id: str | None = None
    # Premium SSD v2 / Ultra: the background copy out of the disk's storage.
    hydration: BackgroundCopy | None = None
    access_state: str = "Available"
    instant_access_until: float | None = None
    sas: AccessGrant | None = None

    @property
    def id(self) -> str:
        return f"{self.restore_point.id}/diskRestorePoints/{self.name}"

    @property
    def location(self) -> str:
        return self.restore_point.location

    @property
    def time_created(self) -> float:
        return self.restore_point.time_created

    @property
    def resource_type(self) -> str:
        return "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints"

    @property
    def replication_state(self) -> str | None:
        job = self.replication
        if job is None:
            return None
        if job.finished:
            return "Succeeded"
        return "Failed" if job.failed_at is not None else "InProgress"

    def replication_percent(self, now: float) -> int:
        """Progress as Azure reports it: refreshed every 10 minutes, 0 once failed."""
        job = self.replication
        if job is None or job.finished:
            return 100
        if job.failed_at is not None:
            return 0
        elapsed = max(0.0, now - job.start)
        reported = elapsed - elapsed % PROGRESS_INTERVAL_SECONDS
        span = job.end - job.start
        return int(min(99.0, reported / span * 100)) if span > 0 else 0

    @property
    def data_ready(self) -> bool:
        """Whether the data can be exported or copied on (fully here, fully hydrated)."""
        return (
            self.restore_point.provisioning_state == "Succeeded"
            and (self.replication is None or self.replication.finished)
            and (self.hydration is None or self.hydration.finished)
        )

    def check_restorable(self) -> None:
        """Raise unless a disk can be created from this point now.

        A copy still replicating *can* be restored from: Azure does not check (Learn, copy
        limitations), and the disk gets only what already reached the target region.
        """
        if self.restore_point.provisioning_state != "Succeeded":
            raise SourceNotReady(
                f"Restore point {self.restore_point.name} is in provisioning state "
                f"{self.restore_point.provisioning_state}."
            )
        if self.replication is not None and self.replication.failed_at is not None:
            raise SourceNotReady(f"Disk restore point {self.name} failed to replicate.")
        if self.access_state == "Pending":
            raise SourceNotReady(
                f"Disk restore point {self.name} is not ready: its background copy has not "
                "completed."
            )

    def content_details(self) -> dict[str, Any]:
        """Facts for ``GET /_emulator/content``: when and how the data was captured."""
        return {
            "sizeGB": self.size_gb,
            "changedBlocks": self.changed_blocks,
            "consistencyMode": self.restore_point.consistency_mode,
            "capturedAt": self.restore_point.captured_at,
            "capturedWhileFrozen": self.captured_while_frozen,
            "sourceDiskId": self.disk_id,
        }


@dataclass(eq=False)
class RestorePoint:
    """A VM restore point: the VM's configuration and one disk restore point per disk."""

    collection: RestorePointCollection
    name: str
    consistency_mode: str  # what Azure reports (see ``reported_mode``)
    exclude_disks: list[dict[str, Any]]
    time_created: float  # a copy shows its source's creation time (Learn)
    captured_at: float  # world time the disks were captured
    requested_at: float  # world time of the PUT (limits count requests)
    vm_key: str  # the source VM's normalized id (limits are per VM)
    vm: dict[str, Any]  # the VM's configuration at capture (sourceMetadata)
    provisioning_state: str = "Creating"
    source_restore_point_id: str | None = None
    instant_access_minutes: int | None = None
    disk_restore_points: dict[str, DiskRestorePoint] = field(default_factory=dict)
    failure: ArmError | None = None  # found at request time, reported when the LRO ends
    # The mode asked for, when Azure reports another (a Linux VM's ApplicationConsistent
    # point without pre/post scripts is FileSystemConsistent); limits count the request.
    requested_mode: str | None = None

    @property
    def counted_mode(self) -> str:
        """The consistency mode Azure's spacing and rate limits count the point under."""
        return self.requested_mode or self.consistency_mode

    @property
    def id(self) -> str:
        return f"{self.collection.id}/restorePoints/{self.name}"

    @property
    def location(self) -> str:
        return self.collection.location

    @property
    def resource_group(self) -> str:
        return self.collection.resource_group

    @property
    def resource_type(self) -> str:
        return "Microsoft.Compute/restorePointCollections/restorePoints"

    @property
    def is_copy(self) -> bool:
        return self.source_restore_point_id is not None

    @property
    def counts_as_created(self) -> bool:
        """Whether the point exists (or will) for the spacing and per-VM limits."""
        return self.failure is None and self.provisioning_state in ("Creating", "Succeeded")

    def child(self, type_: str, name: str) -> DiskRestorePoint | None:
        if type_.lower() != "diskrestorepoints":
            return None
        return self.disk_restore_points.get(name.lower())

    def ordered_disks(self) -> list[DiskRestorePoint]:
        """The OS disk first, then data disks by lun."""
        return sorted(
            self.disk_restore_points.values(),
            key=lambda d: (d.lun is not None, d.lun or 0),
        )


@dataclass(eq=False)
class RestorePointCollection(ComputeResource):
    TYPE: ClassVar[str] = "restorePointCollections"

    source_id: str = ""  # as given: the VM, or the source collection of a copy
    source_location: str = ""
    copies_from: str | None = None  # normalized id of the source collection, for copies
    # A copy collection: the source collection's VM and its region (a PUT that updates the
    # collection answers them: spec example ..._CreateOrUpdate_ForCrossRegionCopy, 200).
    source_vm_id: str | None = None
    source_vm_location: str | None = None
    collection_id: str = field(default_factory=new_unique_id)
    instant_access: bool | None = None
    provisioning_state: str = "Succeeded"
    restore_points: dict[str, RestorePoint] = field(default_factory=dict)
    # World times of copies requested into this collection (3 per hour).
    recent_copies: deque[float] = field(default_factory=deque)

    def child(self, type_: str, name: str) -> RestorePoint | None:
        if type_.lower() != "restorepoints":
            return None
        return self.restore_points.get(name.lower())


# --- the Restore disk source: a disk created from a disk restore point ---------------------


def _restore_source(backend: ComputeBackend, creation: dict[str, Any], location: str) -> DiskSource:
    point = find_source(backend, creation, "Restore", location=location)
    if not isinstance(point, DiskRestorePoint):
        raise SourceNotFound(point.name)
    point.check_restorable()
    return DiskSource(
        point.content, point.size_gb, point.unique_id, dict(point.properties), hydrates=True
    )


register_disk_source("Restore", _restore_source)


def _inherit(properties: dict[str, Any], os_disk: bool) -> dict[str, Any]:
    keys = ["supportedCapabilities", "supportsHibernation", "purchasePlan", "securityProfile"]
    if os_disk:
        keys += ["osType", "hyperVGeneration"]
    return {k: properties[k] for k in keys if k in properties}


def throttled(
    target: str, limit: int, window_start: float, retry_in: float, clock: WorldClock
) -> ArmError:
    """Compute's own throttling answer: 429 ``OperationNotAllowed`` with a TooManyRequests
    detail naming the policy (Learn "Troubleshooting API throttling errors")."""
    detail = {
        "operationGroup": target,
        "startTime": iso(window_start),
        "allowedRequestCount": limit,
        "measuredRequestCount": limit + 1,
    }
    return ArmError(
        "The server rejected the request because too many requests have been received for "
        "this subscription.",
        code="OperationNotAllowed",
        status=429,
        details=[{"code": "TooManyRequests", "target": target, "message": json.dumps(detail)}],
        headers=retry_hint(clock, retry_in),
    )


class RestorePointBackendMixin:
    """Restore point operations of a subscription's ``ComputeBackend``."""

    restore_point_collections: dict[tuple[str, str], RestorePointCollection]
    # (vm key, consistency mode) → world times of creates requested in the last hour.
    restore_point_requests: dict[tuple[str, str], deque[float]]

    # --- collections -------------------------------------------------------------------

    def get_restore_point_collection(
        self: ComputeBackend, resource_group: str, name: str
    ) -> RestorePointCollection:
        self.check_group(resource_group)
        collection = self.restore_point_collections.get((resource_group.lower(), name.lower()))
        if collection is None:
            raise ResourceNotFound.for_resource(
                "Microsoft.Compute/restorePointCollections", name, resource_group
            )
        return collection

    def list_restore_point_collections(
        self: ComputeBackend, resource_group: str | None = None
    ) -> list[RestorePointCollection]:
        if resource_group is None:
            return list(self.restore_point_collections.values())
        self.check_group(resource_group)
        rg = resource_group.lower()
        return [c for (g, _), c in self.restore_point_collections.items() if g == rg]

    def create_or_update_restore_point_collection(
        self: ComputeBackend, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[RestorePointCollection, bool]:
        """PUT: not long-running (200 updated / 201 created)."""
        self.check_group(resource_group)
        check_name(name, kind="restorePointCollection")
        props = body.get("properties") or {}
        source_id = (props.get("source") or {}).get("id")
        instant_access = props.get("instantAccess")
        if instant_access is not None and not isinstance(instant_access, bool):
            raise InvalidParameter(
                "instantAccess must be true or false.", target="properties.instantAccess"
            )
        existing = self.restore_point_collections.get((resource_group.lower(), name.lower()))
        if existing is not None:
            location = normalize_location(body.get("location", "")) or existing.location
            self.check_name_free(resource_group, name, location, "restorePointCollections")
            self._update_collection(existing, props, body.get("tags"), replace_tags=True)
            return existing, False

        location = normalize_location(body.get("location", ""))
        if not location:
            raise InvalidParameter(
                "The location property is required.", target="location", code="LocationRequired"
            )
        if not source_id:
            raise InvalidParameter(
                "The source of a restore point collection (properties.source.id: a virtual "
                "machine, or a restore point collection to copy from) is required.",
                target="properties.source.id",
            )
        ref = parse_resource_id(source_id, target="properties.source.id")
        source = self.service.find(source_id)
        copies_from: str | None = None
        source_collection: RestorePointCollection | None = None
        if isinstance(source, VirtualMachine):
            source_location = source.location
        elif isinstance(source, RestorePointCollection):
            if source.copies_from is not None:
                raise BadRequest(
                    f"Restore point collection {source.name} holds copies; a copy of a copy is "
                    "not supported.",
                    target="properties.source.id",
                )
            source_location = source.location
            copies_from = normalize_id(source.id)
            source_collection = source
        else:
            raise SourceNotFound(ref.name)
        collection = RestorePointCollection(
            subscription=self.subscription,
            resource_group=self.group_name(resource_group),
            name=name,
            location=location,
            tags=parse_tags(body.get("tags")) or {},
            source_id=source_id,
            source_location=source_location,
            copies_from=copies_from,
            source_vm_id=source_collection.source_id if source_collection else None,
            source_vm_location=source_collection.source_location if source_collection else None,
            instant_access=instant_access,
        )
        self.restore_point_collections[collection.key] = collection
        self.announce_write(collection, self.world.now())
        return collection, True

    def update_restore_point_collection(
        self: ComputeBackend, resource_group: str, name: str, patch: dict[str, Any]
    ) -> RestorePointCollection:
        """PATCH: tags and ``instantAccess``; the source cannot change."""
        collection = self.get_restore_point_collection(resource_group, name)
        self._update_collection(
            collection, patch.get("properties") or {}, patch.get("tags"), replace_tags=False
        )
        return collection

    def _update_collection(
        self: ComputeBackend,
        collection: RestorePointCollection,
        props: dict[str, Any],
        tags: Any,
        *,
        replace_tags: bool,
    ) -> None:
        if collection.provisioning_state == "Deleting":
            raise OperationNotAllowed(
                f"Restore point collection {collection.name} is being deleted."
            )
        source_id = (props.get("source") or {}).get("id")
        if source_id and normalize_id(source_id) != normalize_id(collection.source_id):
            raise PropertyChangeNotAllowed(
                "Changing property 'source.id' is not allowed.", target="properties.source.id"
            )
        new_tags = parse_tags(tags)
        if new_tags is not None or replace_tags:
            collection.tags = new_tags or {}
        if "instantAccess" in props:
            if not isinstance(props["instantAccess"], bool):
                raise InvalidParameter(
                    "instantAccess must be true or false.", target="properties.instantAccess"
                )
            collection.instant_access = props["instantAccess"]
        self.announce_write(collection, self.world.now())

    def begin_delete_restore_point_collection(
        self: ComputeBackend, resource_group: str, name: str
    ) -> Operation | None:
        """Delete the collection and every restore point in it."""
        self.check_group(resource_group)
        collection = self.restore_point_collections.get((resource_group.lower(), name.lower()))
        if collection is None:
            return None
        for point in collection.restore_points.values():
            if any(d.sas is not None for d in point.disk_restore_points.values()):
                raise DiskRestorePointUsedByCustomer()
        collection.provisioning_state = "Deleting"
        for point in collection.restore_points.values():
            point.provisioning_state = "Deleting"
            self._fail_copies_of(point)

        def finish(when: float) -> None:
            self._drop_collection(collection, when)

        return self.begin("RestorePointCollections_Delete", collection, finish=finish)

    def _drop_collection(
        self: ComputeBackend, collection: RestorePointCollection, when: float
    ) -> None:
        for point in list(collection.restore_points.values()):
            collection.restore_points.pop(point.name.lower(), None)
            self.announce_delete(point, when)  # type: ignore[arg-type]
        self.restore_point_collections.pop(collection.key, None)
        self.announce_delete(collection, when)

    def delete_restore_point_collections_in_group(
        self: ComputeBackend, resource_group: str, when: float
    ) -> None:
        rg = resource_group.lower()
        for collection in [c for (g, _), c in self.restore_point_collections.items() if g == rg]:
            for point in collection.restore_points.values():
                self._fail_copies_of(point)
            self._drop_collection(collection, when)

    # --- restore points ----------------------------------------------------------------

    def get_restore_point(
        self: ComputeBackend, resource_group: str, collection_name: str, name: str
    ) -> RestorePoint:
        collection = self.get_restore_point_collection(resource_group, collection_name)
        point = collection.restore_points.get(name.lower())
        if point is None:
            raise ResourceNotFound.for_resource(
                "Microsoft.Compute/restorePointCollections/restorePoints",
                f"{collection.name}/{name}",
                resource_group,
            )
        return point

    def begin_create_restore_point(
        self: ComputeBackend,
        resource_group: str,
        collection_name: str,
        name: str,
        body: dict[str, Any],
    ) -> tuple[RestorePoint, Operation]:
        """PUT a restore point: capture the VM's disks now, or start a cross-region copy."""
        collection = self.get_restore_point_collection(resource_group, collection_name)
        check_name(name, kind="restorePoint")
        if collection.provisioning_state == "Deleting":
            raise OperationNotAllowed(
                f"Restore point collection {collection.name} is being deleted."
            )
        if name.lower() in collection.restore_points:
            raise OperationNotAllowed(
                f"Restore point {name} already exists; updating properties of an existing "
                "restore point is not allowed."
            )
        props = body.get("properties") or {}
        if collection.copies_from is not None:
            point = self._start_restore_point_copy(collection, name, props)
        else:
            point = self._capture_restore_point(collection, name, props)
        collection.restore_points[name.lower()] = point
        vm_disks = {d.disk_id.lower() for d in point.disk_restore_points.values()}

        def finish(when: float) -> None:
            failure = point.failure
            if failure is None and not point.is_copy:
                failure = self._model_changed_during_capture(point, vm_disks)
            if failure is not None:
                point.failure = failure
                point.provisioning_state = "Failed"
                point.disk_restore_points.clear()
                self.announce_write(point, when, "Failed")  # type: ignore[arg-type]
                raise failure
            point.provisioning_state = "Succeeded"
            for disk_point in point.disk_restore_points.values():
                self._start_hydration(disk_point, collection)
            self.announce_write(point, when)  # type: ignore[arg-type]

        op = self.begin("RestorePoints_Create", point, finish=finish)
        return point, op

    def _capture_restore_point(
        self: ComputeBackend, collection: RestorePointCollection, name: str, props: dict[str, Any]
    ) -> RestorePoint:
        """A restore point of the collection's VM: every included disk as of now."""
        if props.get("sourceRestorePoint"):
            raise BadRequest(
                f"Restore point collection {collection.name} is the collection of a virtual "
                "machine; sourceRestorePoint is only for copies (into a collection whose source "
                "is a restore point collection).",
                target="properties.sourceRestorePoint",
            )
        vm = self.service.find(collection.source_id)
        if not isinstance(vm, VirtualMachine) or vm.provisioning_state == "Deleting":
            raise SourceNotFound(parse_resource_id(collection.source_id).name)
        mode = props.get("consistencyMode") or APPLICATION_CONSISTENT
        if mode not in CONSISTENCY_MODES:
            raise InvalidParameter(
                f"consistencyMode must be one of {', '.join(CONSISTENCY_MODES)}.",
                target="properties.consistencyMode",
            )
        exclude = _entity_references(props.get("excludeDisks"), "properties.excludeDisks")
        instant_minutes = _instant_access_minutes(props.get("instantAccessDurationMinutes"))
        now = self.world.now()
        vm_key = normalize_id(vm.id)
        self._check_restore_point_rate(vm_key, mode, now)

        excluded = {normalize_id(ref["id"]) for ref in exclude}
        disks: list[tuple[Any, Disk]] = []
        for attachment in vm.attachments():
            disk = self.service.find(attachment.disk_id)
            if isinstance(disk, Disk) and normalize_id(disk.id) not in excluded:
                disks.append((attachment, disk))
        point = RestorePoint(
            collection=collection,
            name=name,
            consistency_mode=reported_mode(vm, mode),
            requested_mode=mode,
            exclude_disks=exclude,
            time_created=now,
            captured_at=now,
            requested_at=now,
            vm_key=vm_key,
            vm=_vm_configuration(vm),
            instant_access_minutes=instant_minutes,
        )
        point.failure = self._restore_point_failure(vm, vm_key, mode, disks, now)
        if point.failure is not None:
            return point
        # Whether the guest's file systems are frozen right now (run command, fsfreeze).
        frozen = self.world.backend("guests").is_frozen(vm.id)
        for attachment, disk in disks:
            disk_point = self._capture_disk(point, attachment, disk, frozen)
            point.disk_restore_points[disk_point.name.lower()] = disk_point
        return point

    def _capture_disk(
        self: ComputeBackend, point: RestorePoint, attachment: Any, disk: Disk, frozen: bool
    ) -> DiskRestorePoint:
        family = self._disk_point_family(disk.family_key, point.location)
        previous = family[-1] if family else None
        snapshot = disk.content  # the disk's data at this instant (maps are immutable)
        disk_point = DiskRestorePoint(
            restore_point=point,
            name=f"{disk.name}_{uuid.uuid4()}",
            source_resource_id=disk.id,
            source_unique_id=disk.unique_id,
            family_key=disk.family_key,
            family_id=previous.family_id if previous else str(uuid.uuid4()),
            size_gb=disk.size_gb,
            sku=disk.sku,
            disk_name=disk.name,
            disk_id=disk.id,
            lun=attachment.lun,
            caching=attachment.caching,
            write_accelerator=attachment.write_accelerator,
            managed_disk_extra=dict(attachment.managed_disk_extra),
            properties=_inherit(disk.properties, attachment.lun is None),
            content=snapshot,
            changed_blocks=content.changed_blocks(snapshot, previous.content if previous else None),
            captured_while_frozen=frozen,
        )
        disk_point.properties.setdefault("logicalSectorSize", _sector_size(disk))
        if attachment.lun is None:
            disk_point.properties.setdefault("osType", point.vm["osType"])
            # As the VM's instance view reports it when the disk does not say.
            disk_point.properties.setdefault("hyperVGeneration", "V2")
        if point.location != disk.location:
            # A point created in another region than its VM: the data crosses regions.
            self._start_replication(disk_point, disk.location, snapshot, family)
        return disk_point

    def _restore_point_failure(
        self: ComputeBackend,
        vm: VirtualMachine,
        vm_key: str,
        mode: str,
        disks: list[tuple[Any, Disk]],
        now: float,
    ) -> ArmError | None:
        """Why the compute service would fail this restore point, if it would (the PUT is
        accepted; the operation fails and leaves a ``Failed`` restore point)."""
        limits = self.world.config.limits
        points = self.restore_points_of_vm(vm_key)
        if any(p.provisioning_state == "Creating" and p.counts_as_created for p in points):
            error: ArmError = VMRestorePointClientError(
                "RestorePoint creation failed since a concurrent 'Create RestorePoint' operation "
                "was triggered on the VM."
            )
            self.violation("restorePointConcurrentCreate", error, vm.id)
            return error
        if mode == APPLICATION_CONSISTENT and not (vm.agent_ready and vm.power_state == "running"):
            return VMAgentStatusCommunicationError(
                "VM has not reported status for VM agent or extensions. Application-consistent "
                f"restore points need the VM agent: VM {vm.name} is {vm.power_state}"
                + ("" if vm.agent_ready else " and its agent is not ready")
                + "."
            )
        if mode == CRASH_CONSISTENT:
            unsupported = [
                disk.name
                for attachment, disk in disks
                if disk.sku in BACKGROUND_COPY_SKUS or attachment.write_accelerator
            ]
            if unsupported:
                error = VMRestorePointClientError(
                    "Crash-consistent restore points do not support Ultra, Premium SSD v2 or "
                    f"write-accelerated disks ({', '.join(unsupported)}). You may exclude these "
                    "disks from the restore point via excludeDisks property."
                )
                self.violation("crashConsistentUnsupportedDisk", error, vm.id)
                return error
        existing = [p for p in points if p.counts_as_created]
        if len(existing) >= limits.restore_points_per_vm:
            error = VMRestorePointClientError(
                "Restore Point creation failed as the maximum allowed snapshot limit of one or "
                "more disk blobs has been reached. Please delete some existing restore points of "
                f"this VM and then retry. (VM {vm.name} has {len(existing)} restore points; at "
                f"most {limits.restore_points_per_vm}.)"
            )
            self.violation("restorePointsPerVm", error, vm.id)
            return error
        spacing = (
            limits.crash_consistent_spacing_seconds
            if mode == CRASH_CONSISTENT
            else limits.app_consistent_spacing_seconds
        )
        recent = [p for p in existing if p.counted_mode == mode and p.captured_at > now - spacing]
        if recent:
            error = OperationNotAllowed(
                f"{mode} restore points of VM {vm.name} must be at least {spacing / 3600:g} "
                f"hour(s) apart; restore point {recent[-1].name} was created "
                f"{(now - recent[-1].captured_at) / 60:.0f} minute(s) ago."
            )
            self.violation("restorePointSpacing", error, vm.id)
            return error
        return None

    def _model_changed_during_capture(
        self: ComputeBackend, point: RestorePoint, disk_ids: set[str]
    ) -> ArmError | None:
        """Disks attached or detached while the point was being created fail it (Learn)."""
        vm = self.service.find(point.vm_key)
        if not isinstance(vm, VirtualMachine):
            return None
        excluded = {normalize_id(ref["id"]) for ref in point.exclude_disks}
        now_ids = {
            a.disk_id.lower() for a in vm.attachments() if normalize_id(a.disk_id) not in excluded
        }
        if now_ids == disk_ids:
            return None
        return OperationNotAllowed(
            "Changes were made to the Virtual Machine while the operation 'Create Restore Point' "
            "was in progress. Operation Create Restore Point cannot be completed at this time. "
            "Please try again later."
        )

    def _check_restore_point_rate(self: ComputeBackend, vm_key: str, mode: str, now: float) -> None:
        """3 creates per VM per hour per consistency mode, else 429 (Learn)."""
        limit = self.world.config.limits.restore_points_per_vm_per_hour
        window = self.restore_point_requests.setdefault((vm_key, mode), deque())
        while window and window[0] <= now - HOUR:
            window.popleft()
        if len(window) >= limit:
            error = throttled(
                f"RestorePointCreate{mode}1Hour",
                limit,
                window[0],
                window[0] + HOUR - now,
                self.world.clock,
            )
            self.violation("restorePointsPerVmPerHour", error, vm_key)
            raise error
        window.append(now)

    def restore_points_of_vm(self: ComputeBackend, vm_key: str) -> list[RestorePoint]:
        """Every restore point taken of the VM (copies excluded), oldest first."""
        points = [
            point
            for point in self.service.all_restore_points()
            if point.vm_key == vm_key and not point.is_copy
        ]
        return sorted(points, key=lambda p: p.captured_at)

    def _disk_point_family(
        self: ComputeBackend, family_key: tuple[str, str], region: str
    ) -> list[DiskRestorePoint]:
        """The disk restore points of one disk instance in ``region``, oldest first."""
        members = [
            disk_point
            for point in self.service.all_restore_points()
            if point.location == region and point.provisioning_state in ("Creating", "Succeeded")
            for disk_point in point.disk_restore_points.values()
            if disk_point.family_key == family_key
        ]
        return sorted(members, key=lambda d: d.restore_point.captured_at)

    # --- background copies -------------------------------------------------------------

    def _start_hydration(
        self: ComputeBackend, disk_point: DiskRestorePoint, collection: RestorePointCollection
    ) -> None:
        """Premium SSD v2 / Ultra points wait for their data like their snapshots; instant
        access (default 300 minutes) when the collection asks for it."""
        if disk_point.sku not in BACKGROUND_COPY_SKUS or disk_point.restore_point.is_copy:
            return
        minutes = None
        if collection.instant_access:
            minutes = (
                disk_point.restore_point.instant_access_minutes or DEFAULT_INSTANT_ACCESS_MINUTES
            )
        disk_point.hydration = start_hydration(
            self.world, disk_point, disk_point.changed_blocks * BLOCK_SIZE, minutes
        )

    def _start_replication(
        self: ComputeBackend,
        disk_point: DiskRestorePoint,
        source_location: str,
        source_content: BlockMap,
        family: list[DiskRestorePoint],
    ) -> None:
        """Move a disk restore point's data into the collection's region: only the blocks
        changed since the family's previous point there; the data lands at the end."""
        region = disk_point.location
        captured = disk_point.restore_point.captured_at
        base = [
            d
            for d in family
            if d.location == region and d.data_ready and d.restore_point.captured_at < captured
        ]
        base_content = base[-1].content if base else None
        changed = content.changed_blocks(source_content, base_content)
        now = self.world.now()
        seconds = self.world.config.copy.seconds(changed * BLOCK_SIZE)
        job = BackgroundCopy(now, now + seconds, changed * BLOCK_SIZE)
        disk_point.replication = job
        disk_point.source_location = source_location
        disk_point.changed_blocks = changed
        disk_point.content = base_content if base_content is not None else content.EMPTY

        def done(when: float) -> None:
            if not job.in_flight:
                return
            job.finished = True
            disk_point.content = source_content

        self.world.at(job.end, done)

    def _start_restore_point_copy(
        self: ComputeBackend, collection: RestorePointCollection, name: str, props: dict[str, Any]
    ) -> RestorePoint:
        """A restore point with ``sourceRestorePoint``: copy it into this collection's region."""
        source_ref = props.get("sourceRestorePoint") or {}
        source_id = source_ref.get("id") if isinstance(source_ref, dict) else None
        if not source_id:
            raise InvalidParameter(
                f"Restore point collection {collection.name} is a copy of another collection: "
                "properties.sourceRestorePoint.id (the restore point to copy) is required.",
                target="properties.sourceRestorePoint.id",
            )
        ref = parse_resource_id(source_id, target="properties.sourceRestorePoint.id")
        source = self.service.find(source_id)
        if not isinstance(source, RestorePoint):
            raise SourceNotFound(ref.name)
        if normalize_id(source.collection.id) != collection.copies_from:
            raise BadRequest(
                f"Restore point {source.name} is not in restore point collection "
                f"{collection.source_id}, the source of {collection.name}.",
                target="properties.sourceRestorePoint.id",
            )
        if source.is_copy:
            error: ArmError = BadRequest(
                f"Restore point {source.name} is itself a copy; a copy of a copy is not supported.",
                target="properties.sourceRestorePoint.id",
            )
            self.violation("restorePointCopyOfCopy", error, source.id)
            raise error
        if source.provisioning_state != "Succeeded" or not all(
            d.data_ready for d in source.disk_restore_points.values()
        ):
            raise SourceNotReady(
                f"Restore point {source.name} cannot be copied yet: it is not complete "
                f"(provisioningState {source.provisioning_state})."
            )
        region = collection.location
        copies = [p for p in self._copies_in_region(region) if p.vm_key == source.vm_key]
        if any(
            normalize_id(p.source_restore_point_id or "") == normalize_id(source.id) for p in copies
        ):
            error = OperationNotAllowed(
                f"Restore point {source.name} was already copied to region {region}; a restore "
                "point can be copied only once to a target region."
            )
            self.violation("restorePointCopiedOnce", error, source.id)
            raise error
        newer = [p for p in copies if p.captured_at > source.captured_at]
        if newer:
            error = OperationNotAllowed(
                f"Restore point {newer[0].name} in {region} is a copy of a restore point newer "
                f"than {source.name}; restore points must be copied in the order they were "
                "created."
            )
            self.violation("restorePointCopyOrder", error, source.id)
            raise error
        now = self.world.now()
        limit = self.world.config.limits.restore_point_copies_per_collection_per_hour
        window = collection.recent_copies
        while window and window[0] <= now - HOUR:
            window.popleft()
        if len(window) >= limit:
            error = throttled(
                "RestorePointCopy1Hour", limit, window[0], window[0] + HOUR - now, self.world.clock
            )
            self.violation("restorePointCopiesPerCollectionPerHour", error, collection.id)
            raise error
        window.append(now)

        point = RestorePoint(
            collection=collection,
            name=name,
            consistency_mode=source.consistency_mode,
            requested_mode=source.requested_mode,
            exclude_disks=copy.deepcopy(source.exclude_disks),
            time_created=source.time_created,
            captured_at=source.captured_at,
            requested_at=now,
            vm_key=source.vm_key,
            vm=copy.deepcopy(source.vm),
            source_restore_point_id=source_id,
            instant_access_minutes=source.instant_access_minutes,
        )
        for source_disk in source.ordered_disks():
            disk_point = DiskRestorePoint(
                restore_point=point,
                name=source_disk.name,
                source_resource_id=source_disk.source_resource_id,
                source_unique_id=source_disk.source_unique_id,
                family_key=source_disk.family_key,
                family_id=source_disk.family_id,
                size_gb=source_disk.size_gb,
                sku=source_disk.sku,
                disk_name=source_disk.disk_name,
                disk_id=source_disk.disk_id,
                lun=source_disk.lun,
                caching=source_disk.caching,
                write_accelerator=source_disk.write_accelerator,
                managed_disk_extra=dict(source_disk.managed_disk_extra),
                properties=dict(source_disk.properties),
                content=source_disk.content,
                changed_blocks=0,
                captured_while_frozen=source_disk.captured_while_frozen,
                source_disk_restore_point_id=source_disk.id,
            )
            family = self._disk_point_family(source_disk.family_key, region)
            self._start_replication(disk_point, source.location, source_disk.content, family)
            point.disk_restore_points[disk_point.name.lower()] = disk_point
        return point

    def _copies_in_region(self: ComputeBackend, region: str) -> list[RestorePoint]:
        return [
            point
            for point in self.service.all_restore_points()
            if point.location == region
            and point.is_copy
            and point.provisioning_state in ("Creating", "Succeeded")
        ]

    def _fail_copies_of(self: ComputeBackend, source: RestorePoint) -> None:
        """Deleting a restore point before its copies end fails them (as snapshot copies)."""
        now = self.world.now()
        source_ids = {normalize_id(d.id) for d in source.disk_restore_points.values()}
        for point in self.service.all_restore_points():
            for disk_point in point.disk_restore_points.values():
                job = disk_point.replication
                if (
                    job is not None
                    and job.in_flight
                    and normalize_id(disk_point.source_disk_restore_point_id or "") in source_ids
                ):
                    job.failed_at = now
                    self.copy_failed(
                        "restorePointCopySourceDeleted",
                        disk_point.id,
                        f"The source {source.id} was deleted before the copy completed.",
                    )

    # --- delete ------------------------------------------------------------------------

    def begin_delete_restore_point(
        self: ComputeBackend, resource_group: str, collection_name: str, name: str
    ) -> Operation | None:
        collection = self.get_restore_point_collection(resource_group, collection_name)
        point = collection.restore_points.get(name.lower())
        if point is None:
            return None
        if any(d.sas is not None for d in point.disk_restore_points.values()):
            raise DiskRestorePointUsedByCustomer()
        point.provisioning_state = "Deleting"
        self._fail_copies_of(point)

        def finish(when: float) -> None:
            collection.restore_points.pop(point.name.lower(), None)
            self.announce_delete(point, when)  # type: ignore[arg-type]

        return self.begin("RestorePoints_Delete", point, finish=finish)

    # --- disk restore points -----------------------------------------------------------

    def get_disk_restore_point(
        self: ComputeBackend, resource_group: str, collection_name: str, point_name: str, name: str
    ) -> DiskRestorePoint:
        point = self.get_restore_point(resource_group, collection_name, point_name)
        disk_point = point.disk_restore_points.get(name.lower())
        if disk_point is None:
            raise ResourceNotFound.for_resource(
                "Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints",
                f"{collection_name}/{point_name}/{name}",
                resource_group,
            )
        return disk_point

    def begin_grant_disk_restore_point_access(
        self: ComputeBackend,
        resource_group: str,
        collection_name: str,
        point_name: str,
        name: str,
        body: dict[str, Any],
    ) -> Operation:
        disk_point = self.get_disk_restore_point(resource_group, collection_name, point_name, name)
        access, seconds = parse_grant(body)
        if not disk_point.data_ready or disk_point.access_state == "InstantAccess":
            raise SourceNotReady(
                f"Disk restore point {disk_point.name} cannot be exported yet: its data is not "
                "complete."
            )
        grant = self.grant_access(disk_point, access, seconds)
        return self.begin(
            "DiskRestorePoint_GrantAccess", disk_point, finish=lambda when: {"accessSAS": grant.url}
        )

    def begin_revoke_disk_restore_point_access(
        self: ComputeBackend, resource_group: str, collection_name: str, point_name: str, name: str
    ) -> Operation:
        disk_point = self.get_disk_restore_point(resource_group, collection_name, point_name, name)
        disk_point.sas = None
        return self.begin("DiskRestorePoint_RevokeAccess", disk_point)


def reported_mode(vm: VirtualMachine, mode: str) -> str:
    """The consistency mode Azure reports for a point of ``vm`` asked for in ``mode``.

    Linux VMs get application consistency only from application pre/post scripts; without
    them Azure takes a file-system-consistent point and says so (Learn "Overview of VM restore
    points": restore points "support file system consistency for VMs running Linux"; Learn
    "Azure VM backup": "file consistent for Linux VMs ... that don't have pre/post scripts").
    """
    if mode == APPLICATION_CONSISTENT and vm.os_type == "Linux" and not vm.pre_post_scripts:
        return FILE_SYSTEM_CONSISTENT
    return mode


def _sector_size(disk: Disk) -> int:
    """Logical sector size in bytes: the disk's, else 4096 for PV2/Ultra and 512 otherwise."""
    given = (disk.creation_data or {}).get("logicalSectorSize")
    if isinstance(given, int):
        return given
    return 4096 if disk.sku in BACKGROUND_COPY_SKUS else 512


def _entity_references(value: Any, target: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(item, dict) and isinstance(item.get("id"), str) for item in value
    ):
        raise InvalidParameter(f"{target} must be a list of {{'id': resource id}}.", target=target)
    return [{"id": item["id"]} for item in value]


def _instant_access_minutes(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 60 <= value <= 300:
        raise InvalidParameter(
            "instantAccessDurationMinutes must be an integer from 60 to 300.",
            target="properties.instantAccessDurationMinutes",
        )
    return value


def _vm_configuration(vm: VirtualMachine) -> dict[str, Any]:
    """What a restore point keeps of its VM (its ``sourceMetadata`` besides the disks)."""
    return {
        "vmId": vm.vm_id,
        "name": vm.name,
        "location": vm.location,
        "size": vm.size,
        "osType": vm.os_type,
        "profiles": copy.deepcopy(vm.profiles),
    }
