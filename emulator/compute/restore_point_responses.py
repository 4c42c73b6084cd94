"""Restore point collections, VM restore points and disk restore points: requests and answers.

Status codes as the specs say: collection PUT 200/201 and PATCH 200 (not long-running),
collection and restore point DELETE 200/202/204, restore point PUT **201** (running or done:
the SDK accepts nothing else), disk restore point beginGetAccess/endGetAccess 200/202.
Running operations carry ``Azure-AsyncOperation`` and ``Location`` (``emulator/lro.py``).
"""

from __future__ import annotations

from typing import Any

from emulator.arm import iso
from emulator.compute.models import ComputeBackends
from emulator.compute.models.restore_points import (
    DiskRestorePoint,
    RestorePoint,
    RestorePointCollection,
)
from emulator.compute.responses import PLATFORM_KEY, _base, _compute, _expands, _lro, _os_profile
from emulator.routing import ArmRequest, ArmResponse, paged

# --- serializers -------------------------------------------------------------------------


def collection_json(
    collection: RestorePointCollection,
    now: float,
    *,
    with_points: bool = False,
    answer: str = "read",
) -> dict[str, Any]:
    """A collection as ``answer`` (``read``, ``created``, ``updated``) shows it."""
    body = _base(collection)
    props: dict[str, Any] = {
        "source": _collection_source(collection, answer),
        "restorePointCollectionId": collection.collection_id,
        "provisioningState": collection.provisioning_state,
    }
    if collection.instant_access is not None:
        props["instantAccess"] = collection.instant_access
    if with_points:
        points = sorted(collection.restore_points.values(), key=lambda p: p.captured_at)
        props["restorePoints"] = [restore_point_json(p, now) for p in points]
    body["properties"] = props
    return body


def _collection_source(collection: RestorePointCollection, answer: str) -> dict[str, str]:
    """``properties.source`` in the forms of the spec examples: a VM's collection always
    names its VM; a copy collection (RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy)
    names its source collection without the leading slash when created (201), the source
    collection's VM when a PUT updated it (200), and (RestorePointCollection_Get) its source
    collection with the leading slash when read."""
    if collection.copies_from is None:
        return {"id": collection.source_id, "location": collection.source_location}
    if answer == "updated" and collection.source_vm_id:
        return {"id": collection.source_vm_id, "location": collection.source_vm_location or ""}
    bare = collection.source_id.lstrip("/")
    source_id = bare if answer == "created" else f"/{bare}"
    return {"id": source_id, "location": collection.source_location}


def restore_point_json(
    point: RestorePoint, now: float, *, instance_view: bool = False
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "excludeDisks": [dict(ref) for ref in point.exclude_disks],
        "sourceMetadata": _source_metadata(point),
        "provisioningState": point.provisioning_state,
        "consistencyMode": point.consistency_mode,
        "timeCreated": iso(point.time_created),
    }
    if point.source_restore_point_id:
        props["sourceRestorePoint"] = {"id": point.source_restore_point_id}
    if point.instant_access_minutes is not None:
        props["instantAccessDurationMinutes"] = point.instant_access_minutes
    if instance_view:
        props["instanceView"] = _instance_view(point, now)
    return {"id": point.id, "name": point.name, "type": point.resource_type, "properties": props}


def _source_metadata(point: RestorePoint) -> dict[str, Any]:
    """The VM as it was at capture, with each included disk's disk restore point."""
    vm = point.vm
    profiles = vm["profiles"]
    storage: dict[str, Any] = {"dataDisks": [], "diskControllerType": "SCSI"}
    for disk_point in point.ordered_disks():
        disk = _captured_disk(disk_point)
        if disk_point.lun is None:
            storage["osDisk"] = {"osType": vm["osType"], **disk}
        else:
            storage["dataDisks"].append({"lun": disk_point.lun, **disk})
    metadata: dict[str, Any] = {
        "vmId": vm["vmId"],
        "hardwareProfile": {"vmSize": vm["size"]},
        "storageProfile": storage,
        "location": vm["location"],
    }
    if isinstance(profiles.get("osProfile"), dict):
        metadata["osProfile"] = _os_profile(profiles["osProfile"], vm["osType"])
    for key in ("diagnosticsProfile", "licenseType", "securityProfile", "userData"):
        if key in profiles:
            metadata[key] = profiles[key]
    return metadata


