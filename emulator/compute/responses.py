"""Microsoft.Compute requests: parse the request, call the backend, serialize the answer.

Status codes follow the spec per operation: disk and snapshot PUT/PATCH 200 (done) or 202
(running, with a body), DELETE 200/202 and 204 when there was nothing to delete,
beginGetAccess/endGetAccess 200/202; VM PUT 201 when created and 200 when updated, VM PATCH
200, VM DELETE 200/202/204, VM actions 200/202. Running operations carry
``Azure-AsyncOperation`` and ``Location`` (see ``emulator/lro.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.arm import iso
from emulator.compute.models import ComputeBackend, ComputeBackends, Disk, Snapshot, VirtualMachine
from emulator.compute.models.common import sku_tier
from emulator.content import GIB
from emulator.lro import Operation, lro_headers
from emulator.routing import ArmRequest, ArmResponse, paged

# --- serializers -------------------------------------------------------------------------

PLATFORM_KEY = {"type": "EncryptionAtRestWithPlatformKey"}

# Default provisioned performance (IOPS, MBps) by sku, as Azure reports for small disks.
_PERFORMANCE = {
    "Standard_LRS": (500, 60),
    "StandardSSD_LRS": (500, 60),
    "StandardSSD_ZRS": (500, 60),
    "Premium_LRS": (120, 25),
    "Premium_ZRS": (120, 25),
    "PremiumV2_LRS": (3000, 125),
    "UltraSSD_LRS": (2000, 125),
}


def _base(resource: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": resource.id,
        "name": resource.name,
        "type": resource.resource_type,
        "location": resource.location,
    }
    if resource.tags:
        body["tags"] = dict(resource.tags)
    return body


def disk_json(disk: Disk, now: float) -> dict[str, Any]:
    body = _base(disk)
    body["sku"] = {"name": disk.sku, "tier": sku_tier(disk.sku)}
    if disk.zones:
        body["zones"] = list(disk.zones)
    if disk.extended_location:
        body["extendedLocation"] = disk.extended_location
    if disk.managed_by:
        body["managedBy"] = disk.managed_by
        body["managedByExtended"] = [disk.managed_by]
    iops, mbps = _PERFORMANCE.get(disk.sku, (500, 60))
    props: dict[str, Any] = {
        "encryption": PLATFORM_KEY,
        "networkAccessPolicy": "AllowAll",
        "publicNetworkAccess": "Enabled",
        "diskIOPSReadWrite": iops,
        "diskMBpsReadWrite": mbps,
        **disk.properties,
        "creationData": dict(disk.creation_data),
        "diskSizeGB": disk.size_gb,
        "diskSizeBytes": disk.size_gb * GIB,
        "uniqueId": disk.unique_id,
        "provisioningState": disk.provisioning_state,
        "diskState": disk.disk_state,
        "timeCreated": iso(disk.time_created),
    }
    if disk.tier:
        props["tier"] = disk.tier
    if disk.pending_tier:
        props["propertyUpdatesInProgress"] = {"targetTier": disk.pending_tier}
    if disk.last_ownership_update is not None:
        props["LastOwnershipUpdateTime"] = iso(disk.last_ownership_update)
    if disk.hydration is not None:
        # The background copy of a Premium SSD v2 / Ultra disk made from a snapshot.
        props["completionPercent"] = disk.hydration.percent(now)
    body["properties"] = props
    return body


def snapshot_json(snapshot: Snapshot, now: float) -> dict[str, Any]:
    body = _base(snapshot)
    body["sku"] = {"name": snapshot.sku, "tier": sku_tier(snapshot.sku)}
    if snapshot.extended_location:
        body["extendedLocation"] = snapshot.extended_location
    props: dict[str, Any] = {
        "encryption": PLATFORM_KEY,
        "networkAccessPolicy": "AllowAll",
        "publicNetworkAccess": "Enabled",
        **snapshot.properties,
        "creationData": dict(snapshot.creation_data),
        "diskSizeGB": snapshot.size_gb,
        "diskSizeBytes": snapshot.size_gb * GIB,
        "uniqueId": snapshot.unique_id,
        "provisioningState": snapshot.provisioning_state,
        "diskState": snapshot.disk_state,
        "timeCreated": iso(snapshot.time_created),
        "incremental": snapshot.incremental,
        "snapshotAccessState": snapshot.access_state,
    }
    if snapshot.family_id:
        props["incrementalSnapshotFamilyId"] = snapshot.family_id
    percent = snapshot.completion_percent(now)
    if percent is not None:
        props["completionPercent"] = percent
    if snapshot.copy_error is not None:
        props["copyCompletionError"] = dict(snapshot.copy_error)
    body["properties"] = props
    return body


def vm_json(
    backend: ComputeBackend, vm: VirtualMachine, now: float, *, expand: str = ""
) -> dict[str, Any]:
    body = _base(vm)
    if vm.zones:
        body["zones"] = list(vm.zones)
    body["etag"] = f'"{vm.generation}"'
    props: dict[str, Any] = {
        "vmId": vm.vm_id,
        "hardwareProfile": {"vmSize": vm.size},
        "storageProfile": backend.storage_profile_json(vm),
        **{k: v for k, v in vm.profiles.items() if k != "userData"},
        "provisioningState": vm.provisioning_state,
        "timeCreated": iso(vm.time_created),
    }
    if isinstance(props.get("osProfile"), dict):
        props["osProfile"] = _os_profile(props["osProfile"], vm.os_type)
    expands = _expands(expand)
    if "userdata" in expands and "userData" in vm.profiles:
        props["userData"] = vm.profiles["userData"]
    if "instanceview" in expands:
        props["instanceView"] = instance_view_json(backend, vm, now)
    body["properties"] = props
    return body


def _os_profile(profile: dict[str, Any], os_type: str) -> dict[str, Any]:
    """The OS profile with the defaults Azure fills in for the VM's OS."""
    profile = dict(profile)
    if os_type == "Windows":
        defaults = {"provisionVMAgent": True, "enableAutomaticUpdates": True}
        profile["windowsConfiguration"] = {
            **defaults,
            **(profile.get("windowsConfiguration") or {}),
        }
    else:
        defaults = {"disablePasswordAuthentication": False, "provisionVMAgent": True}
        profile["linuxConfiguration"] = {**defaults, **(profile.get("linuxConfiguration") or {})}
    profile.setdefault("allowExtensionOperations", True)
    profile.setdefault("requireGuestProvisionSignal", True)
    profile.setdefault("secrets", [])
    return profile


