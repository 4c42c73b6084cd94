"""The restore port: the Azure calls a restore, a drill and a failover make.

Reads (a VM and its disks, a point's size, a subnet's region, whether a name is taken)
and long-running writes that are only *started* here: disk, NIC and VM creates and
deletes are sent with ``polling=False`` and return at once, and the orchestration watches
the resource's ``provisioningState`` with durable timers (DiskRP answers without
``Retry-After``, so the SDK would poll every 30 s). Bodies follow the REST specs
(``Disk_Create_ByCopyingASnapshot``, ``Disk_Create_WithLogicalSectorSize``, a VM create
with ``Attach`` disks, ``NetworkInterface_Create``). Never deletes anything without the
``diskdr-restored-by`` tag of this install.
"""

from __future__ import annotations

import json
import ssl
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import Disk, VirtualMachine, VirtualMachineRunCommand
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import NetworkInterface, VirtualNetwork

from diskdr.azure.clients import Clients, client_options, trust_bundle
from diskdr.azure.compute import azure_call
from diskdr.errors import AzureError, ConflictError, ResourceNotFoundError
from diskdr.naming import parse_resource_id
from diskdr.restore import (
    TAG_RESTORED_BY,
    DiskRestore,
    DrillNetwork,
    RestorePlan,
    SourceDisk,
    is_made_by,
)

# The api-version DESIGN fixes for Microsoft.Network calls.
NETWORK_API_VERSION = "2024-05-01"


@dataclass(frozen=True)
class VmFacts:
    """What a restore keeps of a live VM."""

    id: str
    name: str
    location: str
    size: str
    tags: dict[str, str]
    disks: dict[str, int | None]  # lower-case disk id -> LUN (None: OS disk)
    nic_ids: tuple[str, ...] = ()  # its network interfaces, the primary one first


@dataclass(frozen=True)
class ResourceState:
    state: str  # Azure's provisioningState (Succeeded, Failed, Creating, Updating, ...)
    tags: dict[str, str]
    size_gb: int | None = None


