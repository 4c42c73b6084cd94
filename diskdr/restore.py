"""Recovery: which consistency group to restore, what to create from it, and under which
names — for a restore, a DR drill and a regional failover alike (pure; no I/O).

A restore is planned in full before anything is created: the group (``slot: latest`` is
the newest group complete in the region, or an exact slot), one new managed disk per
member (``Copy`` from a snapshot, ``Restore`` from a disk restore point) keeping the source
disk's SKU, size, zone and sector size, and in ``vm`` mode a NIC and a VM with the disks at
their LUNs. Names are deterministic in the request, so a retried request adopts what the
first one made; every resource carries provenance tags, and ``diskdr-restored-by`` marks
it as made by this install (the only resources a drill cleanup ever deletes).
docs/dr-runbook.md explains the choices.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from diskdr.api import ApiError
from diskdr.model import JsonModel, RecoveryPoint
from diskdr.naming import disk_create_option, format_slot, id_tag_value, parse_resource_id

# --- tags on what a restore creates ----------------------------------------------------
TAG_RESTORED_BY = "diskdr-restored-by"  # install id: diskdr made this (may adopt / clean up)
TAG_RESTORED_FROM = "diskdr-restored-from"  # the source disk (VM: the source VM)
TAG_RESTORE_POINT = "diskdr-restore-point"  # the recovery point the disk was made from
TAG_RESTORE_SLOT = "diskdr-restore-slot"  # the slot of that point
TAG_RESTORE_RUN = "diskdr-restore-run"  # the orchestration that made it
#: A VM tag: failover restores VMs in ascending order of it (absent: after all that have it).
TAG_RECOVERY_ORDER = "diskdr-recovery-order"
DEFAULT_ORDER = 1000

MODES = ("disks", "vm")
MAX_DISK_NAME = 80
MAX_VM_NAME = 64
# Regions with availability zones (Learn "Azure regions with availability zone support").
# A zonal source disk keeps its zone when restored in one of them, else it is regional.
ZONAL_REGIONS = frozenset(
    {
        "australiaeast", "brazilsouth", "canadacentral", "centralindia", "centralus",
        "eastasia", "eastus", "eastus2", "francecentral", "germanywestcentral", "italynorth",
        "japaneast", "koreacentral", "northeurope", "norwayeast", "polandcentral",
        "qatarcentral", "southafricanorth", "southcentralus", "southeastasia", "swedencentral",
        "switzerlandnorth", "uaenorth", "uksouth", "westeurope", "westus2", "westus3",
    }
)  # fmt: skip
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


class RestoreRefused(ApiError):
    """A restore that cannot be done as asked (a 4xx before anything is created)."""


# --- records ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceDisk(JsonModel):
    """What a restored disk keeps of its source (from the disk, or its points if gone)."""

    id: str
    name: str
    lun: int | None  # None: the OS disk
    sku: str
    size_gb: int
    zones: tuple[str, ...] = ()
    logical_sector_size: int | None = None
    os_type: str | None = None


@dataclass(frozen=True)
class DiskRestore(JsonModel):
    """One managed disk to create from one recovery point."""

    source_disk_id: str
    lun: int | None
    point_id: str
    content_point_id: str  # the primary point holding the source's data at the slot
    subscription_id: str
    resource_group: str
    name: str
    region: str
    sku: str
    size_gb: int
    create_option: str  # Copy (snapshot) | Restore (disk restore point)
    zones: tuple[str, ...] = ()
    logical_sector_size: int | None = None
    os_type: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def restored_disk_id(self) -> str:
        return resource_id(self.subscription_id, self.resource_group, "disks", self.name)


@dataclass(frozen=True)
class VmSpec(JsonModel):
    """The VM (and its NIC) of a ``vm`` mode restore."""

    name: str
    size: str
    nic_name: str
    subnet_id: str
    os_type: str
    zones: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class RestorePlan(JsonModel):
    """Everything one VM's restore will create, decided before anything is."""

    run_id: str
    install_id: str
    vm_id: str
    vm_name: str
    policy: str
    slot: datetime
    group: str
    region: str
    subscription_id: str
    resource_group: str
    mode: str
    requested_at: datetime
    captured_at: datetime
    disks: tuple[DiskRestore, ...]
    vm: VmSpec | None = None
    order: int = DEFAULT_ORDER
    # A drill's ``verifyScript``: run on the restored VM, it must exit 0 (``vm`` mode only).
    verify_script: str | None = None

    @property
    def verify_command_name(self) -> str:
        """The managed Run Command (a child of the restored VM) that runs ``verify_script``;
        deterministic, so a replayed activity replaces it instead of adding another."""
        return "diskdr-verify"

    @property
    def point_age_seconds(self) -> float:
        return round((self.requested_at - self.captured_at).total_seconds(), 1)

    @property
    def vm_resource_id(self) -> str | None:
        if self.vm is None:
            return None
        return resource_id(
            self.subscription_id, self.resource_group, "virtualMachines", self.vm.name
        )

    @property
    def nic_resource_id(self) -> str | None:
        if self.vm is None:
            return None
        return nic_id(self.subscription_id, self.resource_group, self.vm.nic_name)

    def would_create(self) -> list[str]:
        """Ids of every resource this plan creates (disks, then NIC and VM)."""
        ids = [disk.restored_disk_id for disk in self.disks]
        if self.vm is not None:
            ids += [self.nic_resource_id or "", self.vm_resource_id or ""]
        return ids

    def summary(self) -> dict[str, Any]:
        """The dry-run / plan view of one VM (DESIGN failover plan entry)."""
        return {
            "vmId": self.vm_id,
            "slot": format_slot(self.slot),
            "pointAgeSeconds": self.point_age_seconds,
            "order": self.order,
            "region": self.region,
            "wouldCreate": self.would_create(),
            "points": [disk.point_id for disk in self.disks],
        }