_POWER_DISPLAY = {
    "running": "VM running",
    "starting": "VM starting",
    "stopping": "VM stopping",
    "stopped": "VM stopped",
    "deallocating": "VM deallocating",
    "deallocated": "VM deallocated",
    "restarting": "VM restarting",
}


def instance_view_json(backend: ComputeBackend, vm: VirtualMachine, now: float) -> dict[str, Any]:
    provisioning = vm.provisioning_state.lower()
    statuses = [
        {
            "code": f"ProvisioningState/{provisioning}",
            "level": "Info",
            "displayStatus": "Provisioning succeeded"
            if provisioning == "succeeded"
            else f"Provisioning {provisioning}",
            "time": iso(now),
        },
        {
            "code": f"PowerState/{vm.power_state}",
            "level": "Info",
            "displayStatus": _POWER_DISPLAY.get(vm.power_state, vm.power_state),
        },
    ]
    disks = [
        {
            "name": a.name,
            "statuses": [
                {
                    "code": "ProvisioningState/succeeded",
                    "level": "Info",
                    "displayStatus": "Provisioning succeeded",
                    "time": iso(now),
                }
            ],
        }
        for a in vm.attachments()
    ]
    agent_running = vm.agent_ready and vm.power_state == "running"
    linux = vm.os_type == "Linux"
    return {
        "platformUpdateDomain": 0,
        "platformFaultDomain": 0,
        "computerName": (vm.profiles.get("osProfile") or {}).get("computerName", vm.name),
        "osName": "ubuntu" if linux else "Windows Server 2022 Datacenter",
        "osVersion": "24.04" if linux else "Microsoft Windows NT 10.0.20348.0",
        "hyperVGeneration": "V2",
        "isVMInStandbyPool": False,
        "vmAgent": {
            "vmAgentVersion": "2.11.1.12" if agent_running else "Unknown",
            "extensionHandlers": [],
            "statuses": [
                {
                    "code": "ProvisioningState/succeeded",
                    "level": "Info" if agent_running else "Warning",
                    "displayStatus": "Ready" if agent_running else "Not Ready",
                    "message": "Guest Agent is running"
                    if agent_running
                    else "VM Agent is unresponsive.",
                    "time": iso(now),
                }
            ],
        },
        "disks": disks,
        "statuses": statuses,
    }


