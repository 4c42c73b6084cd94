"""Estate seeding (``POST /_emulator/estate``): resource groups, VMs with their disks, and
standalone disks, created at once (no LROs) and additively.

Seed format (DESIGN "Estate seed"; optional keys marked ``?``)::

    {"subscriptions": [{"id": SUB,
      "resourceGroups": [{"name", "location", "tags"?,
        "vms": [{"name", "tags"?, "size"?, "zones"?, "powerState"? (running|stopped|deallocated),
                 "osType"? (Linux|Windows), "prePostScripts"? (bool),
                 "osDisk": {"sizeGB", "sku"?, "name"?, "tags"?, "blocks"?},
                 "dataDisks": [{"lun", "sizeGB", "sku"?, "name"?, "tags"?, "blocks"?}]}],
        "disks": [{"name", "sizeGB", "sku"?, "tags"?, "zones"?, "blocks"?, "osType"?}],
        "virtualNetworks": [{"name", "addressPrefix",
                             "subnets": [{"name", "addressPrefix"}]}]}]}]}

A VM's disks are managed disks in the VM's resource group named ``<vm>-osdisk`` and
``<vm>-data-<lun>`` unless a ``name`` is given; ``blocks`` (default 16 for OS disks, 8 for
data disks, 0 for standalone disks) random blocks are written so that fresh disks already
differ. Unknown keys are refused with a 400 naming them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.errors import Conflict, InvalidParameter

if TYPE_CHECKING:
    from emulator.compute.models import ComputeBackends
    from emulator.resources.models import ResourceGroupsBackend
    from emulator.world import World

_FIELDS = {
    "root": ({"subscriptions"}, {"subscriptions"}),
    "subscription": ({"id", "resourceGroups"}, {"id"}),
    "group": (
        {"name", "location", "tags", "vms", "disks", "virtualNetworks"},
        {"name", "location"},
    ),
    "vnet": ({"name", "addressPrefix", "subnets"}, {"name", "addressPrefix"}),
    "subnet": ({"name", "addressPrefix"}, {"name", "addressPrefix"}),
    "vm": (
        {
            "name",
            "tags",
            "size",
            "zones",
            "powerState",
            "osType",
            "prePostScripts",
            "osDisk",
            "dataDisks",
        },
        {"name"},
    ),
    "vmDisk": ({"lun", "sizeGB", "sku", "name", "tags", "blocks", "deleteOption"}, {"sizeGB"}),
    "disk": ({"name", "sizeGB", "sku", "tags", "zones", "blocks", "osType"}, {"name", "sizeGB"}),
}


def _check(data: Any, kind: str, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InvalidParameter(f"{where} must be an object.", target=where)
    allowed, required = _FIELDS[kind]
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidParameter(
            f"Unknown field '{where}.{unknown[0]}' in the estate seed; allowed here: "
            f"{sorted(allowed)}.",
            target=f"{where}.{unknown[0]}",
        )
    missing = sorted(required - set(data))
    if missing:
        raise InvalidParameter(
            f"Missing field '{where}.{missing[0]}' in the estate seed.",
            target=f"{where}.{missing[0]}",
        )
    return data


def _list(data: dict[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise InvalidParameter(f"{where}.{key} must be a list.", target=f"{where}.{key}")
    return value


def seed(world: World, estate: Any) -> dict[str, list[str]]:
    """Validate the whole seed, then create it; returns the ids created."""
    _check(estate, "root", "estate")
    plan = []
    for i, sub in enumerate(_list(estate, "subscriptions", "estate")):
        where = f"subscriptions[{i}]"
        _check(sub, "subscription", where)
        for j, group in enumerate(_list(sub, "resourceGroups", where)):
            gwhere = f"{where}.resourceGroups[{j}]"
            _check(group, "group", gwhere)
            for k, vm in enumerate(_list(group, "vms", gwhere)):
                vwhere = f"{gwhere}.vms[{k}]"
                _check(vm, "vm", vwhere)
                if vm.get("powerState", "running") not in ("running", "stopped", "deallocated"):
                    raise InvalidParameter(
                        f"{vwhere}.powerState must be running, stopped or deallocated.",
                        target=f"{vwhere}.powerState",
                    )
                if not isinstance(vm.get("prePostScripts", False), bool):
                    raise InvalidParameter(
                        f"{vwhere}.prePostScripts must be true or false.",
                        target=f"{vwhere}.prePostScripts",
                    )
                _check(vm.get("osDisk") or {"sizeGB": 64}, "vmDisk", f"{vwhere}.osDisk")
                for n, data_disk in enumerate(_list(vm, "dataDisks", vwhere)):
                    _check(data_disk, "vmDisk", f"{vwhere}.dataDisks[{n}]")
                    if "lun" not in data_disk:
                        raise InvalidParameter(
                            f"Missing field '{vwhere}.dataDisks[{n}].lun' in the estate seed.",
                            target=f"{vwhere}.dataDisks[{n}].lun",
                        )
            for k, disk in enumerate(_list(group, "disks", gwhere)):
                _check(disk, "disk", f"{gwhere}.disks[{k}]")
            for k, vnet in enumerate(_list(group, "virtualNetworks", gwhere)):
                _check(vnet, "vnet", f"{gwhere}.virtualNetworks[{k}]")
                for n, subnet in enumerate(
                    _list(vnet, "subnets", f"{gwhere}.virtualNetworks[{k}]")
                ):
                    _check(subnet, "subnet", f"{gwhere}.virtualNetworks[{k}].subnets[{n}]")
            plan.append((sub["id"], group))

    groups: ResourceGroupsBackend = world.backend("resources")
    compute: ComputeBackends = world.backend("compute")
    created: dict[str, list[str]] = {
        "resourceGroups": [],
        "vms": [],
        "disks": [],
        "virtualNetworks": [],
    }
    for subscription, group in plan:
        rg, _ = groups.create_or_update(
            subscription, group["name"], group["location"], group.get("tags")
        )
        created["resourceGroups"].append(rg.id)
        for vnet_seed in group.get("virtualNetworks") or []:
            created["virtualNetworks"].append(_create_vnet(world, subscription, rg, vnet_seed))
        backend = compute[subscription]
        for disk_seed in group.get("disks") or []:
            disk = _create_disk(backend, rg.name, rg.location, disk_seed, 0)
            created["disks"].append(disk.id)
        for vm_seed in group.get("vms") or []:
            vm = _create_vm(backend, rg.name, rg.location, vm_seed)
            created["vms"].append(vm.id)
            created["disks"].extend(a.disk_id for a in vm.attachments())
    return created


def _create_vnet(world: World, subscription: str, rg: Any, spec: dict[str, Any]) -> str:
    """A virtual network with its subnets (``emulator/network``), as a PUT would make it."""
    body = {
        "location": rg.location,
        "properties": {
            "addressSpace": {"addressPrefixes": [spec["addressPrefix"]]},
            "subnets": [
                {"name": s["name"], "properties": {"addressPrefix": s["addressPrefix"]}}
                for s in spec.get("subnets") or []
            ],
        },
    }
    vnet, _ = world.backend("network").put_vnet(subscription, rg.name, spec["name"], body)
    return str(vnet.id)


def _create_disk(
    backend: Any,
    group: str,
    location: str,
    spec: dict[str, Any],
    default_blocks: int,
    name: str | None = None,
) -> Any:
    body: dict[str, Any] = {
        "location": location,
        "sku": {"name": spec.get("sku") or "Premium_LRS"},
        "tags": spec.get("tags") or {},
        "properties": {
            "creationData": {"createOption": "Empty"},
            "diskSizeGB": spec["sizeGB"],
        },
    }
    if spec.get("zones"):
        body["zones"] = spec["zones"]
    if spec.get("osType"):
        body["properties"]["osType"] = spec["osType"]
    disk_name = spec.get("name") or name
    if (group.lower(), disk_name.lower()) in backend.disks:
        raise Conflict(f"Disk {disk_name} already exists in resource group {group}.")
    disk = backend.create_disk(group, disk_name, body)
    blocks = spec.get("blocks", default_blocks)
    if blocks:
        backend.write_disk(disk, blocks, None)
    return disk


def _create_vm(backend: Any, group: str, location: str, spec: dict[str, Any]) -> Any:
    name = spec["name"]
    if (group.lower(), name.lower()) in backend.vms:
        raise Conflict(f"VM {name} already exists in resource group {group}.")
    os_spec = spec.get("osDisk") or {"sizeGB": 64}
    os_type = spec.get("osType") or "Linux"
    os_disk = _create_disk(
        backend, group, location, {**os_spec, "osType": os_type}, 16, f"{name}-osdisk"
    )
    data_disks = []
    for data_spec in spec.get("dataDisks") or []:
        disk = _create_disk(
            backend, group, location, data_spec, 8, f"{name}-data-{data_spec['lun']}"
        )
        data_disks.append(
            {
                "lun": data_spec["lun"],
                "createOption": "Attach",
                "caching": "ReadOnly",
                "deleteOption": data_spec.get("deleteOption") or "Detach",
                "managedDisk": {"id": disk.id},
            }
        )
    body = {
        "location": location,
        "tags": spec.get("tags") or {},
        "properties": {
            "hardwareProfile": {"vmSize": spec.get("size") or "Standard_D2s_v5"},
            "storageProfile": {
                "osDisk": {
                    "createOption": "Attach",
                    "osType": os_type,
                    "caching": "ReadWrite",
                    "deleteOption": os_spec.get("deleteOption") or "Detach",
                    "managedDisk": {"id": os_disk.id},
                },
                "dataDisks": data_disks,
            },
            "networkProfile": {
                "networkInterfaces": [
                    {
                        "id": f"/subscriptions/{backend.subscription}/resourceGroups/{group}"
                        f"/providers/Microsoft.Network/networkInterfaces/{name}-nic",
                        "properties": {"primary": True},
                    }
                ]
            },
            "osProfile": {"computerName": name, "adminUsername": "azureuser"},
        },
    }
    if spec.get("zones"):
        body["zones"] = spec["zones"]
    vm = backend.create_vm(group, name, body, power_state=spec.get("powerState") or "running")
    vm.pre_post_scripts = bool(spec.get("prePostScripts", False))
    return vm
