"""The restore point port: diskdr's calls on VM restore points (collections, points, copies).

Like :mod:`diskdr.azure.compute`: one method per Azure operation diskdr needs, every
failure a typed :class:`~diskdr.errors.AzureError` with Azure's code and request id, SDK
models turned into the plain views of :mod:`diskdr.restore_points` at this edge.

Two differences from snapshots, both Azure's:

- restore points carry no tags, so ownership is the collection's ``diskdr-owner`` tag and
  every write first reads the collection;
- a restore point create that Azure refuses for a per-hour limit answers 429 with a
  ``Retry-After`` of up to an hour. The SDK's retry policy would sleep that long inside an
  activity, so creates and copies go out with ``retry_total=0``: a refusal comes back at
  once (as :class:`~diskdr.errors.ThrottledError` with ``retry_after``), and the
  orchestrator waits on a durable timer instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from azure.core.exceptions import AzureError as SdkError
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import (
    ApiEntityReference,
    RestorePoint,
    RestorePointCollection,
    RestorePointCollectionProperties,
    RestorePointCollectionSourceProperties,
    RestorePointCollectionUpdate,
    RestorePointProperties,
)

from diskdr.azure.clients import Clients
from diskdr.azure.compute import NO_POLLING, azure_call, azure_error
from diskdr.errors import (
    AzureError,
    ConflictError,
    PointTagsError,
    ResourceNotFoundError,
    ThrottledError,
)
from diskdr.naming import (
    TAG_HOLD,
    TAG_OWNER,
    TAG_POLICY,
    is_owned_by,
    parse_resource_id,
    same_resource_id_leniently,
)
from diskdr.restore_points import (
    CollectionView,
    DiskRestorePointView,
    RestorePointView,
    VmRestorePoint,
    collection_of,
    collection_resource_id,
    link_copies,
    to_vm_restore_point,
)

log = logging.getLogger(__name__)

# Disk types whose restore points stay Pending until a background copy ends.
_BACKGROUND_COPY_SKUS = frozenset({"premiumv2_lrs", "ultrassd_lrs"})
# Sent with creates and copies: no SDK retries (see the module docstring).
_NO_RETRIES: dict[str, Any] = {"retry_total": 0}


@dataclass(frozen=True)
class RestorePointListing:
    """Our VM restore points in a scope, plus what carries our owner tag but could not be
    read as ours (reported, never deleted)."""

    restore_points: tuple[VmRestorePoint, ...]
    broken: tuple[str, ...]


def retry_after(error: HttpResponseError) -> float | None:
    """The wait Azure asked for in a refusal, in seconds (``retry-after-ms`` first)."""
    headers = getattr(error.response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return float(value) * scale
            except ValueError:
                continue
    return None


class RestorePointPort:
    """diskdr's calls to Microsoft.Compute restore point collections and restore points."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients
        self.install_id = clients.settings.install_id

    def _compute(self, subscription_id: str) -> ComputeManagementClient:
        return self._clients.compute(subscription_id)

    # --- collections ------------------------------------------------------------------------
    def get_collection(
        self, collection_id: str, *, with_points: bool = True
    ) -> tuple[CollectionView, list[RestorePointView]] | None:
        """A collection and (``with_points``) its restore points, without their disks;
        None if it does not exist."""
        found = self._get_collection(collection_id, with_points)
        if found is None:
            return None
        return _collection_view(found), [_point_view(p) for p in found.restore_points or []]

    def _get_collection(
        self, collection_id: str, with_points: bool = True
    ) -> RestorePointCollection | None:
        parts = parse_resource_id(collection_id)
        compute = self._compute(parts.subscription_id)
        try:
            with azure_call(f"get restore point collection {collection_id}"):
                return compute.restore_point_collections.get(
                    parts.resource_group,
                    parts.name,
                    expand="restorePoints" if with_points else None,
                )
        except ResourceNotFoundError:
            return None

    def ensure_collection(
        self,
        *,
        subscription_id: str,
        resource_group: str,
        name: str,
        region: str,
        source_id: str,
        tags: Mapping[str, str],
        source_vm_id: str | None = None,
    ) -> tuple[CollectionView, list[RestorePointView]]:
        """The collection of that name, created if absent; with its restore points.

        One that is not ours, or copies another source, is never touched (ConflictError);
        sources are compared leniently (case, slashes, the source collection's VM).
        Our tags are set if they differ (e.g. the VM's policy changed); other tags, such as
        a person's ``diskdr-hold``, are kept.
        """
        collection_id = collection_resource_id(subscription_id, resource_group, name)
        found = self.get_collection(collection_id)
        compute = self._compute(subscription_id)
        if found is None:
            body = RestorePointCollection(
                location=region,
                tags=dict(tags),
                properties=RestorePointCollectionProperties(
                    source=RestorePointCollectionSourceProperties(id=source_id)
                ),
            )
            with azure_call(f"create restore point collection {name}"):
                created = compute.restore_point_collections.create_or_update(
                    resource_group, name, body
                )
            return _collection_view(created), []
        collection, points = found
        if not is_owned_by(collection.tags, self.install_id):
            raise ConflictError(
                f"restore point collection {collection_id} exists and is not owned by this "
                f"install ({TAG_OWNER} is {collection.tags.get(TAG_OWNER)!r}); left alone",
                code="NameOwnedByOther",
                status=409,
            )
        # Azure may answer a replica collection's source in another form than sent, or name
        # the source collection's VM (spec example RestorePointCollection_CreateOrUpdate_
        # ForCrossRegionCopy.json): ``source_vm_id`` is that VM, accepted too.
        accepted = [source_id, *([source_vm_id] if source_vm_id else [])]
        if not any(same_resource_id_leniently(collection.source_id, a) for a in accepted):
            raise ConflictError(
                f"restore point collection {collection_id} copies {collection.source_id}, "
                f"not {source_id}; left alone",
                code="CollectionSourceMismatch",
                status=409,
            )
        # A collection belongs to the policy that created it: another policy's run (an
        # on-demand backup naming it, a VM that moved policies) never rewrites diskdr-policy,
        # so no other policy's pruning comes to judge this collection's history.
        if any(key.lower() == TAG_POLICY for key in collection.tags):
            tags = {key: value for key, value in tags.items() if key != TAG_POLICY}
        if any(collection.tags.get(key) != value for key, value in tags.items()):
            merged = {**collection.tags, **tags}
            with azure_call(f"update the tags of restore point collection {name}"):
                updated = compute.restore_point_collections.update(
                    resource_group, name, RestorePointCollectionUpdate(tags=merged)
                )
            collection = _collection_view(updated)
        return collection, points

    # --- restore points --------------------------------------------------------------------
    def read(self, restore_point_id: str) -> RestorePointView | None:
        """A restore point with the state of each of its disk restore points (two reads:
        the point with its instance view, and its disk restore points)."""
        parts = parse_resource_id(restore_point_id)
        collection = parse_resource_id(collection_of(restore_point_id)).name
        compute = self._compute(parts.subscription_id)
        try:
            with azure_call(f"get restore point {restore_point_id}"):
                point = compute.restore_points.get(
                    parts.resource_group, collection, parts.name, expand="instanceView"
                )
        except ResourceNotFoundError:
            return None
        return self._with_disks(parts.subscription_id, parts.resource_group, collection, point)

    def _with_disks(
        self, subscription_id: str, resource_group: str, collection: str, point: Any
    ) -> RestorePointView:
        """The view of ``point`` with its disk restore points (listed: they carry the source
        disk's uniqueId and a copy's replication state)."""
        view = _point_view(point)
        if view.provisioning == "failed":
            return view  # a failed restore point holds no disk restore point
        compute = self._compute(subscription_id)
        try:
            with azure_call(f"list the disk restore points of {view.id}"):
                listed = list(
                    compute.disk_restore_point.list_by_restore_point(
                        resource_group, collection, view.name
                    )
                )
        except ResourceNotFoundError:
            return view  # deleted meanwhile
        return _merge_disks(view, point, listed)

    def create(
        self, collection: CollectionView, name: str, *, mode: str, exclude_disk_ids: Iterable[str]
    ) -> None:
        """Start creating a VM restore point (Azure answers 201 and runs an operation; it is
        not waited for: the orchestration reads the point on durable timers).

        A create refused at once may leave a ``Failed`` restore point behind: it is deleted,
        and the refusal raised. One that fails later reads as a failed point.
        """
        body = RestorePoint(
            properties=RestorePointProperties(
                consistency_mode=mode,
                exclude_disks=[ApiEntityReference(id=disk_id) for disk_id in exclude_disk_ids],
            )
        )
        self._create(collection, name, body, f"create restore point {name}")

    def copy(self, collection: CollectionView, name: str, source_restore_point_id: str) -> None:
        """Start the cross-region copy of a restore point into ``collection`` (a collection
        whose source is the source point's collection). The operation ends once the copy is
        initiated; the data crosses regions afterwards (see :meth:`read`)."""
        body = RestorePoint(
            properties=RestorePointProperties(
                source_restore_point=ApiEntityReference(id=source_restore_point_id)
            )
        )
        self._create(collection, name, body, f"copy restore point {source_restore_point_id}")

    def _create(
        self, collection: CollectionView, name: str, body: RestorePoint, action: str
    ) -> None:
        parts = parse_resource_id(collection.id)
        compute = self._compute(parts.subscription_id)
        try:
            compute.restore_points.begin_create(
                parts.resource_group, collection.name, name, body, **_NO_RETRIES, **NO_POLLING
            )
        except HttpResponseError as error:
            typed = azure_error(error, action)
            if isinstance(typed, ThrottledError):
                typed.retry_after = retry_after(error)
            self._clean_up_failed(f"{collection.id}/restorePoints/{name}")
            raise typed from error
        except SdkError as error:  # no answer at all: the create may or may not have begun
            raise AzureError(f"{action}: {error}") from error

    def _clean_up_failed(self, restore_point_id: str) -> None:
        """Delete the ``Failed`` restore point a refused create leaves (best effort: the
        create's own error is what the caller reports)."""
        try:
            leftover = self.read(restore_point_id)
            if leftover is not None and leftover.provisioning == "failed":
                log.warning("deleting the failed restore point %s", restore_point_id)
                self.delete(restore_point_id)
        except (AzureError, PointTagsError) as error:
            log.warning("could not clean up %s: %s", restore_point_id, error)

    def delete(self, restore_point_id: str) -> bool:
        """Delete one of our restore points (with its disk restore points), re-reading its
        collection first: refused unless the collection carries our owner tag, and while
        the collection is on hold (``diskdr-hold``). False if it was already gone."""
        found = self.get_collection(collection_of(restore_point_id))
        if found is None:
            return False
        collection, points = found
        if not is_owned_by(collection.tags, self.install_id):
            raise ConflictError(
                f"refusing to delete {restore_point_id}: its collection is not owned by "
                f"install {self.install_id}",
                code="NotOwned",
                status=409,
            )
        if any(key.lower() == TAG_HOLD for key in collection.tags):
            raise ConflictError(
                f"refusing to delete {restore_point_id}: its collection is on hold "
                f"({TAG_HOLD} tag)",
                code="PointOnHold",
                status=409,
            )
        name = restore_point_id.rstrip("/").rsplit("/", 1)[-1]
        if not any(point.name.lower() == name.lower() for point in points):
            return False
        parts = parse_resource_id(collection.id)
        try:
            with azure_call(f"delete restore point {restore_point_id}"):
                self._compute(parts.subscription_id).restore_points.begin_delete(
                    parts.resource_group, collection.name, name, **NO_POLLING
                )
        except ResourceNotFoundError:
            return False
        return True

    def vm_disk_ids(self, vm_id: str) -> list[str]:
        """The ids of the disks attached to a VM now (OS disk first)."""
        parts = parse_resource_id(vm_id)
        with azure_call(f"get virtual machine {vm_id}"):
            vm = self._compute(parts.subscription_id).virtual_machines.get(
                parts.resource_group, parts.name
            )
        profile = vm.storage_profile
        disks = [profile.os_disk] if profile and profile.os_disk else []
        disks += list(profile.data_disks or []) if profile else []
        return [d.managed_disk.id for d in disks if d.managed_disk and d.managed_disk.id]

    # --- listing ---------------------------------------------------------------------------
    def list_restore_points(self, subscription_id: str) -> RestorePointListing:
        """This install's VM restore points in a subscription, every region, both roles.

        One listing of the collections, one read of each of ours (with its points), and
        per restore point one listing of its disk restore points (plus its instance view
        when a Premium SSD v2 / Ultra disk's access state is not on the disk points).
        """
        compute = self._compute(subscription_id)
        with azure_call(f"list restore point collections of subscription {subscription_id}"):
            collections = list(compute.restore_point_collections.list_all())
        found: list[VmRestorePoint] = []
        broken: list[str] = []
        for listed in collections:
            if not listed.id or not is_owned_by(listed.tags, self.install_id):
                continue
            expanded = self._get_collection(listed.id)
            if expanded is None:
                continue  # deleted meanwhile
            collection = _collection_view(expanded)
            group = parse_resource_id(collection.id).resource_group
            for point in expanded.restore_points or []:
                view = self._listed_view(subscription_id, group, collection, point)
                try:
                    restore_point = to_vm_restore_point(collection, view, self.install_id)
                except PointTagsError as error:
                    broken.append(str(error))
                    continue
                if restore_point is not None:
                    found.append(restore_point)
        return RestorePointListing(tuple(link_copies(found)), tuple(broken))

    def _listed_view(
        self, subscription_id: str, resource_group: str, collection: CollectionView, point: Any
    ) -> RestorePointView:
        view = self._with_disks(subscription_id, resource_group, collection.name, point)
        needs_access_state = view.provisioning == "succeeded" and any(
            (disk.sku or "").lower() in _BACKGROUND_COPY_SKUS and disk.access_state is None
            for disk in view.disks
        )
        if not needs_access_state:
            return view
        return self.read(view.id) or view