# --- helpers -----------------------------------------------------------------------------


def _expands(expand: str) -> set[str]:
    """The lower-cased names of a ``$expand`` list (``"instanceView, userData"``)."""
    return {e.strip().lower() for e in expand.split(",") if e.strip()}


def _compute(request: ArmRequest) -> ComputeBackend:
    service: ComputeBackends = request.world.backend("compute")
    return service[request.params["subscription"]]


def _lro(
    request: ArmRequest,
    op: Operation | None,
    body: Callable[[], Any] | None,
    *,
    running: int = 202,
    done: int = 200,
    location: bool = True,
    running_body: bool = True,
) -> ArmResponse:
    """Answer a long-running request: ``done`` with the final body if it already ended,
    else ``running`` with the operation headers (and the resource as it is now)."""
    if op is None:
        return ArmResponse(204)
    if op.done:
        if op.status == "Failed":
            return ArmResponse(op.error_status, {"error": op.error})
        return ArmResponse(done, body() if body else None)
    payload = body() if (body and running_body) else None
    return ArmResponse(running, payload, lro_headers(request, op, location=location))


# --- disks -------------------------------------------------------------------------------


def get_disk(request: ArmRequest) -> ArmResponse:
    p = request.params
    disk = _compute(request).get_disk(p["group"], p["disk"])
    return ArmResponse(200, disk_json(disk, request.world.now()))


def list_disks(request: ArmRequest) -> ArmResponse:
    disks = _compute(request).list_disks(request.params.get("group"))
    now = request.world.now()
    return paged(request, disks, key=lambda d: d.id.lower(), serialize=lambda d: disk_json(d, now))


def put_disk(request: ArmRequest) -> ArmResponse:
    p = request.params
    disk, op, _ = _compute(request).begin_create_or_update_disk(
        p["group"], p["disk"], request.json()
    )
    return _lro(request, op, lambda: disk_json(disk, request.world.now()))


def patch_disk(request: ArmRequest) -> ArmResponse:
    p = request.params
    disk, op = _compute(request).begin_update_disk(p["group"], p["disk"], request.json())
    return _lro(request, op, lambda: disk_json(disk, request.world.now()))


