"""The Compute port: the narrow set of Azure calls diskdr makes on managed disks.

Velero-style: VMs in scope and their disks, create a point, read a point's state, start a
cross-region copy, delete a point, list our points, create a disk from a point. Every call
is idempotent where Azure lets it be (deterministic names; an existing point with our tags
is adopted), and every failure becomes a :class:`diskdr.errors.AzureError` carrying the
Azure error code and the request id. Retries and ``Retry-After`` are the SDK's.

No call waits for a long-running operation: DiskRP answers its LROs without
``Retry-After`` (azure-powershell#11464), so an SDK poller would sleep 30 s per poll inside
an activity. Creates and deletes go out with ``polling=False`` and return what Azure
accepted (:func:`accepted`); orchestrations observe completion by reading the resource on
durable timers, and a create whose answer was lost is found again by its name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.core.exceptions import AzureError as SdkError
from azure.core.exceptions import HttpResponseError
from azure.core.polling import LROPoller
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    CreationData,
    Disk,
    DiskProperties,
    DiskSku,
    Snapshot,
    SnapshotProperties,
)

from diskdr.azure.clients import Clients
from diskdr.errors import (
    AzureError,
    ConflictError,
    LimitReachedError,
    PointTagsError,
    ResourceNotFoundError,
    ThrottledError,
)
from diskdr.inventory import DiskInfo, VmInfo
from diskdr.model import PointState, RecoveryPoint
from diskdr.naming import (
    TAG_HOLD,
    TAG_OWNER,
    disk_create_option,
    is_owned_by,
    parse_resource_id,
)

log = logging.getLogger(__name__)

# Azure's code for "a platform limit was reached" on a snapshot create (the 500 incremental
# snapshots of a disk; seen in azure-sdk-for-python#14282). Retrying does not help.
LIMIT_CODES = frozenset({"SnapshotsLimitReached"})
_USABLE_ACCESS_STATES = {"available", "instantaccess", "availablewithinstantaccess"}
# Points of one resource group read with a listing from this many on, until a listing
# of the group says how many pages (reads) it takes.
LIST_FROM_POINTS = 2
# Given to every begin_* call: start the operation, never poll it (module docstring).
NO_POLLING: dict[str, Any] = {"polling": False}

T = TypeVar("T")


def accepted(poller: LROPoller[T]) -> T:
    """What Azure answered when it accepted a long-running request started with
    ``polling=False``: azure-core's ``NoPolling`` keeps that first answer and deserializes it
    here without sending anything (a snapshot or disk as accepted, ``provisioningState``
    ``Updating`` while the operation runs; None for a delete)."""
    return poller.polling_method().resource()


def azure_error(error: HttpResponseError, action: str) -> AzureError:
    """The typed diskdr error for an SDK error, with Azure's code and request id."""
    code = getattr(getattr(error, "error", None), "code", None)
    status = error.status_code
    headers = getattr(error.response, "headers", None) or {}
    request_id = headers.get("x-ms-request-id")
    message = getattr(getattr(error, "error", None), "message", None) or error.message
    kind: type[AzureError] = AzureError
    if code in LIMIT_CODES:
        kind = LimitReachedError
    elif status == 404:
        kind = ResourceNotFoundError
    elif status == 409:
        kind = ConflictError
    elif status == 429:
        kind = ThrottledError
    return kind(f"{action}: {message}", code=code, status=status, request_id=request_id)


@contextmanager
def azure_call(action: str) -> Iterator[None]:
    try:
        yield
    except HttpResponseError as error:
        raise azure_error(error, action) from error
    except SdkError as error:  # no answer at all (connection, timeout): status None
        raise AzureError(f"{action}: {error}") from error


def snapshot_resource_id(subscription_id: str, resource_group: str, name: str) -> str:
    """The ARM id of a snapshot (what a point's deterministic name resolves to)."""
    return (
        f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Compute/snapshots/{name}"
    )


def snapshot_state(snapshot: Snapshot) -> tuple[PointState, float | None, str | None]:
    """(state, completion percent, error code) of a snapshot as Azure reports it."""
    provisioning = (snapshot.provisioning_state or "").lower()
    copy_error = snapshot.copy_completion_error
    percent = snapshot.completion_percent
    if provisioning == "failed":
        return "failed", percent, "ProvisioningFailed"
    if copy_error is not None:
        return "failed", percent, copy_error.error_code or "CopyFailed"
    if provisioning != "succeeded":
        return "creating", percent, None
    access = (snapshot.snapshot_access_state or "").lower()
    if percent is not None and percent < 100:
        return "pending", percent, None
    if access and access not in _USABLE_ACCESS_STATES:
        return "pending", percent, None
    return "usable", percent, None