def _captured_disk(disk_point: DiskRestorePoint) -> dict[str, Any]:
    # A copy's disks name their own disk restore point only, as RestorePoint_Copy_BetweenRegions
    # shows (no sourceDiskRestorePoint): what a copy came from is its sourceRestorePoint.
    restore_point: dict[str, Any] = {"id": disk_point.id}
    return {
        "name": disk_point.disk_name,
        "caching": disk_point.caching,
        "diskSizeGB": disk_point.size_gb,
        "managedDisk": {
            "storageAccountType": disk_point.sku,
            "id": disk_point.disk_id,
            **disk_point.managed_disk_extra,
        },
        "diskRestorePoint": restore_point,
        "writeAcceleratorEnabled": disk_point.write_accelerator,
    }


_STATE_DISPLAY = {"succeeded": "Succeeded", "inProgress": "InProgress", "failed": "Failed"}


def _status(state: str) -> dict[str, Any]:
    return {
        "code": f"ReplicationState/{state}",
        "level": "Error" if state == "failed" else "Info",
        "displayStatus": _STATE_DISPLAY[state],
    }


def _replication(disk_point: DiskRestorePoint) -> str:
    state = disk_point.replication_state
    if state == "Failed":
        return "failed"
    if state == "InProgress" or disk_point.restore_point.provisioning_state == "Creating":
        return "inProgress"
    return "succeeded"


def _instance_view(point: RestorePoint, now: float) -> dict[str, Any]:
    """Per disk restore point: replication status and progress (a copy's data crossing
    regions; 100 at once for a local point), and the snapshot access state of PV2/Ultra."""
    disks = []
    states = []
    for disk_point in point.ordered_disks():
        state = _replication(disk_point)
        states.append(state)
        view: dict[str, Any] = {
            "id": disk_point.id,
            "replicationStatus": {
                "status": _status(state),
                "completionPercent": disk_point.replication_percent(now),
            },
        }
        if disk_point.hydration is not None:
            view["snapshotAccessState"] = disk_point.access_state
        disks.append(view)
    if point.provisioning_state == "Failed" or "failed" in states:
        overall = "failed"
    elif "inProgress" in states or point.provisioning_state == "Creating":
        overall = "inProgress"
    else:
        overall = "succeeded"
    return {"diskRestorePoints": disks, "statuses": [_status(overall)]}


def disk_restore_point_json(disk_point: DiskRestorePoint, now: float) -> dict[str, Any]:
    props: dict[str, Any] = {
        "timeCreated": iso(disk_point.time_created),
        "sourceResourceId": disk_point.source_resource_id,
        "familyId": disk_point.family_id,
        "sourceUniqueId": disk_point.source_unique_id,
        "encryption": PLATFORM_KEY,
        "networkAccessPolicy": "AllowAll",
        "publicNetworkAccess": "Enabled",
        **disk_point.properties,
    }
    if disk_point.replication is not None:
        props["replicationState"] = disk_point.replication_state
        props["completionPercent"] = float(disk_point.replication_percent(now))
        props["sourceResourceLocation"] = disk_point.source_location
    return {
        "id": disk_point.id,
        "name": disk_point.name,
        "type": disk_point.resource_type,
        "properties": props,
    }


# --- restore point collections -----------------------------------------------------------


def get_collection(request: ArmRequest) -> ArmResponse:
    p = request.params
    collection = _compute(request).get_restore_point_collection(p["group"], p["collection"])
    with_points = "restorepoints" in _expands(request.query.get("$expand", ""))
    return ArmResponse(
        200, collection_json(collection, request.world.now(), with_points=with_points)
    )