class RestorePort:
    """diskdr's restore calls to Microsoft.Compute and Microsoft.Network."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients
        self.settings = clients.settings
        self.install_id = clients.settings.install_id
        self._network: dict[str, NetworkManagementClient] = {}

    def _compute(self, subscription_id: str) -> ComputeManagementClient:
        return self._clients.compute(subscription_id)

    def _net(self, subscription_id: str) -> NetworkManagementClient:
        client = self._network.get(subscription_id)
        if client is None:
            client = NetworkManagementClient(
                self._clients.credential, subscription_id, **client_options(self.settings)
            )
            self._network[subscription_id] = client
        return client

    # --- reads -------------------------------------------------------------------------
    def vm_facts(self, vm_id: str) -> VmFacts | None:
        """The VM's size, tags and disks' LUNs; None when it no longer exists."""
        parts = parse_resource_id(vm_id)
        try:
            with azure_call(f"get virtual machine {vm_id}"):
                vm = self._compute(parts.subscription_id).virtual_machines.get(
                    parts.resource_group, parts.name
                )
        except ResourceNotFoundError:
            return None
        disks: dict[str, int | None] = {}
        profile = vm.storage_profile
        if profile and profile.os_disk and profile.os_disk.managed_disk:
            disks[(profile.os_disk.managed_disk.id or "").lower()] = None
        for data_disk in (profile.data_disks if profile else None) or []:
            if data_disk.managed_disk and data_disk.managed_disk.id:
                disks[data_disk.managed_disk.id.lower()] = data_disk.lun
        size = vm.hardware_profile.vm_size if vm.hardware_profile else None
        nics = (vm.network_profile.network_interfaces if vm.network_profile else None) or []
        nics = sorted(nics, key=lambda nic: not nic.primary)  # stable: primary first
        return VmFacts(
            vm.id or vm_id,
            vm.name or parts.name,
            (vm.location or "").lower(),
            str(size or "Standard_D2s_v5"),
            dict(vm.tags or {}),
            disks,
            tuple(nic.id for nic in nics if nic.id),
        )

    def nic_subnet(self, nic_id: str) -> str | None:
        """The subnet of a NIC's primary IP configuration; None when the NIC (or a subnet
        on it) does not exist."""
        parts = parse_resource_id(nic_id)
        try:
            with azure_call(f"get network interface {nic_id}"):
                nic = self._net(parts.subscription_id).network_interfaces.get(
                    parts.resource_group, parts.name, api_version=NETWORK_API_VERSION
                )
        except ResourceNotFoundError:
            return None
        configurations = sorted(nic.ip_configurations or [], key=lambda c: not c.primary)
        subnets = [c.subnet.id for c in configurations if c.subnet is not None and c.subnet.id]
        return subnets[0] if subnets else None

    def source_disk(self, disk_id: str, lun: int | None) -> SourceDisk | None:
        """What a restored disk keeps of its source; None when the disk is gone."""
        parts = parse_resource_id(disk_id)
        try:
            with azure_call(f"get disk {disk_id}"):
                disk = self._compute(parts.subscription_id).disks.get(
                    parts.resource_group, parts.name
                )
        except ResourceNotFoundError:
            return None
        creation = disk.creation_data
        return SourceDisk(
            id=disk.id or disk_id,
            name=disk.name or parts.name,
            lun=lun,
            sku=disk.sku.name if disk.sku and disk.sku.name else "Premium_LRS",
            size_gb=int(disk.disk_size_gb or 0),
            zones=tuple(disk.zones or ()),
            logical_sector_size=getattr(creation, "logical_sector_size", None),
            os_type=_text(disk.os_type) or None,
        )

    def point_facts(self, point_id: str) -> tuple[int, str | None]:
        """(size in GiB, osType) of a snapshot (0 and None for a disk restore point: its
        disk's size is taken from the point itself when the disk is created)."""
        if "/diskrestorepoints/" in point_id.lower():
            return 0, None
        parts = parse_resource_id(point_id)
        with azure_call(f"get snapshot {point_id}"):
            snapshot = self._compute(parts.subscription_id).snapshots.get(
                parts.resource_group, parts.name
            )
        os_type = _text(snapshot.os_type) or None
        return int(snapshot.disk_size_gb or 0), os_type

    def group_exists(self, subscription_id: str, resource_group: str) -> bool:
        try:
            with azure_call(f"list disks of resource group {resource_group}"):
                disks = self._compute(subscription_id).disks.list_by_resource_group(resource_group)
                next(iter(disks), None)
        except ResourceNotFoundError:
            return False
        return True

    def subnet_region(self, subnet_id: str) -> str | None:
        """The region of the subnet's virtual network; None if there is no such subnet."""
        parts = _network_parts(subnet_id)
        if parts is None:
            return None
        subscription, group, vnet, subnet = parts
        try:
            with azure_call(f"get subnet {subnet_id}"):
                network = self._net(subscription).virtual_networks.get(
                    group, vnet, api_version=NETWORK_API_VERSION
                )
        except ResourceNotFoundError:
            return None
        names = {(s.name or "").lower() for s in network.subnets or []}
        return (network.location or "").lower() if subnet.lower() in names else None

    def state(self, resource: str) -> ResourceState | None:
        """A disk's, VM's, NIC's or virtual network's provisioning state and tags; None when
        it does not exist."""
        parts = parse_resource_id(resource)
        kind = resource.lower().split("/providers/", 1)[1].split("/")[1]
        try:
            with azure_call(f"get {resource}"):
                if kind == "disks":
                    disk = self._compute(parts.subscription_id).disks.get(
                        parts.resource_group, parts.name
                    )
                    return ResourceState(
                        _text(disk.provisioning_state),
                        dict(disk.tags or {}),
                        int(disk.disk_size_gb or 0),
                    )
                if kind == "virtualmachines":
                    vm = self._compute(parts.subscription_id).virtual_machines.get(
                        parts.resource_group, parts.name
                    )
                    return ResourceState(_text(vm.provisioning_state), dict(vm.tags or {}))
                network = self._net(parts.subscription_id)
                if kind == "virtualnetworks":
                    vnet = network.virtual_networks.get(
                        parts.resource_group, parts.name, api_version=NETWORK_API_VERSION
                    )
                    return ResourceState(_text(vnet.provisioning_state), dict(vnet.tags or {}))
                nic = network.network_interfaces.get(
                    parts.resource_group, parts.name, api_version=NETWORK_API_VERSION
                )
                return ResourceState(_text(nic.provisioning_state), dict(nic.tags or {}))
        except ResourceNotFoundError:
            return None

    # --- writes (started, never awaited) ---------------------------------------------------
    def begin_disk(self, disk: DiskRestore) -> None:
        """Start creating the disk from its point (an existing one of ours is adopted)."""
        existing = self.state(disk.restored_disk_id)
        if existing is not None:
            self._check_ours(disk.restored_disk_id, existing)
            return
        creation: dict[str, Any] = {
            "createOption": disk.create_option,
            "sourceResourceId": disk.point_id,
        }
        if disk.logical_sector_size:
            creation["logicalSectorSize"] = disk.logical_sector_size
        properties: dict[str, Any] = {"creationData": creation}
        if disk.size_gb:
            properties["diskSizeGB"] = disk.size_gb
        if disk.os_type:
            properties["osType"] = disk.os_type
        body: dict[str, Any] = {
            "location": disk.region,
            "sku": {"name": disk.sku},
            "properties": properties,
            "tags": dict(disk.tags),
        }
        if disk.zones:
            body["zones"] = list(disk.zones)
        with azure_call(f"create disk {disk.name} from {disk.point_id}"):
            self._compute(disk.subscription_id).disks.begin_create_or_update(
                disk.resource_group, disk.name, Disk(body), polling=False
            )

    def begin_nic(self, plan: RestorePlan) -> None:
        assert plan.vm is not None and plan.nic_resource_id is not None
        existing = self.state(plan.nic_resource_id)
        if existing is not None:
            self._check_ours(plan.nic_resource_id, existing)
            return
        body = {
            "location": plan.region,
            "tags": dict(plan.vm.tags),
            "properties": {
                "ipConfigurations": [
                    {
                        "name": "ipconfig1",
                        "properties": {
                            "subnet": {"id": plan.vm.subnet_id},
                            "privateIPAllocationMethod": "Dynamic",
                        },
                    }
                ]
            },
        }
        with azure_call(f"create network interface {plan.vm.nic_name}"):
            self._net(plan.subscription_id).network_interfaces.begin_create_or_update(
                plan.resource_group,
                plan.vm.nic_name,
                NetworkInterface(body),
                api_version=NETWORK_API_VERSION,
                polling=False,
            )

    def begin_network(self, network: DrillNetwork) -> None:
        """Start creating a drill's isolated virtual network with its one subnet (spec
        example ``VirtualNetworkCreateSubnet.json``, api-version 2024-05-01); one of
        this install's with the same name is adopted."""
        existing = self.state(network.id)
        if existing is not None:
            self._check_ours(network.id, existing)
            return
        body = {
            "location": network.region,
            "tags": dict(network.tags),
            "properties": {
                "addressSpace": {"addressPrefixes": [network.address_prefix]},
                "subnets": [
                    {
                        "name": network.subnet_name,
                        "properties": {"addressPrefix": network.address_prefix},
                    }
                ],
            },
        }
        with azure_call(f"create virtual network {network.name}"):
            self._net(network.subscription_id).virtual_networks.begin_create_or_update(
                network.resource_group,
                network.name,
                VirtualNetwork(body),
                api_version=NETWORK_API_VERSION,
                polling=False,
            )

    def begin_vm(self, plan: RestorePlan) -> None:
        """Start creating the VM with the restored disks attached at their LUNs."""
        assert plan.vm is not None and plan.vm_resource_id is not None
        existing = self.state(plan.vm_resource_id)
        if existing is not None:
            self._check_ours(plan.vm_resource_id, existing)
            return
        os_disk = next(d for d in plan.disks if d.lun is None)
        body: dict[str, Any] = {
            "location": plan.region,
            "tags": dict(plan.vm.tags),
            "properties": {
                "hardwareProfile": {"vmSize": plan.vm.size},
                "storageProfile": {
                    "osDisk": {
                        "createOption": "Attach",
                        "osType": plan.vm.os_type,
                        "managedDisk": {"id": os_disk.restored_disk_id},
                    },
                    "dataDisks": [
                        {
                            "lun": d.lun,
                            "createOption": "Attach",
                            "managedDisk": {"id": d.restored_disk_id},
                        }
                        for d in plan.disks
                        if d.lun is not None
                    ],
                },
                "networkProfile": {
                    "networkInterfaces": [
                        {"id": plan.nic_resource_id, "properties": {"primary": True}}
                    ]
                },
            },
        }
        if plan.vm.zones:
            body["zones"] = list(plan.vm.zones)
        with azure_call(f"create virtual machine {plan.vm.name}"):
            self._compute(plan.subscription_id).virtual_machines.begin_create_or_update(
                plan.resource_group, plan.vm.name, VirtualMachine(body), polling=False
            )

    def begin_delete(self, resource: str) -> bool:
        """Start deleting a resource a restore made (False: already gone). Refuses anything
        without this install's ``diskdr-restored-by`` tag."""
        existing = self.state(resource)
        if existing is None:
            return False
        self._check_ours(resource, existing)
        parts = parse_resource_id(resource)
        kind = resource.lower().split("/providers/", 1)[1].split("/")[1]
        try:
            with azure_call(f"delete {resource}"):
                if kind == "disks":
                    self._compute(parts.subscription_id).disks.begin_delete(
                        parts.resource_group, parts.name, polling=False
                    )
                elif kind == "virtualmachines":
                    self._compute(parts.subscription_id).virtual_machines.begin_delete(
                        parts.resource_group, parts.name, polling=False
                    )
                elif kind == "virtualnetworks":
                    self._net(parts.subscription_id).virtual_networks.begin_delete(
                        parts.resource_group,
                        parts.name,
                        api_version=NETWORK_API_VERSION,
                        polling=False,
                    )
                else:
                    self._net(parts.subscription_id).network_interfaces.begin_delete(
                        parts.resource_group,
                        parts.name,
                        api_version=NETWORK_API_VERSION,
                        polling=False,
                    )
        except ResourceNotFoundError:
            return False
        return True

    # --- the drill's verify script (a managed Run Command on the restored VM) ---------------
    def begin_run_command(
        self, vm_id: str, name: str, script: str, location: str, timeout_seconds: int
    ) -> None:
        """Start ``script`` on the VM as the managed Run Command ``name`` (spec
        ``VirtualMachineRunCommand_CreateOrUpdate``); the action ``POST .../runCommand``
        reports no exit code, this resource's instance view does. Only on a VM this install
        restored."""
        existing = self.state(vm_id)
        if existing is None:
            raise ResourceNotFoundError(f"{vm_id} does not exist", code="ResourceNotFound")
        self._check_ours(vm_id, existing)
        parts = parse_resource_id(vm_id)
        body = VirtualMachineRunCommand(
            {
                "location": location,
                "tags": {TAG_RESTORED_BY: self.install_id},
                "properties": {
                    "source": {"script": script},
                    "asyncExecution": True,  # provisioned once started: we poll the run
                    "timeoutInSeconds": timeout_seconds,
                },
            }
        )
        with azure_call(f"run the verify script on {vm_id}"):
            self._compute(
                parts.subscription_id
            ).virtual_machine_run_commands.begin_create_or_update(
                parts.resource_group, parts.name, name, body, polling=False
            )

    def run_command_state(self, vm_id: str, name: str) -> dict[str, Any] | None:
        """The run's ``{"executionState", "exitCode", "output", "error"}`` (instance view);
        None when the run command does not exist."""
        parts = parse_resource_id(vm_id)
        try:
            with azure_call(f"get run command {name} of {vm_id}"):
                found = self._compute(
                    parts.subscription_id
                ).virtual_machine_run_commands.get_by_virtual_machine(
                    parts.resource_group, parts.name, name, expand="instanceView"
                )
        except ResourceNotFoundError:
            return None
        view = found.instance_view
        if view is None:
            return {"executionState": "Unknown", "exitCode": None}
        return {
            "executionState": _text(view.execution_state) or "Unknown",
            "exitCode": view.exit_code,
            "output": (view.output or "")[-2000:],
            "error": (view.error or "")[-2000:],
        }

    def _check_ours(self, resource: str, existing: ResourceState) -> None:
        if not is_made_by(existing.tags, self.install_id):
            raise ConflictError(
                f"{resource} exists and was not made by diskdr install {self.install_id}; "
                "left alone",
                code="NameCollision",
                status=409,
            )

    # --- the twin's content check -------------------------------------------------------
    def digest(self, resource: str) -> str:
        """The emulator's content digest of a disk or point (``/_emulator/content``): only
        on the offline twin (``DISKDR_CREDENTIAL=emulator``, a loopback ARM endpoint)."""
        if self.settings.credential != "emulator":
            raise AzureError("content digests exist only on the offline twin")
        url = (
            f"{self.settings.arm_endpoint.rstrip('/')}/_emulator/content?"
            + urllib.parse.urlencode({"id": resource})
        )
        extra = self.settings.ca_bundle
        context = ssl.create_default_context(cafile=trust_bundle(extra) if extra else None)
        with urllib.request.urlopen(url, context=context, timeout=30) as answer:
            return str(json.loads(answer.read())["digest"])


def _text(value: Any) -> str:
    """An SDK enum's wire value (``str()`` of some enums gives ``Class.MEMBER``)."""
    return str(getattr(value, "value", value) or "")


def _network_parts(subnet_id: str) -> tuple[str, str, str, str] | None:
    """(subscription, resource group, vnet, subnet) of a subnet id, or None."""
    pieces = subnet_id.strip("/").split("/")
    lowered = [p.lower() for p in pieces]
    if (
        len(pieces) != 10
        or lowered[0] != "subscriptions"
        or lowered[2] != "resourcegroups"
        or lowered[5] != "microsoft.network"
        or lowered[6] != "virtualnetworks"
        or lowered[8] != "subnets"
    ):
        return None
    return pieces[1], pieces[3], pieces[7], pieces[9]


def subnet_parts(subnet_id: str) -> tuple[str, str, str, str] | None:
    return _network_parts(subnet_id)