def resource_id(subscription: str, group: str, kind: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/{kind}/{name}"
    )


def nic_id(subscription: str, group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.Network/networkInterfaces/{name}"
    )


# --- a drill's own network ----------------------------------------------------------------
#: The address space of a drill's isolated network. It is peered with nothing and deleted
#: with the drill, so overlapping a production range does no harm (and a restored VM keeps
#: an address of the kind it had).
DRILL_ADDRESS_SPACE = "10.0.0.0/16"
DRILL_SUBNET = "drill"
MAX_VNET_NAME = 64


@dataclass(frozen=True)
class DrillNetwork(JsonModel):
    """The isolated virtual network (one subnet) a drill with ``verifyScript`` and no
    ``subnetId`` makes in its resource group for the VMs it restores, and deletes at the
    end: drill VMs never share a network with production (docs/dr-runbook.md)."""

    subscription_id: str
    resource_group: str
    name: str
    region: str
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    address_prefix: str = DRILL_ADDRESS_SPACE
    subnet_name: str = DRILL_SUBNET

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Network/virtualNetworks/{self.name}"
        )

    @property
    def subnet_id(self) -> str:
        return f"{self.id}/subnets/{self.subnet_name}"


def drill_network(
    run: str, install_id: str, subscription_id: str, resource_group: str, region: str
) -> DrillNetwork:
    """The drill ``run``'s network in one subscription (named after the run, so a replayed
    step adopts it, and tagged as made by this install, so only it is ever deleted)."""
    return DrillNetwork(
        subscription_id=subscription_id,
        resource_group=resource_group,
        name=fit_name(f"diskdr-{run}", MAX_VNET_NAME),
        region=region,
        tags={TAG_RESTORED_BY: install_id, TAG_RESTORE_RUN: run},
    )


# --- choosing the group -----------------------------------------------------------------
@dataclass(frozen=True)
class GroupChoice:
    group: str
    slot: datetime
    points: tuple[RecoveryPoint, ...]  # one usable point per member disk, in the region
    captured_at: datetime
    policy: str


