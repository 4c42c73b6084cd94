"""Managed disks: creation (Empty, Copy, FromImage, Import, + registered sources), state,
updates, export access (beginGetAccess/endGetAccess), deletion and guest writes.

``DISK_SOURCES`` maps a ``creationData.createOption`` to the function that works out a new
disk's content and size; another module adds a source (e.g. ``Restore`` from a disk restore
point) with ``register_disk_source``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from emulator import content
from emulator.arm import check_name, normalize_id, normalize_location, parse_resource_id
from emulator.compute.exceptions import (
    BadRequest,
    DiskAttached,
    InvalidParameter,
    OperationNotAllowed,
    PropertyChangeNotAllowed,
    ResourceNotFound,
    SourceNotFound,
    UnsupportedCreateOption,
)
from emulator.compute.models.common import (
    BACKGROUND_COPY_SKUS,
    DISK_SKUS,
    AccessGrant,
    BackgroundCopy,
    ComputeResource,
    default_tier,
    new_unique_id,
)
from emulator.content import BLOCK_SIZE, BlockMap

if TYPE_CHECKING:
    from emulator.compute.models import ComputeBackend
    from emulator.lro import Operation

# Properties Azure computes; a client sending them back (e.g. after a GET) is not an error,
# but they are never taken from a request.
READ_ONLY_DISK_PROPERTIES = frozenset(
    {
        "timeCreated",
        "diskSizeBytes",
        "uniqueId",
        "provisioningState",
        "diskState",
        "shareInfo",
        "burstingEnabledTime",
        "propertyUpdatesInProgress",
        "LastOwnershipUpdateTime",
        "completionPercent",
    }
)


@dataclass(eq=False)
class Disk(ComputeResource):
    TYPE: ClassVar[str] = "disks"

    sku: str = "Standard_LRS"
    size_gb: int = 0
    creation_data: dict[str, Any] = field(default_factory=dict)
    # Writable properties as the client set them (echoed back, like Azure does).
    properties: dict[str, Any] = field(default_factory=dict)
    zones: list[str] | None = None
    extended_location: dict[str, Any] | None = None
    unique_id: str = field(default_factory=new_unique_id)
    time_created: float = 0.0
    content: BlockMap = field(default_factory=lambda: content.EMPTY)
    provisioning_state: str = "Succeeded"
    tier: str | None = None
    pending_tier: str | None = None
    managed_by: str | None = None  # id of the VM the disk is attached to
    reserved: bool = False  # attached to a deallocated VM
    last_ownership_update: float | None = None
    sas: AccessGrant | None = None
    # World times of recent incremental snapshots (the per-disk rate limit).
    recent_snapshots: deque[float] = field(default_factory=deque)
    # Premium SSD v2 / Ultra created from a snapshot or disk restore point: the background
    # copy filling the disk ("hydration"; ``completionPercent`` below 100 until it ends).
    hydration: BackgroundCopy | None = None

    @property
    def hydrating(self) -> bool:
        return self.hydration is not None and self.hydration.in_flight

    def check_not_hydrating(self, now: float) -> None:
        """No snapshot of a Premium SSD v2 / Ultra disk while it hydrates (Learn "Instant
        access snapshots", limitations: "If a disk is being hydrated from a snapshot, you
        can't create an instant access snapshot of that disk"; a disk is hydrating while its
        ``CompletionPercent`` is below 100)."""
        if self.hydration is None or not self.hydrating:
            return
        raise DiskHydrating(
            f"Disk {self.name} is being hydrated from its source: its background copy is in "
            f"progress (completionPercent {self.hydration.percent(now):g}). Retry the "
            "snapshot once the disk's completionPercent is 100."
        )

    @property
    def disk_state(self) -> str:
        if self.managed_by:
            return "Reserved" if self.reserved else "Attached"
        if self.sas is not None:
            return "ActiveSAS"
        return "Unattached"

    @property
    def family_key(self) -> tuple[str, str]:
        """Snapshots of this disk form a family: (source resource id, source unique id)."""
        return normalize_id(self.id), self.unique_id.lower()

    @property
    def background_copy_sku(self) -> bool:
        return self.sku in BACKGROUND_COPY_SKUS


class DiskHydrating(OperationNotAllowed):
    """A snapshot asked of a Premium SSD v2 / Ultra disk still hydrating (code: our choice)."""


@dataclass
class DiskSource:
    """What a creation source gives a new disk."""

    content: BlockMap
    size_gb: int | None
    source_unique_id: str | None = None
    inherited: dict[str, Any] = field(default_factory=dict)  # e.g. osType of the source
    # Size when the request gives none and the source has no size of its own (an image's
    # or imported VHD's size is outside the model).
    default_size_gb: int | None = None
    # A snapshot or disk restore point: a Premium SSD v2 / Ultra disk made from it hydrates.
    hydrates: bool = False


DiskSourceResolver = Callable[["ComputeBackend", dict[str, Any], str], DiskSource]
DISK_SOURCES: dict[str, DiskSourceResolver] = {}


def register_disk_source(create_option: str, resolver: DiskSourceResolver) -> None:
    """Let ``creationData.createOption == create_option`` create disks via ``resolver``.

    ``resolver(backend, creation_data, location)`` returns a ``DiskSource`` or raises an
    ``ArmError`` (e.g. ``SourceNotFound``).
    """
    DISK_SOURCES[create_option.lower()] = resolver


def _empty_source(backend: ComputeBackend, creation: dict[str, Any], location: str) -> DiskSource:
    return DiskSource(content.EMPTY, None)


def _image_source(backend: ComputeBackend, creation: dict[str, Any], location: str) -> DiskSource:
    """Images are outside the model: the disk starts empty, 30 GiB unless sized."""
    return DiskSource(content.EMPTY, None, default_size_gb=30)


def _import_source(backend: ComputeBackend, creation: dict[str, Any], location: str) -> DiskSource:
    """Imported VHD blobs are outside the model: the disk starts empty, 32 GiB unless sized."""
    if not creation.get("sourceUri"):
        raise InvalidParameter(
            "sourceUri is required when createOption is Import.",
            target="properties.creationData.sourceUri",
        )
    return DiskSource(content.EMPTY, None, default_size_gb=32)


SOURCE_TARGET = "properties.creationData.sourceResourceId"


def find_source(
    backend: ComputeBackend, creation: dict[str, Any], option: str, *, location: str | None = None
) -> Any:
    """The resource ``creationData.sourceResourceId`` names, in any subscription: 400 without
    one, 404 ``NotFound`` when it does not exist or (given ``location``) is in another region,
    which DiskRP answers alike."""
    source_id = creation.get("sourceResourceId")
    if not source_id:
        raise InvalidParameter(
            f"sourceResourceId is required when createOption is {option}.", target=SOURCE_TARGET
        )
    ref = parse_resource_id(source_id, target=SOURCE_TARGET)
    source = backend.service.find(source_id)
    if source is None or (location is not None and source.location != location):
        raise SourceNotFound(ref.name)
    return source


def _copy_source(backend: ComputeBackend, creation: dict[str, Any], location: str) -> DiskSource:
    """``Copy`` from a snapshot or a disk in the same region (the data as of now)."""
    source = find_source(backend, creation, "Copy", location=location)
    from emulator.compute.models.snapshots import Snapshot

    if isinstance(source, Snapshot):
        source.check_usable()
    elif not isinstance(source, Disk):
        raise InvalidParameter(
            f"'{creation['sourceResourceId']}' is neither a disk nor a snapshot.",
            target=SOURCE_TARGET,
        )
    return DiskSource(
        source.content,
        source.size_gb,
        source.unique_id,
        inherited_properties(source.properties),
        hydrates=isinstance(source, Snapshot),
    )


def inherited_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """What a disk or snapshot made from a disk or snapshot takes over from its source."""
    keys = (
        "osType",
        "hyperVGeneration",
        "purchasePlan",
        "supportedCapabilities",
        "supportsHibernation",
    )
    return {k: properties[k] for k in keys if k in properties}


register_disk_source("Empty", _empty_source)
register_disk_source("Copy", _copy_source)
register_disk_source("FromImage", _image_source)
register_disk_source("Import", _import_source)


def parse_size(value: Any, target: str = "properties.diskSizeGB") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidParameter(f"{target} must be a positive integer.", target=target)
    return value


# ARM's tag rules (Learn "Use tags to organize your Azure resources", limitations): at
# most 50 tags per resource, names up to 512 characters without < > % & \ ? /, values up
# to 256 characters; tag names are case-insensitive.
MAX_TAGS = 50
MAX_TAG_NAME = 512
MAX_TAG_VALUE = 256
_TAG_NAME_FORBIDDEN = set("<>%&\\?/")


def parse_tags(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidParameter("tags must be an object of string values.", target="tags")
    if len(value) > MAX_TAGS:
        raise InvalidParameter(
            f"The resource has {len(value)} tags; at most {MAX_TAGS} are allowed.",
            target="tags",
            code="InvalidTagCount",
        )
    seen: set[str] = set()
    for name, tag_value in value.items():
        if not name or len(name) > MAX_TAG_NAME or _TAG_NAME_FORBIDDEN & set(name):
            raise InvalidParameter(
                f"The tag name '{name[:64]}' is invalid: 1 to {MAX_TAG_NAME} characters, "
                "none of < > % & \\ ? /.",
                target=f"tags.{name[:64]}",
                code="InvalidTagName",
            )
        if len(tag_value) > MAX_TAG_VALUE:
            raise InvalidParameter(
                f"The value of tag '{name}' is longer than {MAX_TAG_VALUE} characters.",
                target=f"tags.{name}",
                code="InvalidTagValueLength",
            )
        if name.lower() in seen:
            raise InvalidParameter(
                f"The tag name '{name}' is given twice (tag names are case-insensitive).",
                target=f"tags.{name}",
                code="InvalidTagName",
            )
        seen.add(name.lower())
    return dict(value)


class DiskBackendMixin:
    """Disk operations of a subscription's ``ComputeBackend``."""

    disks: dict[tuple[str, str], Disk]

    # --- lookups -----------------------------------------------------------------------

    def get_disk(self: ComputeBackend, resource_group: str, name: str) -> Disk:
        self.check_group(resource_group)
        disk = self.disks.get((resource_group.lower(), name.lower()))
        if disk is None:
            raise ResourceNotFound.for_resource("Microsoft.Compute/disks", name, resource_group)
        return disk

    def list_disks(self: ComputeBackend, resource_group: str | None = None) -> list[Disk]:
        if resource_group is None:
            return list(self.disks.values())
        self.check_group(resource_group)
        rg = resource_group.lower()
        return [d for (g, _), d in self.disks.items() if g == rg]

    # --- create / update ---------------------------------------------------------------

    def begin_create_or_update_disk(
        self: ComputeBackend, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[Disk, Operation, bool]:
        self.check_group(resource_group)
        check_name(name, kind="disk")
        existing = self.disks.get((resource_group.lower(), name.lower()))
        if existing is not None:
            return existing, self._update_disk_by_put(existing, body), False
        disk = self.create_disk(resource_group, name, body)
        disk.provisioning_state = "Updating"

        def finish(when: float) -> None:
            disk.provisioning_state = "Succeeded"
            self.announce_write(disk, when)

        op = self.begin("Disks_CreateOrUpdate", disk, finish=finish)
        return disk, op, True

    def create_disk(
        self: ComputeBackend, resource_group: str, name: str, body: dict[str, Any]
    ) -> Disk:
        """Create a disk at once (its content is fixed now); callers run the LRO around it."""
        location = normalize_location(body.get("location", ""))
        if not location:
            raise InvalidParameter(
                "The location property is required.", target="location", code="LocationRequired"
            )
        self.check_name_free(resource_group, name, location, "disks")
        props = dict(body.get("properties") or {})
        creation = dict(props.pop("creationData", None) or {})
        option = creation.get("createOption")
        if not option:
            raise InvalidParameter(
                "createOption is required.", target="properties.creationData.createOption"
            )
        resolver = DISK_SOURCES.get(str(option).lower())
        if resolver is None:
            raise UnsupportedCreateOption(str(option), "disks")
        source = resolver(self, creation, location)
        size = parse_size(props.pop("diskSizeGB", None))
        if size is None:
            size = source.size_gb or source.default_size_gb
        if size is None:
            raise InvalidParameter(
                "diskSizeGB is required when creating an empty disk.",
                target="properties.diskSizeGB",
            )
        if source.size_gb is not None and size < source.size_gb:
            raise BadRequest(
                f"The disk size {size} GB is smaller than the source's {source.size_gb} GB.",
                target="properties.diskSizeGB",
            )
        sku = (body.get("sku") or {}).get("name") or "Standard_LRS"
        if sku not in DISK_SKUS:
            raise InvalidParameter(f"Unknown disk sku '{sku}'.", target="sku.name")
        if source.source_unique_id:
            creation["sourceUniqueId"] = source.source_unique_id
        tier = props.pop("tier", None) or default_tier(sku, size)
        for key in READ_ONLY_DISK_PROPERTIES:
            props.pop(key, None)
        disk = Disk(
            subscription=self.subscription,
            resource_group=self.group_name(resource_group),
            name=name,
            location=location,
            tags=parse_tags(body.get("tags")) or {},
            sku=sku,
            size_gb=size,
            creation_data=creation,
            properties={**source.inherited, **props},
            zones=body.get("zones"),
            extended_location=body.get("extendedLocation"),
            time_created=self.world.now(),
            content=source.content,
            tier=tier,
        )
        if source.hydrates and disk.background_copy_sku:
            self._start_disk_hydration(disk)
        self.disks[disk.key] = disk
        return disk

    def _start_disk_hydration(self: ComputeBackend, disk: Disk) -> None:
        """A Premium SSD v2 / Ultra disk made from a snapshot or disk restore point fills in
        the background (Learn "Create an incremental snapshot for managed disks": "When you
        create a managed disk from a snapshot, it starts a background copy process ... You
        can use the CompletionPercent property to check the status of the background copy
        for Ultra Disks and Premium SSD v2 disks"): its written data at ``backgroundCopy``'s
        rate. Its data is readable meanwhile; snapshots of it are refused."""
        now = self.world.now()
        written = len(disk.content) * BLOCK_SIZE
        job = BackgroundCopy(now, now + self.world.config.background_copy.seconds(written), written)
        disk.hydration = job

        def done(when: float) -> None:
            job.finished = True

        self.world.at(job.end, done)

    def _update_disk_by_put(self: ComputeBackend, disk: Disk, body: dict[str, Any]) -> Operation:
        location = normalize_location(body.get("location", "")) or disk.location
        self.check_name_free(disk.resource_group, disk.name, location, "disks")
        props = dict(body.get("properties") or {})
        creation = props.pop("creationData", None) or {}
        for key in ("createOption", "sourceResourceId", "sourceUri", "imageReference"):
            if key in creation and creation[key] != disk.creation_data.get(key):
                raise PropertyChangeNotAllowed(
                    f"Changing property 'creationData.{key}' is not allowed.",
                    target=f"properties.creationData.{key}",
                )
        patch = {"properties": props, "tags": body.get("tags") or {}}
        if body.get("sku"):
            patch["sku"] = body["sku"]
        return self._begin_disk_update(disk, patch, "Disks_CreateOrUpdate")

    def begin_update_disk(
        self: ComputeBackend, resource_group: str, name: str, patch: dict[str, Any]
    ) -> tuple[Disk, Operation]:
        disk = self.get_disk(resource_group, name)
        return disk, self._begin_disk_update(disk, patch, "Disks_Update")

    def _begin_disk_update(
        self: ComputeBackend, disk: Disk, patch: dict[str, Any], operation_id: str
    ) -> Operation:
        if disk.provisioning_state == "Deleting":
            raise OperationNotAllowed(f"Disk {disk.name} is being deleted.")
        props = dict(patch.get("properties") or {})
        for key in READ_ONLY_DISK_PROPERTIES | {"creationData"}:
            props.pop(key, None)
        new_size = parse_size(props.pop("diskSizeGB", None))
        if new_size is not None and new_size < disk.size_gb:
            raise BadRequest(
                f"Disk size can only be increased (from {disk.size_gb} GB to {new_size} GB "
                "requested).",
                target="properties.diskSizeGB",
            )
        sku = (patch.get("sku") or {}).get("name")
        if sku is not None:
            if sku not in DISK_SKUS:
                raise InvalidParameter(f"Unknown disk sku '{sku}'.", target="sku.name")
            if sku != disk.sku and disk.disk_state == "Attached":
                raise OperationNotAllowed(
                    f"The sku of disk {disk.name} can only be changed when it is unattached "
                    "or its VM is deallocated."
                )
        tags = parse_tags(patch.get("tags"))
        target_tier = props.pop("tier", None)
        # Apply now what a client would see at once; the tier change completes with the LRO.
        if tags is not None:
            disk.tags = tags
        if sku is not None:
            disk.sku = sku
        if new_size is not None:
            disk.size_gb = new_size
        disk.properties.update(props)
        if target_tier and target_tier != disk.tier:
            disk.pending_tier = target_tier
        disk.provisioning_state = "Updating"

        def finish(when: float) -> None:
            if disk.pending_tier:
                disk.tier, disk.pending_tier = disk.pending_tier, None
            disk.provisioning_state = "Succeeded"
            self.announce_write(disk, when)

        return self.begin(operation_id, disk, finish=finish)

    # --- delete ------------------------------------------------------------------------

    def begin_delete_disk(self: ComputeBackend, resource_group: str, name: str) -> Operation | None:
        """Start deleting; ``None`` when there is no such disk (ARM answers 204)."""
        self.check_group(resource_group)
        disk = self.disks.get((resource_group.lower(), name.lower()))
        if disk is None:
            return None
        if disk.managed_by:
            raise DiskAttached(disk.name, disk.managed_by)
        if disk.sas is not None:
            raise OperationNotAllowed(
                f"Disk {disk.name} has an active SAS; end access (endGetAccess) before deleting."
            )
        disk.provisioning_state = "Deleting"

        def finish(when: float) -> None:
            self.disks.pop(disk.key, None)
            self.announce_delete(disk, when)

        return self.begin("Disks_Delete", disk, finish=finish)

    # --- export access -----------------------------------------------------------------

    def begin_grant_disk_access(
        self: ComputeBackend, resource_group: str, name: str, body: dict[str, Any]
    ) -> Operation:
        disk = self.get_disk(resource_group, name)
        access, seconds = parse_grant(body)
        if disk.disk_state == "Attached":
            raise OperationNotAllowed(
                f"Disk {disk.name} is attached to running VM {disk.managed_by}; export needs "
                "the disk unattached or the VM deallocated."
            )
        grant = self.grant_access(disk, access, seconds)
        output = {"accessSAS": grant.url}
        if body.get("getSecureVMGuestStateSAS"):
            # The VM guest state (and metadata) of a confidential / trusted-launch OS disk
            # are exported as separate blobs with their own SAS.
            output["securityDataAccessSAS"] = AccessGrant.issue(access, grant.expires).url
            output["securityMetadataAccessSAS"] = AccessGrant.issue(access, grant.expires).url
        return self.begin("Disks_GrantAccess", disk, finish=lambda when: output)

    def begin_revoke_disk_access(self: ComputeBackend, resource_group: str, name: str) -> Operation:
        disk = self.get_disk(resource_group, name)
        disk.sas = None
        return self.begin("Disks_RevokeAccess", disk)

    def grant_access(
        self: ComputeBackend, resource: Disk | Any, access: str, seconds: int
    ) -> AccessGrant:
        """Give ``resource`` an active SAS that lapses after ``seconds`` of world time."""
        grant = AccessGrant.issue(access, self.world.now() + seconds)
        resource.sas = grant

        def expire(when: float) -> None:
            if resource.sas is grant:
                resource.sas = None

        self.world.at(grant.expires, expire)
        return grant

    # --- guest writes ------------------------------------------------------------------

    def write_disk(
        self: ComputeBackend, disk: Disk, count: int | None, offsets: list[int] | None
    ) -> None:
        disk.content = content.write(
            disk.content, disk.size_gb, self.world.rng, count=count, offsets=offsets
        )


def parse_grant(body: dict[str, Any]) -> tuple[str, int]:
    access = body.get("access")
    if access not in ("Read", "Write", "None"):
        raise InvalidParameter("access must be Read, Write or None.", target="access")
    seconds = body.get("durationInSeconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
        raise InvalidParameter(
            "durationInSeconds must be a positive integer.", target="durationInSeconds"
        )
    return access, seconds