def delete_disk(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_delete_disk(p["group"], p["disk"])
    return _lro(request, op, None)


def grant_disk_access(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_grant_disk_access(p["group"], p["disk"], request.json())
    return _lro(request, op, lambda: op.output)


def revoke_disk_access(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_revoke_disk_access(p["group"], p["disk"])
    return _lro(request, op, None)


# --- snapshots ---------------------------------------------------------------------------


def get_snapshot(request: ArmRequest) -> ArmResponse:
    p = request.params
    snapshot = _compute(request).get_snapshot(p["group"], p["snapshot"])
    return ArmResponse(200, snapshot_json(snapshot, request.world.now()))


def list_snapshots(request: ArmRequest) -> ArmResponse:
    snapshots = _compute(request).list_snapshots(request.params.get("group"))
    now = request.world.now()
    return paged(
        request, snapshots, key=lambda s: s.id.lower(), serialize=lambda s: snapshot_json(s, now)
    )


def put_snapshot(request: ArmRequest) -> ArmResponse:
    p = request.params
    snapshot, op, _ = _compute(request).begin_create_or_update_snapshot(
        p["group"], p["snapshot"], request.json()
    )
    return _lro(request, op, lambda: snapshot_json(snapshot, request.world.now()))


def patch_snapshot(request: ArmRequest) -> ArmResponse:
    p = request.params
    snapshot, op = _compute(request).begin_update_snapshot(
        p["group"], p["snapshot"], request.json()
    )
    return _lro(request, op, lambda: snapshot_json(snapshot, request.world.now()))


def delete_snapshot(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_delete_snapshot(p["group"], p["snapshot"])
    return _lro(request, op, None)


def grant_snapshot_access(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_grant_snapshot_access(p["group"], p["snapshot"], request.json())
    return _lro(request, op, lambda: op.output)


def revoke_snapshot_access(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_revoke_snapshot_access(p["group"], p["snapshot"])
    return _lro(request, op, None)


# --- virtual machines --------------------------------------------------------------------


def get_vm(request: ArmRequest) -> ArmResponse:
    p = request.params
    backend = _compute(request)
    vm = backend.get_vm(p["group"], p["vm"])
    expand = request.query.get("$expand", "")
    return ArmResponse(200, vm_json(backend, vm, request.world.now(), expand=expand))


def get_vm_instance_view(request: ArmRequest) -> ArmResponse:
    p = request.params
    backend = _compute(request)
    vm = backend.get_vm(p["group"], p["vm"])
    return ArmResponse(200, instance_view_json(backend, vm, request.world.now()))


def list_vms(request: ArmRequest) -> ArmResponse:
    backend = _compute(request)
    vms = backend.list_vms(request.params.get("group"), request.params.get("location"))
    expand = request.query.get("$expand", "")
    if request.query.get("statusonly", "").lower() == "true":
        expand = "instanceView"
    extra = {k: v for k, v in request.query.items() if k in ("$expand", "statusonly", "$filter")}
    now = request.world.now()
    return paged(
        request,
        vms,
        key=lambda vm: vm.id.lower(),
        serialize=lambda vm: vm_json(backend, vm, now, expand=expand),
        extra_query={("statusOnly" if k == "statusonly" else k): v for k, v in extra.items()},
    )


def put_vm(request: ArmRequest) -> ArmResponse:
    p = request.params
    backend = _compute(request)
    vm, op, created = backend.begin_create_or_update_vm(p["group"], p["vm"], request.json())
    status = 201 if created else 200
    return _lro(
        request,
        op,
        lambda: vm_json(backend, vm, request.world.now()),
        running=status,
        done=status,
        location=False,
    )


def patch_vm(request: ArmRequest) -> ArmResponse:
    p = request.params
    backend = _compute(request)
    vm, op = backend.begin_update_vm(p["group"], p["vm"], request.json())
    return _lro(
        request,
        op,
        lambda: vm_json(backend, vm, request.world.now()),
        running=200,
        location=False,
    )


def delete_vm(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_delete_vm(p["group"], p["vm"])
    return _lro(request, op, None)


def attach_detach_data_disks(request: ArmRequest) -> ArmResponse:
    p = request.params
    backend = _compute(request)
    vm, op = backend.begin_attach_detach_data_disks(p["group"], p["vm"], request.json())
    return _lro(request, op, lambda: backend.storage_profile_json(vm), running_body=False)


def power_action(action: str) -> Callable[[ArmRequest], ArmResponse]:
    def handler(request: ArmRequest) -> ArmResponse:
        p = request.params
        op = _compute(request).begin_power_action(p["group"], p["vm"], action)
        return _lro(request, op, None)

    handler.__name__ = f"vm_{action}"
    return handler