def choose_group(
    points: Sequence[RecoveryPoint],
    region: str,
    slot: datetime | None,
    *,
    role: str | None = None,
) -> GroupChoice:
    """The group to restore in ``region``: the newest complete one (``slot`` None) or the
    one of ``slot``, which must be complete. A group's members are the disks it has a
    point of in any region; it is complete in a region when each has a usable point there.
    Raises :class:`RestoreRefused` (422 none complete / no replicas, 404 no such slot).
    """
    region = region.lower()
    members: dict[str, set[str]] = defaultdict(set)
    usable: dict[str, dict[str, RecoveryPoint]] = defaultdict(dict)
    slots: dict[str, datetime] = {}
    captured: dict[str, datetime] = {}
    in_region = False
    for point in points:
        members[point.group].add(point.disk_id)
        slots[point.group] = point.slot
        if point.role == "primary":
            instant = point.created_at or point.slot
            captured[point.group] = min(captured.get(point.group, instant), instant)
        if point.region != region or (role is not None and point.role != role):
            continue
        in_region = True
        if point.state == "usable":
            usable[point.group][point.disk_id] = point
    if not in_region:
        replicas = any(p.role == "replica" for p in points)
        hint = "" if replicas else " (it has no replicas at all: does its policy replicate?)"
        raise RestoreRefused(
            422,
            "NoPointsInRegion",
            f"there are no recovery points of this VM in {region}{hint}",
            "region",
        )
    complete = [g for g in usable if members[g] <= set(usable[g])]
    if slot is not None:
        wanted = [g for g in members if slots[g] == slot]
        if not wanted:
            raise RestoreRefused(
                404, "SlotNotFound", f"no recovery point group at slot {format_slot(slot)}", "slot"
            )
        group = wanted[0]
        if group not in complete:
            missing = sorted(members[group] - set(usable.get(group, {})))
            raise RestoreRefused(
                422,
                "GroupIncomplete",
                f"the group at {format_slot(slot)} is not complete in {region}: no usable point "
                f"of {', '.join(missing)}",
                "slot",
            )
    else:
        if not complete:
            raise RestoreRefused(
                422,
                "NoCompleteGroup",
                f"no complete consistency group in {region} (every member disk needs a usable "
                "point there); try later, or another region",
                "slot",
            )
        group = max(complete, key=lambda g: (slots[g], g))
    chosen = tuple(sorted(usable[group].values(), key=lambda p: p.disk_id))
    return GroupChoice(
        group, slots[group], chosen, captured.get(group, slots[group]), chosen[0].policy
    )


# --- names -------------------------------------------------------------------------------
def fit_name(text: str, limit: int) -> str:
    """``text`` as a valid Azure name of at most ``limit`` characters: characters outside
    letters, digits, ``_ . -`` become ``-``; a longer name is cut and ends with a hash of
    the whole text (so two long names still differ)."""
    name = _NOT_NAME.sub("-", text).strip("-.") or "r"
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{name[: limit - len(digest) - 1].rstrip('-.')}-{digest}"


def default_prefix(vm_name: str, slot: datetime) -> str:
    return f"{vm_name}-{slot:%Y%m%dt%H%M}"


def disk_name(prefix: str, source_disk_name: str) -> str:
    return fit_name(f"{prefix}-{source_disk_name}", MAX_DISK_NAME)


def run_id(kind: str, *parts: str) -> str:
    """A deterministic orchestration id: the same request gives the same id (and so joins
    the run already made for it instead of starting a second one)."""
    digest = hashlib.sha256("\n".join(p.lower() for p in parts).encode()).hexdigest()[:16]
    return f"{kind}-{digest}"


def provenance_tags(
    install_id: str, run: str, source_id: str, point_id: str, slot: datetime
) -> dict[str, str]:
    return {
        TAG_RESTORED_BY: install_id,
        TAG_RESTORED_FROM: id_tag_value(source_id),
        TAG_RESTORE_POINT: id_tag_value(point_id),
        TAG_RESTORE_SLOT: format_slot(slot),
        TAG_RESTORE_RUN: run,
    }


