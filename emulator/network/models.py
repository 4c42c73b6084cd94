"""Virtual networks, subnets and network interfaces: the in-memory domain (no HTTP here).

Only what restoring a VM touches is modelled: a NIC's one IP configuration in one subnet
(dynamic private address), the subnet check Azure makes when a NIC is created (the subnet
must exist and be in the NIC's region: ``InvalidResourceReference``), and the refusal to
delete a NIC a VM still uses (``NicInUse``). No public IPs, NSGs, peering or DNS.
Sources are in docs/emulator.md ("Network").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.arm import check_name, normalize_id, normalize_location, parse_resource_id
from emulator.compute.models.common import new_unique_id
from emulator.errors import ArmError, InvalidParameter, ResourceGroupNotFound

if TYPE_CHECKING:
    from emulator.lro import Operation
    from emulator.world import World

NETWORK = "Microsoft.Network"


class NetworkNotFound(ArmError):
    status = 404
    code = "ResourceNotFound"


class InvalidResourceReference(ArmError):
    status = 400
    code = "InvalidResourceReference"


class NicInUse(ArmError):
    status = 400
    code = "NicInUse"


class InUseSubnetCannotBeDeleted(ArmError):
    status = 400
    code = "InUseSubnetCannotBeDeleted"


@dataclass(eq=False)
class Subnet:
    vnet: VirtualNetwork
    name: str
    address_prefix: str
    next_host: int = 4  # Azure reserves the first four addresses of every subnet

    @property
    def id(self) -> str:
        return f"{self.vnet.id}/subnets/{self.name}"

    def allocate(self) -> str:
        network = ipaddress.ip_network(self.address_prefix, strict=False)
        address = network.network_address + self.next_host
        self.next_host += 1
        return str(address)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": f"{NETWORK}/virtualNetworks/subnets",
            "etag": f'W/"{self.vnet.etag}"',
            "properties": {"addressPrefix": self.address_prefix, "provisioningState": "Succeeded"},
        }


@dataclass(eq=False)
class VirtualNetwork:
    subscription: str
    resource_group: str
    name: str
    location: str
    address_prefixes: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    subnets: dict[str, Subnet] = field(default_factory=dict)
    resource_guid: str = field(default_factory=new_unique_id)
    etag: str = field(default_factory=new_unique_id)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{NETWORK}/virtualNetworks/{self.name}"
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": f"{NETWORK}/virtualNetworks",
            "location": self.location,
            "etag": f'W/"{self.etag}"',
            "properties": {
                "provisioningState": "Succeeded",
                "resourceGuid": self.resource_guid,
                "addressSpace": {"addressPrefixes": list(self.address_prefixes)},
                "subnets": [subnet.to_json() for subnet in self.subnets.values()],
            },
        }
        if self.tags:
            body["tags"] = dict(self.tags)
        return body


@dataclass(eq=False)
class NetworkInterface:
    subscription: str
    resource_group: str
    name: str
    location: str
    subnet: Subnet
    private_ip: str
    tags: dict[str, str] = field(default_factory=dict)
    ip_configuration: str = "ipconfig1"
    resource_guid: str = field(default_factory=new_unique_id)
    provisioning_state: str = "Succeeded"

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{NETWORK}/networkInterfaces/{self.name}"
        )

    def to_json(self, virtual_machine: str | None) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "provisioningState": self.provisioning_state,
            "resourceGuid": self.resource_guid,
            "ipConfigurations": [
                {
                    "id": f"{self.id}/ipConfigurations/{self.ip_configuration}",
                    "name": self.ip_configuration,
                    "type": f"{NETWORK}/networkInterfaces/ipConfigurations",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "privateIPAddress": self.private_ip,
                        "privateIPAllocationMethod": "Dynamic",
                        "subnet": {"id": self.subnet.id},
                        "primary": True,
                        "privateIPAddressVersion": "IPv4",
                    },
                }
            ],
            "enableAcceleratedNetworking": False,
            "enableIPForwarding": False,
            "primary": True,
            "nicType": "Standard",
        }
        if virtual_machine:
            properties["virtualMachine"] = {"id": virtual_machine}
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": f"{NETWORK}/networkInterfaces",
            "location": self.location,
            "properties": properties,
        }
        if self.tags:
            body["tags"] = dict(self.tags)
        return body


class NetworkBackend:
    """Every virtual network and NIC of every subscription, keyed by lower-case
    (subscription, resource group, name)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.vnets: dict[tuple[str, str, str], VirtualNetwork] = {}
        self.nics: dict[tuple[str, str, str], NetworkInterface] = {}

    def _check_group(self, subscription: str, resource_group: str) -> str:
        groups = self.world.backend("resources")
        if not groups.exists(subscription, resource_group):
            raise ResourceGroupNotFound.named(resource_group)
        return str(groups.get(subscription, resource_group).name)

    @staticmethod
    def _key(subscription: str, resource_group: str, name: str) -> tuple[str, str, str]:
        return subscription.lower(), resource_group.lower(), name.lower()

    # --- virtual networks ------------------------------------------------------------------
    def put_vnet(
        self, subscription: str, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[VirtualNetwork, bool]:
        group = self._check_group(subscription, resource_group)
        check_name(name, kind="vnet")
        location = normalize_location(body.get("location") or "")
        if not location:
            raise InvalidParameter("The location property is required.", target="location")
        props = body.get("properties") or {}
        prefixes = list((props.get("addressSpace") or {}).get("addressPrefixes") or [])
        if not prefixes:
            raise InvalidParameter(
                "addressSpace.addressPrefixes is required.",
                target="properties.addressSpace.addressPrefixes",
            )
        for prefix in prefixes:
            _network(prefix, "properties.addressSpace.addressPrefixes")
        key = self._key(subscription, resource_group, name)
        existing = self.vnets.get(key)
        vnet = VirtualNetwork(subscription, group, name, location, prefixes, body.get("tags") or {})
        if existing is not None:
            vnet.resource_guid = existing.resource_guid
        for index, spec in enumerate(props.get("subnets") or []):
            where = f"properties.subnets[{index}]"
            subnet_name = spec.get("name")
            prefix = (spec.get("properties") or {}).get("addressPrefix")
            if not subnet_name or not prefix:
                raise InvalidParameter(
                    f"{where}: name and addressPrefix are required.", target=where
                )
            subnet_net = _network(prefix, f"{where}.properties.addressPrefix")
            if not any(subnet_net.subnet_of(_network(p, "")) for p in prefixes):  # type: ignore[arg-type]
                raise ArmError(
                    f"Subnet '{subnet_name}' is not valid because its IP address range is "
                    "outside the IP address range of virtual network.",
                    code="NetcfgSubnetRangeOutsideVnet",
                )
            old = existing.subnets.get(subnet_name.lower()) if existing else None
            subnet = Subnet(vnet, subnet_name, prefix)
            if old is not None:
                subnet.next_host = old.next_host
            vnet.subnets[subnet_name.lower()] = subnet
        if existing is not None:
            dropped = set(existing.subnets) - set(vnet.subnets)
            for nic in self.nics.values():
                if nic.subnet.vnet is existing and nic.subnet.name.lower() in dropped:
                    raise InUseSubnetCannotBeDeleted(
                        f"Subnet {nic.subnet.name} is in use by {nic.id} and cannot be deleted."
                    )
            for nic in self.nics.values():  # NICs follow their subnet into the new record
                if nic.subnet.vnet is existing:
                    nic.subnet = vnet.subnets[nic.subnet.name.lower()]
        self.vnets[key] = vnet
        return vnet, existing is None

    def get_vnet(self, subscription: str, resource_group: str, name: str) -> VirtualNetwork:
        self._check_group(subscription, resource_group)
        vnet = self.vnets.get(self._key(subscription, resource_group, name))
        if vnet is None:
            raise NetworkNotFound(
                f"The Resource '{NETWORK}/virtualNetworks/{name}' under resource group "
                f"'{resource_group}' was not found."
            )
        return vnet

    def get_subnet(self, subscription: str, resource_group: str, vnet: str, name: str) -> Subnet:
        network = self.get_vnet(subscription, resource_group, vnet)
        subnet = network.subnets.get(name.lower())
        if subnet is None:
            raise NetworkNotFound(
                f"Resource {network.id}/subnets/{name} not found.", code="NotFound"
            )
        return subnet

    def find_subnet(self, subnet_id: str) -> Subnet | None:
        try:
            ref = parse_resource_id(subnet_id)
        except ArmError:
            return None
        if ref.namespace.lower() != NETWORK.lower() or [t.lower() for t in ref.types] != [
            "virtualnetworks",
            "subnets",
        ]:
            return None
        vnet = self.vnets.get(self._key(ref.subscription, ref.resource_group, ref.names[0]))
        return None if vnet is None else vnet.subnets.get(ref.names[1].lower())

    def delete_vnet(self, subscription: str, resource_group: str, name: str) -> bool:
        self._check_group(subscription, resource_group)
        key = self._key(subscription, resource_group, name)
        vnet = self.vnets.get(key)
        if vnet is None:
            return False
        for nic in self.nics.values():
            if nic.subnet.vnet is vnet:
                raise InUseSubnetCannotBeDeleted(
                    f"Subnet {nic.subnet.name} is in use by {nic.id} and cannot be deleted."
                )
        del self.vnets[key]
        return True

    # --- network interfaces ----------------------------------------------------------------
    def put_nic(
        self, subscription: str, resource_group: str, name: str, body: dict[str, Any]
    ) -> tuple[NetworkInterface, Operation, bool]:
        group = self._check_group(subscription, resource_group)
        check_name(name, kind="nic")
        location = normalize_location(body.get("location") or "")
        if not location:
            raise InvalidParameter("The location property is required.", target="location")
        configs = (body.get("properties") or {}).get("ipConfigurations") or []
        if not configs:
            raise InvalidParameter(
                "A network interface needs at least one IP configuration.",
                target="properties.ipConfigurations",
            )
        config = configs[0]
        subnet_id = ((config.get("properties") or {}).get("subnet") or {}).get("id") or ""
        nic_id = (
            f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{NETWORK}"
            f"/networkInterfaces/{name}"
        )
        subnet = self.find_subnet(subnet_id) if subnet_id else None
        if subnet is None or subnet.vnet.location != location:
            # Azure answers a subnet that is missing and one in another region alike.
            raise InvalidResourceReference(
                f"Resource {subnet_id} referenced by resource {nic_id} was not found. Please "
                "make sure that the referenced resource exists, and that both resources are in "
                "the same region."
            )
        key = self._key(subscription, resource_group, name)
        existing = self.nics.get(key)
        if existing is not None and existing.location != location:
            raise InvalidParameter(
                f"The resource '{name}' already exists in location '{existing.location}'.",
                target="location",
            )
        if existing is not None and existing.subnet is subnet:
            nic = existing
            nic.tags = dict(body.get("tags") or {})
        else:
            nic = NetworkInterface(
                subscription,
                group,
                name,
                location,
                subnet,
                subnet.allocate(),
                dict(body.get("tags") or {}),
                ip_configuration=config.get("name") or "ipconfig1",
            )
            self.nics[key] = nic
        op = self.world.backend("operations").begin(
            "NetworkInterfaces_CreateOrUpdate",
            subscription=subscription,
            location=location,
            resource_id=nic.id,
            path=f"/subscriptions/{subscription}/providers/{NETWORK}/locations/{location}"
            "/operations/{id}",
        )
        return nic, op, existing is None

    def get_nic(self, subscription: str, resource_group: str, name: str) -> NetworkInterface:
        self._check_group(subscription, resource_group)
        nic = self.nics.get(self._key(subscription, resource_group, name))
        if nic is None:
            raise NetworkNotFound(
                f"The Resource '{NETWORK}/networkInterfaces/{name}' under resource group "
                f"'{resource_group}' was not found."
            )
        return nic

    def list_nics(self, subscription: str, resource_group: str) -> list[NetworkInterface]:
        self._check_group(subscription, resource_group)
        return [
            nic
            for (sub, group, _), nic in self.nics.items()
            if sub == subscription.lower() and group == resource_group.lower()
        ]

    def attached_vm(self, nic: NetworkInterface) -> str | None:
        """The VM whose network profile names this NIC (Compute owns that link)."""
        compute = self.world.backend("compute")
        backend = compute[nic.subscription]
        for vm in backend.vms.values():
            for ref in (vm.profiles.get("networkProfile") or {}).get("networkInterfaces") or []:
                if normalize_id(ref.get("id") or "") == normalize_id(nic.id):
                    return str(vm.id)
        return None

    def delete_nic(self, subscription: str, resource_group: str, name: str) -> bool:
        self._check_group(subscription, resource_group)
        key = self._key(subscription, resource_group, name)
        nic = self.nics.get(key)
        if nic is None:
            return False
        vm = self.attached_vm(nic)
        if vm is not None:
            raise NicInUse(
                f"Network Interface {nic.id} is used by existing resource {vm}. In order to "
                "delete the network interface, it must be dissociated from the resource."
            )
        del self.nics[key]
        return True

    def delete_resource_group_members(
        self, subscription: str, resource_group: str, when: float
    ) -> None:
        for key in [
            k for k in self.nics if k[:2] == (subscription.lower(), resource_group.lower())
        ]:
            del self.nics[key]
        for key in [
            k for k in self.vnets if k[:2] == (subscription.lower(), resource_group.lower())
        ]:
            del self.vnets[key]


def _network(prefix: str, target: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(prefix, strict=False)
    except ValueError:
        raise InvalidParameter(
            f"'{prefix}' is not a valid address prefix.", target=target
        ) from None
