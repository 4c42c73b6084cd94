"""Microsoft.Compute's in-memory domain (moto-style backends; no HTTP in here).

``ComputeBackends`` (the world's ``"compute"`` backend) holds one ``ComputeBackend`` per
subscription, composed of one mixin per resource type (disks, snapshots, VMs, restore point
collections with their restore points), like moto's EC2 backend. ARM resource ids carry no
region and a name is unique per resource group and type across regions, so resources are
keyed by (resource group, name) within their subscription and carry their region; regional
rules (copies in flight per target region, a snapshot family's members in a region, same-
region sources) filter on it. Cross-region and cross-subscription lookups go through
``ComputeBackends.find`` (child resources such as disk restore points through their parent's
``child``).

A new resource type is a new mixin plus its routes; the announcement helpers here feed
Event Grid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator.arm import COMPUTE, normalize_id, parse_resource_id
from emulator.compute.models.common import ComputeResource
from emulator.compute.models.disks import Disk, DiskBackendMixin
from emulator.compute.models.restore_points import (
    DiskRestorePoint,
    RestorePoint,
    RestorePointBackendMixin,
    RestorePointCollection,
)
from emulator.compute.models.snapshots import Snapshot, SnapshotBackendMixin
from emulator.compute.models.vms import VirtualMachine, VirtualMachineBackendMixin
from emulator.content import BlockMap
from emulator.errors import ArmError, InvalidResourceLocation, ResourceGroupNotFound
from emulator.world import LimitViolation, ResourceChange

if TYPE_CHECKING:
    from emulator.lro import Operation, Operations
    from emulator.resources.models import ResourceGroupsBackend
    from emulator.world import World

__all__ = [
    "ComputeBackend",
    "ComputeBackends",
    "Disk",
    "DiskRestorePoint",
    "RestorePoint",
    "RestorePointCollection",
    "Snapshot",
    "VirtualMachine",
    "compute_stats",
]


class ComputeBackend(
    DiskBackendMixin, SnapshotBackendMixin, VirtualMachineBackendMixin, RestorePointBackendMixin
):
    """Microsoft.Compute resources of one subscription."""

    def __init__(self, service: ComputeBackends, subscription: str) -> None:
        self.service = service
        self.world = service.world
        self.subscription = subscription
        self.disks: dict[tuple[str, str], Disk] = {}
        self.snapshots: dict[tuple[str, str], Snapshot] = {}
        self.vms: dict[tuple[str, str], VirtualMachine] = {}
        self.restore_point_collections: dict[tuple[str, str], RestorePointCollection] = {}
        self.restore_point_requests: dict[tuple[str, str], Any] = {}

    # --- plumbing shared by the mixins -------------------------------------------------

    @property
    def operations(self) -> Operations:
        return self.world.backend("operations")

    def begin(
        self,
        operation_id: str,
        resource: Any,
        finish: Callable[[float], Any] | None = None,
        **options: Any,
    ) -> Operation:
        """Start a long-running operation on one of this subscription's resources (in the
        resource's region); ``finish`` and ``options`` as in ``Operations.begin``."""
        return self.operations.begin(
            operation_id,
            subscription=self.subscription,
            location=resource.location,
            resource_id=resource.id,
            finish=finish,
            **options,
        )

    @property
    def groups(self) -> ResourceGroupsBackend:
        return self.world.backend("resources")

    def check_group(self, resource_group: str) -> None:
        if not self.groups.exists(self.subscription, resource_group):
            raise ResourceGroupNotFound.named(resource_group)

    def group_name(self, resource_group: str) -> str:
        """The resource group's name as it was created (ARM answers with that casing)."""
        return self.groups.get(self.subscription, resource_group).name

    def collections(self) -> dict[str, dict[tuple[str, str], Any]]:
        """Resource type (ARM path segment) → this subscription's resources of that type.

        A mixin adding a resource type extends this so name checks and lookups see it.
        """
        return {
            "disks": self.disks,
            "snapshots": self.snapshots,
            "virtualMachines": self.vms,
            "restorePointCollections": self.restore_point_collections,
        }

    def check_name_free(self, resource_group: str, name: str, location: str, type_: str) -> None:
        existing = self.collections()[type_].get((resource_group.lower(), name.lower()))
        if existing is not None and existing.location != location:
            raise InvalidResourceLocation(
                f"The resource '{name}' already exists in location '{existing.location}' in "
                f"resource group '{resource_group}'. A resource with the same name cannot be "
                f"created in location '{location}'. Please select a new resource name."
            )

    def violation(self, limit: str, error: ArmError, resource: str) -> None:
        """Record a request refused (or failed) because it hit a platform limit."""
        self.world.stats.violation(
            LimitViolation(
                limit=limit,
                code=error.code,
                status=error.status,
                resource=resource,
                time=self.world.now(),
                message=error.message,
            )
        )

    def copy_failed(self, limit: str, resource: str, message: str) -> None:
        """Record a copy failed after it was accepted (its source deleted): no HTTP status."""
        self.world.stats.violation(
            LimitViolation(
                limit=limit,
                code="CopySourceNotFound",
                status=0,
                resource=resource,
                time=self.world.now(),
                message=message,
            )
        )

    # --- announcements (Event Grid's source) -------------------------------------------

    def _announce(
        self,
        resource: ComputeResource,
        kind: str,
        action: str,
        when: float,
        status: str = "Succeeded",
    ) -> None:
        self.world.announce(
            ResourceChange(
                kind=kind,
                resource_id=resource.id,
                operation_name=f"{resource.resource_type}/{action}",
                subscription=self.subscription,
                resource_group=resource.resource_group,
                status=status,
                time=when,
                caller=self.world.caller,
            )
        )

    def announce_write(
        self, resource: ComputeResource, when: float, status: str = "Succeeded"
    ) -> None:
        self._announce(resource, "write", "write", when, status)

    def announce_delete(self, resource: ComputeResource, when: float) -> None:
        self._announce(resource, "delete", "delete", when)

    def announce_action(self, resource: ComputeResource, action: str, when: float) -> None:
        self._announce(resource, "action", f"{action}/action", when)

    # --- resource group deletion -------------------------------------------------------

    def delete_group_members(self, resource_group: str, when: float) -> None:
        rg = resource_group.lower()
        for vm in [v for (g, _), v in self.vms.items() if g == rg]:
            self.delete_vm_now(vm, when)
        for snapshot in [s for (g, _), s in self.snapshots.items() if g == rg]:
            self._fail_copies_reading(snapshot)
            self.snapshots.pop(snapshot.key, None)
            self.announce_delete(snapshot, when)
        for disk in [d for (g, _), d in self.disks.items() if g == rg]:
            self.disks.pop(disk.key, None)
            self.announce_delete(disk, when)
        self.delete_restore_point_collections_in_group(resource_group, when)