def is_made_by(tags: Mapping[str, str] | None, install_id: str) -> bool:
    return (tags or {}).get(TAG_RESTORED_BY) == install_id


def keeps_zone(zones: Sequence[str], source_region: str, target_region: str) -> tuple[str, ...]:
    if not zones:
        return ()
    if source_region.lower() == target_region.lower() or target_region.lower() in ZONAL_REGIONS:
        return tuple(zones)
    return ()


# --- the plan ------------------------------------------------------------------------------
@dataclass(frozen=True)
class RestoreTarget:
    """Where and how to restore (from a request, a drill or a failover)."""

    subscription_id: str
    resource_group: str
    region: str
    mode: str  # disks | vm
    name_prefix: str | None = None
    subnet_id: str | None = None
    vm_size: str | None = None


def plan_restore(
    *,
    run: str,
    install_id: str,
    vm_id: str,
    vm_name: str,
    vm_size: str | None,
    vm_region: str | None,
    vm_tags: Mapping[str, str],
    choice: GroupChoice,
    sources: Mapping[str, SourceDisk],
    target: RestoreTarget,
    requested_at: datetime,
) -> RestorePlan:
    """The plan for one VM, from the chosen group and what is known of its source disks
    (``sources`` by lower-case disk id, every member's: see :func:`gone_sources` for disks
    that no longer exist). Refuses a ``vm`` mode restore without an OS disk."""
    prefix = target.name_prefix or default_prefix(vm_name, choice.slot)
    disks = []
    for point in choice.points:
        source = sources[point.disk_id.lower()]
        disks.append(
            DiskRestore(
                source_disk_id=source.id,
                lun=source.lun,
                point_id=point.id,
                content_point_id=point.source_id or point.id,
                subscription_id=target.subscription_id,
                resource_group=target.resource_group,
                name=disk_name(prefix, _without(vm_name, source.name)),
                region=target.region,
                sku=source.sku,
                size_gb=source.size_gb,
                create_option=disk_create_option(point.id),
                zones=keeps_zone(source.zones, vm_region or "", target.region),
                logical_sector_size=source.logical_sector_size,
                os_type=source.os_type,
                tags=provenance_tags(install_id, run, point.disk_id, point.id, choice.slot),
            )
        )
    disks.sort(key=lambda d: (d.lun is not None, d.lun or 0))
    vm = None
    if target.mode == "vm":
        os_disks = [d for d in disks if d.lun is None]
        if len(os_disks) != 1:
            raise RestoreRefused(
                422,
                "NoOsDisk",
                f"the group at {format_slot(choice.slot)} holds no single OS disk "
                "(its policy excludes it?); restore with mode disks",
                "mode",
            )
        if not target.subnet_id:
            raise RestoreRefused(
                400, "InvalidRequest", "subnetId: required with mode vm", "subnetId"
            )
        vm_tags_out = {
            **provenance_tags(install_id, run, vm_id, choice.group, choice.slot),
        }
        if TAG_RECOVERY_ORDER in vm_tags:
            vm_tags_out[TAG_RECOVERY_ORDER] = vm_tags[TAG_RECOVERY_ORDER]
        zones = os_disks[0].zones
        name = fit_name(prefix, MAX_VM_NAME)
        vm = VmSpec(
            name=name,
            size=target.vm_size or vm_size or "Standard_D2s_v5",
            nic_name=fit_name(f"{name}-nic", MAX_DISK_NAME),
            subnet_id=target.subnet_id,
            os_type=os_disks[0].os_type or "Linux",
            zones=zones,
            tags=vm_tags_out,
        )
    return RestorePlan(
        run_id=run,
        install_id=install_id,
        vm_id=vm_id,
        vm_name=vm_name,
        policy=choice.policy,
        slot=choice.slot,
        group=choice.group,
        region=target.region,
        subscription_id=target.subscription_id,
        resource_group=target.resource_group,
        mode=target.mode,
        requested_at=requested_at,
        captured_at=choice.captured_at,
        disks=tuple(disks),
        vm=vm,
        order=recovery_order(vm_tags),
    )