def list_collections(request: ArmRequest) -> ArmResponse:
    collections = _compute(request).list_restore_point_collections(request.params.get("group"))
    now = request.world.now()
    return paged(
        request,
        collections,
        key=lambda c: c.id.lower(),
        serialize=lambda c: collection_json(c, now),
    )


def put_collection(request: ArmRequest) -> ArmResponse:
    p = request.params
    collection, created = _compute(request).create_or_update_restore_point_collection(
        p["group"], p["collection"], request.json()
    )
    answer = "created" if created else "updated"
    return ArmResponse(
        201 if created else 200, collection_json(collection, request.world.now(), answer=answer)
    )


def patch_collection(request: ArmRequest) -> ArmResponse:
    p = request.params
    collection = _compute(request).update_restore_point_collection(
        p["group"], p["collection"], request.json()
    )
    return ArmResponse(200, collection_json(collection, request.world.now()))


def delete_collection(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_delete_restore_point_collection(p["group"], p["collection"])
    return _lro(request, op, None)


# --- restore points ----------------------------------------------------------------------


def get_restore_point(request: ArmRequest) -> ArmResponse:
    p = request.params
    point = _compute(request).get_restore_point(p["group"], p["collection"], p["point"])
    view = "instanceview" in _expands(request.query.get("$expand", ""))
    return ArmResponse(200, restore_point_json(point, request.world.now(), instance_view=view))


def put_restore_point(request: ArmRequest) -> ArmResponse:
    p = request.params
    point, op = _compute(request).begin_create_restore_point(
        p["group"], p["collection"], p["point"], request.json()
    )
    return _lro(
        request,
        op,
        lambda: restore_point_json(point, request.world.now()),
        running=201,
        done=201,
    )


def delete_restore_point(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_delete_restore_point(p["group"], p["collection"], p["point"])
    return _lro(request, op, None)


# --- disk restore points -----------------------------------------------------------------


def get_disk_restore_point(request: ArmRequest) -> ArmResponse:
    p = request.params
    disk_point = _compute(request).get_disk_restore_point(
        p["group"], p["collection"], p["point"], p["disk_point"]
    )
    return ArmResponse(200, disk_restore_point_json(disk_point, request.world.now()))


def list_disk_restore_points(request: ArmRequest) -> ArmResponse:
    p = request.params
    point = _compute(request).get_restore_point(p["group"], p["collection"], p["point"])
    now = request.world.now()
    return paged(
        request,
        point.disk_restore_points.values(),
        key=lambda d: d.id.lower(),
        serialize=lambda d: disk_restore_point_json(d, now),
    )


def grant_disk_restore_point_access(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_grant_disk_restore_point_access(
        p["group"], p["collection"], p["point"], p["disk_point"], request.json()
    )
    return _lro(request, op, lambda: op.output)


def revoke_disk_restore_point_access(request: ArmRequest) -> ArmResponse:
    p = request.params
    op = _compute(request).begin_revoke_disk_restore_point_access(
        p["group"], p["collection"], p["point"], p["disk_point"]
    )
    return _lro(request, op, None)


# --- stats -------------------------------------------------------------------------------


def restore_point_stats(world: Any) -> dict[str, Any]:
    """Restore points per VM (copies excluded) and disk restore point copies still moving."""
    compute: ComputeBackends = world.backend("compute")
    per_vm: dict[str, int] = {}
    copies_in_flight: dict[str, int] = {}
    for point in compute.all_restore_points():
        if not point.is_copy and point.provisioning_state != "Failed":
            per_vm[point.vm_key] = per_vm.get(point.vm_key, 0) + 1
        for disk_point in point.disk_restore_points.values():
            job = disk_point.replication
            if job is not None and job.in_flight:
                key = f"{point.collection.subscription}/{point.location}"
                copies_in_flight[key] = copies_in_flight.get(key, 0) + 1
    return {"restorePointsPerVm": per_vm, "restorePointCopiesInFlight": copies_in_flight}