def to_recovery_point(snapshot: Snapshot, install_id: str) -> RecoveryPoint | None:
    """Our view of a snapshot, or None if it is not this install's."""
    state, percent, error_code = snapshot_state(snapshot)
    return RecoveryPoint.from_tags(
        id=snapshot.id or "",
        name=snapshot.name or "",
        region=(snapshot.location or "").lower(),
        tags=snapshot.tags,
        install_id=install_id,
        state=state,
        completion_percent=percent,
        error_code=error_code,
        created_at=snapshot.time_created,
    )


@dataclass(frozen=True)
class PointListing:
    """Our points in a scope, plus resources with our owner tag whose tags are broken."""

    points: tuple[RecoveryPoint, ...]
    broken: tuple[str, ...]  # messages; such resources are reported, never deleted


class ComputePort:
    """diskdr's calls to Microsoft.Compute, one method per Azure operation it needs."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients
        self.install_id = clients.settings.install_id
        # (subscription, resource group) -> pages its last snapshot listing took.
        self._group_pages: dict[tuple[str, str], int] = {}

    def _compute(self, subscription_id: str) -> ComputeManagementClient:
        return self._clients.compute(subscription_id)

    # --- inventory ----------------------------------------------------------------------
    def list_vms(self, subscription_id: str, resource_groups: Iterable[str] = ()) -> list[VmInfo]:
        """Every VM of a subscription (or of the given resource groups) with its disks."""
        compute = self._compute(subscription_id)
        vms: list[Any] = []
        groups = list(resource_groups)
        if not groups:
            with azure_call(f"list virtual machines of subscription {subscription_id}"):
                vms = list(compute.virtual_machines.list_all())
        for group in groups:
            try:
                with azure_call(f"list virtual machines of {subscription_id}/{group}"):
                    vms.extend(compute.virtual_machines.list(group))
            except ResourceNotFoundError:
                # A policy's group need not exist in every subscription in scope.
                log.info("resource group %s not in subscription %s", group, subscription_id)
        if not vms:
            return []
        with azure_call(f"list disks of subscription {subscription_id}"):
            disks = {disk.id.lower(): disk for disk in compute.disks.list() if disk.id}
        return [self._vm_info(vm, disks) for vm in vms]

    def get_vm(self, vm_id: str) -> VmInfo:
        parts = parse_resource_id(vm_id)
        compute = self._compute(parts.subscription_id)
        with azure_call(f"get virtual machine {vm_id}"):
            vm = compute.virtual_machines.get(parts.resource_group, parts.name)
        disk_ids = _vm_disk_ids(vm)
        disks = {}
        for disk_id in disk_ids:
            disk = self._get_disk(disk_id)
            disks[disk_id.lower()] = disk
        return self._vm_info(vm, disks)

    def get_disk(self, disk_id: str) -> tuple[DiskInfo, str | None]:
        """A disk and the id of the VM it is attached to (None when unattached)."""
        disk = self._get_disk(disk_id)
        return _disk_info(disk, lun=None), disk.managed_by

    def _get_disk(self, disk_id: str) -> Disk:
        parts = parse_resource_id(disk_id)
        with azure_call(f"get disk {disk_id}"):
            return self._compute(parts.subscription_id).disks.get(parts.resource_group, parts.name)

    def _vm_info(self, vm: Any, disks: Mapping[str, Disk]) -> VmInfo:
        members: list[DiskInfo] = []
        profile = vm.storage_profile
        os_disk = profile.os_disk if profile else None
        if os_disk is not None and os_disk.managed_disk and os_disk.managed_disk.id:
            disk = disks.get(os_disk.managed_disk.id.lower())
            if disk is not None:
                members.append(_disk_info(disk, lun=None))
        for data_disk in (profile.data_disks if profile else None) or []:
            managed = data_disk.managed_disk
            disk = disks.get(managed.id.lower()) if managed and managed.id else None
            if disk is not None:
                members.append(_disk_info(disk, lun=data_disk.lun))
        return VmInfo(
            id=vm.id,
            name=vm.name,
            location=(vm.location or "").lower(),
            tags=dict(vm.tags or {}),
            disks=tuple(members),
        )

    # --- points ---------------------------------------------------------------------------
    def get_point(self, point_id: str) -> RecoveryPoint | None:
        """A point of ours by id; None if it no longer exists."""
        snapshot = self._get_snapshot(point_id)
        return None if snapshot is None else to_recovery_point(snapshot, self.install_id)

    def read_points(
        self, subscription_id: str, resource_group: str, point_ids: Sequence[str]
    ) -> dict[str, RecoveryPoint | None]:
        """The states of points of one resource group (None: gone), with as few reads as
        Azure allows: one paged listing of the group's snapshots, shared by all the points,
        unless a GET per point costs fewer reads (fewer points than the pages the group's
        last listing took)."""
        key = (subscription_id.lower(), resource_group.lower())
        if len(point_ids) < self._group_pages.get(key, LIST_FROM_POINTS):
            return {point_id: self.get_point(point_id) for point_id in point_ids}
        compute = self._compute(subscription_id)
        found: dict[str, Snapshot] = {}
        pages = 0
        with azure_call(f"list snapshots of resource group {resource_group}"):
            for page in compute.snapshots.list_by_resource_group(resource_group).by_page():
                pages += 1
                found.update((s.id.lower(), s) for s in page if s.id)
        self._group_pages[key] = max(1, pages)
        states: dict[str, RecoveryPoint | None] = {}
        for point_id in point_ids:
            snapshot = found.get(point_id.lower())
            states[point_id] = (
                None if snapshot is None else to_recovery_point(snapshot, self.install_id)
            )
        return states

    def _get_snapshot(self, snapshot_id: str) -> Snapshot | None:
        parts = parse_resource_id(snapshot_id)
        compute = self._compute(parts.subscription_id)
        try:
            with azure_call(f"get snapshot {snapshot_id}"):
                return compute.snapshots.get(parts.resource_group, parts.name)
        except ResourceNotFoundError:
            return None

    def create_point(
        self,
        *,
        subscription_id: str,
        resource_group: str,
        name: str,
        region: str,
        creation: CreationData,
        tags: Mapping[str, str],
    ) -> RecoveryPoint:
        """Create an incremental snapshot (from a disk, or a CopyStart copy), idempotently.

        An existing snapshot of that name with our tags is adopted; one that ``Failed`` is
        deleted and a transient error asks to be called again once it is gone; one that is
        not ours is never touched (ConflictError). Returns the point as Azure accepted it.
        """
        point, _ = self.create_or_adopt_point(
            subscription_id=subscription_id,
            resource_group=resource_group,
            name=name,
            region=region,
            creation=creation,
            tags=tags,
        )
        return point

    def create_or_adopt_point(
        self,
        *,
        subscription_id: str,
        resource_group: str,
        name: str,
        region: str,
        creation: CreationData,
        tags: Mapping[str, str],
    ) -> tuple[RecoveryPoint, bool]:
        """:meth:`create_point`, and whether the point was adopted (True) or created."""
        compute = self._compute(subscription_id)
        snapshot_id = snapshot_resource_id(subscription_id, resource_group, name)
        existing = self._get_snapshot(snapshot_id)
        if existing is not None:
            if not is_owned_by(existing.tags, self.install_id):
                raise ConflictError(
                    f"snapshot {snapshot_id} exists and is not owned by this install "
                    f"({TAG_OWNER} is {(existing.tags or {}).get(TAG_OWNER)!r}); left alone",
                    code="NameOwnedByOther",
                    status=409,
                )
            deleting = (existing.provisioning_state or "").lower() == "deleting"
            point = None if deleting else to_recovery_point(existing, self.install_id)
            if point is not None and point.state != "failed":
                log.info("adopting existing point %s (%s)", name, point.state)
                return point, True
            if not deleting:
                log.warning("deleting failed point %s before making it again", name)
                self.delete_point(snapshot_id)
            # The name is free only once the delete's operation ends: ask again later
            # (status None reads as transient, so the orchestration retries with backoff).
            raise AzureError(
                f"create snapshot {name}: a failed snapshot of that name is being deleted; "
                "it will be made again",
                code="FailedPointBeingDeleted",
            )
        body = Snapshot(
            location=region,
            properties=SnapshotProperties(creation_data=creation, incremental=True),
            tags=dict(tags),
        )
        with azure_call(f"create snapshot {name}"):
            created = accepted(
                compute.snapshots.begin_create_or_update(resource_group, name, body, **NO_POLLING)
            )
        # The point as accepted (usually ``creating``): the orchestration reads it again on
        # durable timers. A create that fails later (e.g. ``SnapshotsLimitReached``) leaves
        # a ``Failed`` snapshot, which reads as a failed point and is removed by pruning.
        point = to_recovery_point(created, self.install_id)
        if point is None:
            raise AzureError(f"create snapshot {name}: Azure's answer does not carry our tags")
        return point, False

    def delete_point(self, point_id: str) -> bool:
        """Delete one of our points, re-reading it first: refuses anything without our owner
        tag (or with broken diskdr tags) and anything put on hold since it was listed.

        Returns False if it was already gone (deleting twice is harmless).
        """
        snapshot = self._get_snapshot(point_id)
        if snapshot is None:
            return False
        if not is_owned_by(snapshot.tags, self.install_id):
            raise ConflictError(
                f"refusing to delete {point_id}: not owned by install {self.install_id}",
                code="NotOwned",
                status=409,
            )
        point = to_recovery_point(snapshot, self.install_id)  # PointTagsError if tags broken
        if point is not None and point.hold:
            raise ConflictError(
                f"refusing to delete {point_id}: it is on hold ({TAG_HOLD} tag)",
                code="PointOnHold",
                status=409,
            )
        parts = parse_resource_id(point_id)
        try:
            with azure_call(f"delete snapshot {point_id}"):
                # Accepted is enough: the snapshot is gone from listings once the operation
                # ends, and a second delete of a deleting snapshot is harmless.
                self._compute(parts.subscription_id).snapshots.begin_delete(
                    parts.resource_group, parts.name, **NO_POLLING
                )
        except ResourceNotFoundError:
            return False
        return True

    def list_points(self, subscription_id: str) -> PointListing:
        """All of this install's points in a subscription (every region)."""
        with azure_call(f"list snapshots of subscription {subscription_id}"):
            snapshots = list(self._compute(subscription_id).snapshots.list())
        return self._our_points(snapshots)

    def list_points_in_group(self, subscription_id: str, resource_group: str) -> PointListing:
        """This install's points in one resource group."""
        with azure_call(f"list snapshots of resource group {resource_group}"):
            snapshots = list(
                self._compute(subscription_id).snapshots.list_by_resource_group(resource_group)
            )
        return self._our_points(snapshots)

    def _our_points(self, snapshots: Iterable[Snapshot]) -> PointListing:
        points: list[RecoveryPoint] = []
        broken: list[str] = []
        for snapshot in snapshots:
            try:
                point = to_recovery_point(snapshot, self.install_id)
            except PointTagsError as error:
                broken.append(str(error))
                continue
            if point is not None:
                points.append(point)
        return PointListing(tuple(points), tuple(broken))

    # --- restore --------------------------------------------------------------------------
    def create_disk_from_point(
        self,
        point_id: str,
        *,
        resource_group: str,
        name: str,
        region: str,
        sku: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> DiskInfo:
        """Start a new managed disk with the content of a point (same region as the point);
        the disk as accepted (``provisioningState`` ``Updating`` until its operation ends)."""
        parts = parse_resource_id(point_id)
        compute = self._compute(parts.subscription_id)
        body = Disk(
            location=region,
            properties=DiskProperties(
                creation_data=CreationData(
                    create_option=disk_create_option(point_id), source_resource_id=point_id
                )
            ),
            sku=DiskSku(name=sku) if sku else None,
            tags=dict(tags or {}),
        )
        with azure_call(f"create disk {name} from {point_id}"):
            disk = accepted(
                compute.disks.begin_create_or_update(resource_group, name, body, **NO_POLLING)
            )
        return _disk_info(disk, lun=None)


def _vm_disk_ids(vm: Any) -> list[str]:
    profile = vm.storage_profile
    ids: list[str] = []
    if profile and profile.os_disk and profile.os_disk.managed_disk:
        ids.append(profile.os_disk.managed_disk.id)
    for data_disk in (profile.data_disks if profile else None) or []:
        if data_disk.managed_disk and data_disk.managed_disk.id:
            ids.append(data_disk.managed_disk.id)
    return [disk_id for disk_id in ids if disk_id]


def _disk_info(disk: Disk, lun: int | None) -> DiskInfo:
    return DiskInfo(
        id=disk.id or "",
        name=disk.name or "",
        location=(disk.location or "").lower(),
        sku=disk.sku.name if disk.sku and disk.sku.name else "",
        size_gb=int(disk.disk_size_gb or 0),
        unique_id=disk.unique_id or "",
        lun=lun,
        tags=dict(disk.tags or {}),
    )