# --- SDK models -> views ---------------------------------------------------------------------
def _collection_view(collection: Any) -> CollectionView:
    source = collection.source
    return CollectionView(
        id=collection.id or "",
        name=collection.name or "",
        region=(collection.location or "").lower(),
        source_id=(source.id if source else None) or "",
        tags=dict(collection.tags or {}),
    )


def _point_view(point: Any) -> RestorePointView:
    source = point.source_restore_point
    return RestorePointView(
        id=point.id or "",
        name=point.name or "",
        provisioning_state=point.provisioning_state or "",
        consistency_mode=point.consistency_mode,
        created_at=point.time_created,
        source_restore_point_id=source.id if source and source.id else None,
    )


def _merge_disks(view: RestorePointView, point: Any, listed: list[Any]) -> RestorePointView:
    """``view`` with its disk restore points: which disk each was taken of (the point's
    ``sourceMetadata``), the disk's uniqueId and a copy's replication (the listed disk
    restore points), and the instance view's replication status and access state."""
    captured: dict[str, tuple[str, str | None, str | None, str | None]] = {}
    storage = point.source_metadata.storage_profile if point.source_metadata else None
    for disk in [storage.os_disk, *(storage.data_disks or [])] if storage else []:
        ref = disk.disk_restore_point if disk is not None else None
        if ref is None or not ref.id:
            continue
        managed = disk.managed_disk
        source = ref.source_disk_restore_point
        captured[ref.id.lower()] = (
            ref.id,
            managed.id if managed else None,
            managed.storage_account_type if managed else None,
            source.id if source else None,
        )
    status: dict[str, tuple[str | None, float | None, str | None]] = {}
    instance_view = point.instance_view
    for entry in (instance_view.disk_restore_points or []) if instance_view else []:
        replication = entry.replication_status
        code = replication.status.code if replication and replication.status else None
        status[(entry.id or "").lower()] = (
            code.rsplit("/", 1)[-1].lower() if code else None,
            replication.completion_percent if replication else None,
            entry.snapshot_access_state,
        )
    disks = []
    by_id = {(drp.id or "").lower(): drp for drp in listed if drp.id}
    for key in by_id or captured:
        drp = by_id.get(key)
        known_id, disk_id, sku, source_id = captured.get(key, (key, None, None, None))
        source_resource = (drp.source_resource_id if drp is not None else None) or ""
        if "/diskrestorepoints/" in source_resource.lower():
            source_id = source_id or source_resource  # a copy: its source disk restore point
        else:
            disk_id = disk_id or source_resource or None
        replication, percent, access = status.get(key, (None, None, None))
        if drp is not None:
            replication = replication or (drp.replication_state or None)
            percent = percent if percent is not None else drp.completion_percent
            access = access or drp.snapshot_access_state
        disks.append(
            DiskRestorePointView(
                id=drp.id if drp is not None else known_id,
                disk_id=disk_id or "",
                disk_uid=(drp.source_unique_id if drp is not None else None) or "",
                sku=sku,
                source_id=source_id,
                replication=replication.lower() if replication else None,
                completion_percent=float(percent) if percent is not None else None,
                access_state=access,
            )
        )
    return replace(view, disks=tuple(disks))