class ComputeBackends:
    """The world's Microsoft.Compute: one ``ComputeBackend`` per subscription."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._by_subscription: dict[str, ComputeBackend] = {}

    def __getitem__(self, subscription: str) -> ComputeBackend:
        key = subscription.lower()
        backend = self._by_subscription.get(key)
        if backend is None:
            backend = self._by_subscription[key] = ComputeBackend(self, subscription)
        return backend

    def find(self, resource_id: str) -> Any | None:
        """The resource with this id in any subscription, or ``None``."""
        try:
            ref = parse_resource_id(resource_id)
        except ArmError:
            return None
        if ref.namespace.lower() != COMPUTE.lower():
            return None
        backend = self._by_subscription.get(ref.subscription.lower())
        if backend is None:
            return None
        for type_, collection in backend.collections().items():
            if type_.lower() == ref.types[0].lower():
                resource = collection.get(ref.key)
                # Child resources (restore points, disk restore points) are found through
                # their parent's ``child(type, name)``.
                for child_type, child_name in zip(ref.types[1:], ref.names[1:], strict=True):
                    child = getattr(resource, "child", None)
                    resource = child(child_type, child_name) if child is not None else None
                return resource
        return None

    # Every resource of a type across subscriptions (for rules that span subscriptions).

    def all_snapshots(self) -> list[Snapshot]:
        return [s for b in self._by_subscription.values() for s in b.snapshots.values()]

    def all_restore_points(self) -> list[RestorePoint]:
        return [
            point
            for b in self._by_subscription.values()
            for collection in b.restore_point_collections.values()
            for point in collection.restore_points.values()
        ]

    def content_of(self, resource_id: str) -> BlockMap | None:
        """The blocks of a disk or snapshot (control plane ``content``)."""
        resource = self.find(resource_id)
        if isinstance(resource, Disk | Snapshot | DiskRestorePoint):
            return resource.content
        return None

    def content_details(self, resource_id: str) -> dict[str, Any]:
        """Extra facts for the control plane's ``content``: size, and for an incremental
        snapshot the blocks it changed against the previous one of its family (for a copy:
        the blocks it had to transfer)."""
        resource = self.find(resource_id)
        if isinstance(resource, DiskRestorePoint):
            return resource.content_details()
        if isinstance(resource, Snapshot):
            details: dict[str, Any] = {"sizeGB": resource.size_gb}
            if resource.incremental:
                details["changedBlocks"] = resource.changed_blocks
            return details
        if isinstance(resource, Disk):
            return {"sizeGB": resource.size_gb}
        return {}

    def delete_resource_group_members(
        self, subscription: str, resource_group: str, when: float
    ) -> None:
        backend = self._by_subscription.get(subscription.lower())
        if backend is not None:
            backend.delete_group_members(resource_group, when)


def compute_stats(world: World) -> dict[str, Any]:
    """Compute's contribution to GET /_emulator/stats: snapshots per source disk, copies."""
    compute: ComputeBackends = world.backend("compute")
    points: Counter[str] = Counter()
    in_flight: Counter[str] = Counter()
    for snapshot in compute.all_snapshots():
        if snapshot.family_key is not None and snapshot.copy_source_id is None:
            points[snapshot.family_key[0]] += 1
        elif snapshot.copy_source_id is None:
            source = normalize_id(snapshot.creation_data.get("sourceResourceId") or "")
            if "/providers/microsoft.compute/disks/" in source:
                points[source] += 1
        if snapshot.copy_source_id and snapshot.background and snapshot.background.in_flight:
            in_flight[f"{snapshot.subscription}/{snapshot.location}"] += 1
    return {"pointsPerDisk": dict(points), "copiesInFlight": dict(in_flight)}