def gone_sources(
    gone: Sequence[tuple[str, int, str | None]], known: Iterable[SourceDisk]
) -> dict[str, SourceDisk]:
    """Describe disks that no longer exist (a deleted VM) from their points: ``(disk id,
    size, osType)``. The one with an ``osType`` is the OS disk (unless a known disk is);
    the others get the lowest free LUNs in name order (the LUN is not recorded on a point),
    and Premium SSD (incremental snapshots do not keep the source's SKU)."""
    known = list(known)
    used = {s.lun for s in known if s.lun is not None}
    has_os = any(s.lun is None for s in known)
    free = (n for n in range(64) if n not in used)
    out = {}
    for disk_id, size, os_type in sorted(gone, key=lambda g: (g[2] is None, _last(g[0]))):
        lun: int | None
        if os_type and not has_os:
            has_os, lun = True, None
        else:
            lun = next(free)
        out[disk_id.lower()] = SourceDisk(
            disk_id, _last(disk_id), lun, "Premium_LRS", size, os_type=os_type
        )
    return out


def _without(vm_name: str, disk: str) -> str:
    """A disk name without its VM's name in front (``vm-1-osdisk`` → ``osdisk``): the
    prefix already names the VM."""
    head = vm_name.lower() + "-"
    return disk[len(head) :] if disk.lower().startswith(head) and len(disk) > len(head) else disk


def _last(resource: str) -> str:
    return resource.rstrip("/").rsplit("/", 1)[-1]


def recovery_order(tags: Mapping[str, str]) -> int:
    """The VM's ``diskdr-recovery-order`` tag as a number (absent or not a number: last)."""
    for key, value in tags.items():
        if key.lower() == TAG_RECOVERY_ORDER:
            try:
                return int(str(value).strip())
            except ValueError:
                return DEFAULT_ORDER
    return DEFAULT_ORDER


def waves(plans: Iterable[RestorePlan]) -> list[list[RestorePlan]]:
    """Plans grouped by recovery order, lowest first (one wave runs in parallel)."""
    by_order: dict[int, list[RestorePlan]] = defaultdict(list)
    for plan in plans:
        by_order[plan.order].append(plan)
    return [sorted(by_order[o], key=lambda p: p.vm_id.lower()) for o in sorted(by_order)]


# --- drills --------------------------------------------------------------------------------
def drill_sample(
    vm_ids: Sequence[str], last_drilled: Mapping[str, datetime], sample: int
) -> list[str]:
    """The ``sample`` VMs drilled least recently (never drilled first, then by id): over
    successive drills every VM takes its turn."""
    never = datetime.min.replace(tzinfo=None)

    def key(vm: str) -> tuple[datetime, str]:
        last = last_drilled.get(vm.lower())
        return (last.replace(tzinfo=None) if last is not None else never, vm.lower())

    return sorted(vm_ids, key=key)[:sample]


def drill_turns(vm_count: int, sample: int) -> int:
    """How many drill slots it takes to drill every VM once."""
    return max(1, math.ceil(vm_count / max(1, sample)))


def seconds_between(start: datetime, end: datetime) -> float:
    return round(max(timedelta(0), end - start).total_seconds(), 1)


def check_target_region(subnet_id: str | None, subnet_region: str | None, region: str) -> None:
    """A VM's NIC must be in its subnet's region (Azure: InvalidResourceReference)."""
    if subnet_id and subnet_region and subnet_region.lower() != region.lower():
        raise RestoreRefused(
            422,
            "SubnetInOtherRegion",
            f"subnetId: the subnet is in {subnet_region}, the restore is in {region}; a NIC "
            "can only use a subnet of its own region",
            "subnetId",
        )


def subscription_of(resource: str) -> str:
    return parse_resource_id(resource).subscription_id
