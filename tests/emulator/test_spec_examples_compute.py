"""Every in-scope restore point, disk restore point, virtual machine and run command example of
the specs round-trips (ComputeRP 2025-04-01, DiskRP 2025-01-02).

As for disks and snapshots (``test_spec_examples.py``): the emulator is brought to the state
an example assumes, the example's request is sent through the real SDK client's pipeline, and
the answer must have the example's status, its headers when the operation is still running,
every property of its body with the same JSON type, and deserialize into the SDK's model.

Two differences, both written down: a disk restore point's name is made by Azure
(``<disk>_<guid>``), so examples naming one address the point the staged restore point
really has; and a few properties of what Azure answers are outside the model (VM
extensions, boot diagnostics, patch status...): ``UNMODELLED`` lists them per example with
the reason, and only they are left out of the comparison. A 200 answer is final, so only a
202's polling headers are required.
"""

from __future__ import annotations

import copy
import filecmp
from collections.abc import Callable
from typing import Any

import pytest
from azure.mgmt.compute import models

from tests.emulator.spec_examples import (
    EXAMPLES_DIR,
    SHARED_DIR,
    Example,
    all_pages,
    cases,
    check_shape,
    deserialize,
    example_files,
    example_name,
    load,
    send,
    shape_errors,
)
from tests.emulator.support import SUB

RESTORE_POINTS = "ComputeRP/stable/2025-04-01/examples/restorePointExamples"
VMS = "ComputeRP/stable/2025-04-01/examples/virtualMachineExamples"
RUN_COMMANDS = "ComputeRP/stable/2025-04-01/examples/runCommandExamples"
DISK_POINTS = "DiskRP/stable/2025-01-02/examples/diskRestorePointExamples"
EXAMPLES = example_files(RESTORE_POINTS, VMS, RUN_COMMANDS, DISK_POINTS)

PLACEHOLDERS = {
    "{subscription-id}": SUB,
    "{subscriptionId}": SUB,
    "{existing-managed-disk-name}": "existingDisk",
    "{existing-disk-name}": "existingDisk",
    "{existing-snapshot-name}": "existingSnapshot",
    "{existing-diskEncryptionSet-name}": "myDiskEncryptionSet",
    "{existing-custom-image-name}": "myImage",
    "{existing-nic-name}": "myNic",
    "{existing-rpc-name}": "existingRpc",
    "{existing-rp-name}": "existingRp",
    "{your-username}": "azureuser",
    "{your-password}": "not-a-real-password-1!",
}

OUT_OF_SCOPE = {
    "RestorePointCollection_Update_MaximumSet_Gen": (
        "a generated maximal example: its PATCH answer lists the collection's restore points "
        "with Azure Disk Encryption settings, VM size properties and both OS configurations at "
        "once, none of which is modelled"
    ),
    "VirtualMachine_List_MaximumSet_Gen": (
        "a generated maximal example: unmanaged (VHD) and ephemeral OS disks, VM extensions, a "
        "marketplace plan and scale set membership are not modelled"
    ),
}

# Per example: JSON paths of the example's answer outside the model, and why.
UNMODELLED = {
    "VirtualMachine_Get": {
        "resources": "VM extensions are not modelled",
        "managedBy": "scale set (flexible orchestration) membership is not modelled",
    },
    "VirtualMachine_Get_InstanceView": {
        "vmAgent.extensionHandlers": "VM extensions are not modelled",
        "extensions": "VM extensions are not modelled",
        "bootDiagnostics": "boot diagnostics blobs are not modelled",
        "patchStatus": "guest patching is not modelled",
    },
}


def test_every_example_is_classified():
    names = {example_name(r) for r in EXAMPLES}
    assert len(names) == 32
    assert names == set(ROUND_TRIPS) | set(OUT_OF_SCOPE)


@pytest.mark.skipif(not SHARED_DIR.is_dir(), reason="no shared azure-api folder next to the repo")
def test_copies_match_the_shared_reference():
    for relative in EXAMPLES:
        assert filecmp.cmp(EXAMPLES_DIR / relative, SHARED_DIR / relative, shallow=False), relative


def without(body: Any, paths: dict[str, str]) -> Any:
    """``body`` minus the unmodelled paths (dotted keys)."""
    body = copy.deepcopy(body)
    for path in paths:
        *parents, leaf = path.split(".")
        node = body
        for key in parents:
            node = node.get(key, {})
        node.pop(leaf, None)
    return body


# --- staging: the estate an example assumes, made through the SDK --------------------------


class Stage:
    def __init__(self, compute: Any, resources: Any, control: Any) -> None:
        self.compute = compute
        self.resources = resources
        self.control = control

    def group(self, name: str, location: str = "westus") -> None:
        if not self.resources.resource_groups.check_existence(name):
            self.resources.resource_groups.create_or_update(name, {"location": location})

    def disk(
        self,
        group: str,
        name: str,
        location: str = "westus",
        sku: str = "Premium_LRS",
        size: int = 128,
    ) -> Any:
        self.group(group, location)
        body = {
            "location": location,
            "sku": {"name": sku},
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": size},
        }
        return self.compute.disks.begin_create_or_update(group, name, body).result()

    def vm(
        self,
        group: str,
        name: str,
        location: str = "westus",
        data_disks: tuple[tuple[int, str, str], ...] = (),
        os_disk: str | None = None,
    ) -> Any:
        """A Windows VM from a marketplace image with the given (lun, name, sku) data disks,
        boot diagnostics and user data (what the examples' source VMs have)."""
        self.group(group, location)
        disks = []
        for lun, disk_name, sku in data_disks:
            disk = self.disk(group, disk_name, location, sku)
            disks.append({"lun": lun, "createOption": "Attach", "managedDisk": {"id": disk.id}})
        body = {
            "location": location,
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_B1s"},
                "storageProfile": {
                    "imageReference": {
                        "publisher": "MicrosoftWindowsServer",
                        "offer": "WindowsServer",
                        "sku": "2019-Datacenter",
                        "version": "latest",
                    },
                    "osDisk": {
                        "createOption": "FromImage",
                        "name": os_disk or f"{name}_OsDisk_1",
                        "caching": "ReadWrite",
                        "managedDisk": {"storageAccountType": "Premium_LRS"},
                    },
                    "dataDisks": disks,
                },
                "osProfile": {"computerName": name, "adminUsername": "azureuser"},
                "networkProfile": {"networkInterfaces": [{"id": f"{name}-nic"}]},
                "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
                "userData": "c2FtcGxlIHVzZXJEYXRh",
            },
        }
        return self.compute.virtual_machines.begin_create_or_update(group, name, body).result()

    def collection(
        self, group: str, name: str, source_id: str, location: str = "westus", **extra: Any
    ) -> Any:
        self.group(group, location)
        body = {
            "location": location,
            "tags": extra.pop("tags", {"myTag1": "tagValue1"}),
            "properties": {"source": {"id": source_id}, **extra},
        }
        return self.compute.restore_point_collections.create_or_update(group, name, body)

    def restore_point(
        self,
        group: str,
        collection: str,
        name: str,
        *,
        premium_v2: bool = False,
        location: str = "westus",
    ) -> Any:
        """An application-consistent point of a VM with an OS disk, a data disk at lun 1
        (Premium SSD v2 if asked, for ``snapshotAccessState``) and an excluded disk."""
        data_sku = "PremiumV2_LRS" if premium_v2 else "Premium_LRS"
        vm = self.vm(
            group,
            f"vm-{collection}",
            location,
            data_disks=((1, f"{collection}-data", data_sku), (2, "disk123", "Premium_LRS")),
        )
        self.collection(group, collection, vm.id, location, instantAccess=True)
        excluded = self.compute.disks.get(group, "disk123").id
        body = {
            "properties": {"excludeDisks": [{"id": excluded}], "instantAccessDurationMinutes": 120}
        }
        return self.compute.restore_points.begin_create(group, collection, name, body).result()

    def os_disk_point(self, group: str, collection: str, point: str) -> Any:
        points = self.compute.disk_restore_point.list_by_restore_point(group, collection, point)
        return next(p for p in points if "_OsDisk_1_" in p.name)


def _path(*segments: str) -> str:
    return "/".join(segments)


def _group(example: Example) -> str:
    return example.parameters.get("resourceGroupName", "myResourceGroup")


# --- one function per operation: stage, then send the example's request -------------------

Sender = Callable[[Stage, Example, str], Any]
# Long-running operations whose examples show both 200 (ended at once) and 202 (running).
INSTANT = (
    "RestorePointCollections_Delete",
    "RestorePoints_Delete",
    "DiskRestorePoint_GrantAccess",
    "DiskRestorePoint_RevokeAccess",
    "VirtualMachines_RunCommand",
    "VirtualMachines_AttachDetachDataDisks",
)


def _collection_path(example: Example) -> str:
    p = example.parameters
    return (
        f"/subscriptions/{SUB}/resourceGroups/{_group(example)}/providers/Microsoft.Compute"
        f"/restorePointCollections/{p['restorePointCollectionName']}"
    )


def collection_put(stage: Stage, example: Example, status: str) -> Any:
    group = _group(example)
    body = example.parameters["parameters"]
    source = body["properties"]["source"]["id"]
    if "/restorePointCollections/" in source:
        vm = stage.vm(group, "myVM", "eastus")
        stage.collection(group, source.rsplit("/", 1)[1], vm.id, "eastus")
    else:
        stage.vm(group, source.rsplit("/", 1)[1], "eastus")
    if status == "200":  # an update: the collection exists
        send(stage.compute, "PUT", _collection_path(example), example.api_version, body)
    return send(stage.compute, "PUT", _collection_path(example), example.api_version, body)


def collection_get(stage: Stage, example: Example, status: str) -> Any:
    group = _group(example)
    name = example.parameters["restorePointCollectionName"]
    if example.parameters.get("expand") == "restorePoints":
        stage.restore_point(group, name, "restorePointName")
    else:
        vm = stage.vm(group, "myVM")
        stage.collection(group, name, vm.id, instantAccess=True)
    params = {"$expand": example.parameters["expand"]} if "expand" in example.parameters else None
    return send(stage.compute, "GET", _collection_path(example), example.api_version, params=params)


def collection_patch(stage: Stage, example: Example, status: str) -> Any:
    group = _group(example)
    vm = stage.vm(group, "myVM")
    stage.collection(group, example.parameters["restorePointCollectionName"], vm.id)
    body = copy.deepcopy(example.parameters["parameters"])
    body.get("properties", {}).pop("source", None)  # the example's source is another VM's
    return send(stage.compute, "PATCH", _collection_path(example), example.api_version, body)


def collection_delete(stage: Stage, example: Example, status: str) -> Any:
    group = _group(example)
    stage.group(group)
    if status != "204":
        stage.restore_point(group, example.parameters["restorePointCollectionName"], "rp1")
    return send(stage.compute, "DELETE", _collection_path(example), example.api_version)


def collection_list(stage: Stage, example: Example, status: str) -> Any:
    items = example.body("200")["value"]
    vm = stage.vm("myResourceGroup", "myVM")
    for item in items:
        group = item["id"].split("/")[4]
        extra = {"instantAccess": True} if item["properties"].get("instantAccess") else {}
        stage.collection(group, item["name"], vm.id, tags=item.get("tags") or {}, **extra)
    stage.control.config(pageSize=max(1, len(items) - 1))  # so that there is a nextLink
    scope = f"/subscriptions/{SUB}"
    if "resourceGroupName" in example.parameters:
        scope += f"/resourceGroups/{_group(example)}"
    path = f"{scope}/providers/Microsoft.Compute/restorePointCollections"
    return send(stage.compute, "GET", path, example.api_version)


def _point_path(example: Example) -> str:
    return f"{_collection_path(example)}/restorePoints/{example.parameters['restorePointName']}"


def point_create(stage: Stage, example: Example, status: str) -> Any:
    group = _group(example)
    collection = example.parameters["restorePointCollectionName"]
    body = example.parameters["parameters"]
    if "sourceRestorePoint" in body["properties"]:
        source = body["properties"]["sourceRestorePoint"]["id"].split("/")
        stage.restore_point(group, source[-3], source[-1], location="eastus")
        source_collection = stage.compute.restore_point_collections.get(group, source[-3])
        stage.collection(group, collection, source_collection.id, "westus")
    else:
        vm = stage.vm(
            group,
            "myVM",
            data_disks=((1, "dataDisk123", "Premium_LRS"), (2, "disk123", "Premium_LRS")),
        )
        stage.collection(group, collection, vm.id)
    return send(stage.compute, "PUT", _point_path(example), example.api_version, body)


def point_get(stage: Stage, example: Example, status: str) -> Any:
    p = example.parameters
    stage.restore_point(
        _group(example), p["restorePointCollectionName"], p["restorePointName"], premium_v2=True
    )
    params = {"$expand": p["expand"]} if "expand" in p else None
    return send(stage.compute, "GET", _point_path(example), example.api_version, params=params)


def point_delete(stage: Stage, example: Example, status: str) -> Any:
    p = example.parameters
    if status == "204":
        vm = stage.vm(_group(example), "myVM")
        stage.collection(_group(example), p["restorePointCollectionName"], vm.id)
    else:
        stage.restore_point(_group(example), p["restorePointCollectionName"], p["restorePointName"])
    return send(stage.compute, "DELETE", _point_path(example), example.api_version)


def _disk_point_path(example: Example, name: str) -> str:
    p = example.parameters
    return (
        f"{_collection_path(example)}/restorePoints/{p['vmRestorePointName']}"
        f"/diskRestorePoints/{name}"
    )


def _staged_disk_point(stage: Stage, example: Example, *, copied: bool = False) -> str:
    """The example's disk restore point: the OS disk's point of a staged restore point (a
    copy's, when the example shows one replicated from another region)."""
    p = example.parameters
    group, collection, point = (
        _group(example),
        p["restorePointCollectionName"],
        p["vmRestorePointName"],
    )
    if not copied:
        stage.restore_point(group, collection, point)
        return stage.os_disk_point(group, collection, point).name
    stage.restore_point(group, "sourceRpc", "sourceRp", location="eastus")
    source = stage.compute.restore_point_collections.get(group, "sourceRpc")
    stage.collection(group, collection, source.id, "westus")
    source_point = stage.compute.restore_points.get(group, "sourceRpc", "sourceRp")
    stage.compute.restore_points.begin_create(
        group, collection, point, {"properties": {"sourceRestorePoint": {"id": source_point.id}}}
    ).result()
    return stage.os_disk_point(group, collection, point).name


def disk_point_get(stage: Stage, example: Example, status: str) -> Any:
    copied = "DifferentRegion" in example.name
    if copied:  # the example shows the copy completed
        stage.control.config(copy={"baseSeconds": 0, "bytesPerSecond": 1024**4})
    name = _staged_disk_point(stage, example, copied=copied)
    return send(stage.compute, "GET", _disk_point_path(example, name), example.api_version)


def disk_point_list(stage: Stage, example: Example, status: str) -> Any:
    _staged_disk_point(stage, example)
    path = _disk_point_path(example, "").rstrip("/")
    return send(stage.compute, "GET", path, example.api_version)


def disk_point_access(stage: Stage, example: Example, status: str) -> Any:
    name = _staged_disk_point(stage, example)
    verb = "beginGetAccess" if "grantAccessData" in example.parameters else "endGetAccess"
    path = f"{_disk_point_path(example, name)}/{verb}"
    return send(
        stage.compute, "POST", path, example.api_version, example.parameters.get("grantAccessData")
    )


def _vm_path(example: Example) -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/{_group(example)}/providers/Microsoft.Compute"
        f"/virtualMachines/{example.parameters['vmName']}"
    )


def vm_get(stage: Stage, example: Example, status: str) -> Any:
    group, name = _group(example), example.parameters["vmName"]
    existing = stage.disk(group, "myDataDisk1", size=100)
    answer = example.body("200")
    props = answer.get("properties", {})
    body: dict[str, Any] = {"location": "westus", "tags": answer.get("tags", {})}
    if "storageProfile" in props:
        storage = copy.deepcopy(props["storageProfile"])
        storage["osDisk"].pop("managedDisk", None)
        for data_disk in storage["dataDisks"]:
            if data_disk["createOption"] == "Attach":
                data_disk["managedDisk"] = {"id": existing.id}
            else:
                data_disk.pop("managedDisk", None)
        keep = (
            "availabilitySet",
            "proximityPlacementGroup",
            "applicationProfile",
            "userData",
            "osProfile",
            "networkProfile",
            "diagnosticsProfile",
            "extensionsTimeBudget",
        )
        body["properties"] = {
            "hardwareProfile": props["hardwareProfile"],
            "storageProfile": storage,
            **{k: props[k] for k in keep if k in props},
        }
        stage.group(group)
        stage.compute.virtual_machines.begin_create_or_update(group, name, body).result()
        params = (
            {"$expand": example.parameters["$expand"]} if "$expand" in example.parameters else None
        )
        return send(stage.compute, "GET", _vm_path(example), example.api_version, params=params)
    # The instance view example: a VM with an OS disk and one data disk.
    stage.vm(group, name, data_disks=((0, "myDataDisk0", "Premium_LRS"),), os_disk="myOsDisk")
    return send(stage.compute, "GET", f"{_vm_path(example)}/instanceView", example.api_version)


def vm_list(stage: Stage, example: Example, status: str) -> Any:
    group = _group(example)
    stage.vm(group, "vm-a")
    stage.vm(group, "vm-b")
    stage.control.config(pageSize=1)
    path = (
        f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines"
    )
    return send(stage.compute, "GET", path, example.api_version)


def vm_put(stage: Stage, example: Example, status: str) -> Any:
    group = _group(example)
    stage.group(group)
    body = example.parameters["parameters"]
    for data_disk in body["properties"]["storageProfile"]["dataDisks"]:
        source = (data_disk.get("sourceResource") or {}).get("id") or (
            data_disk.get("managedDisk") or {}
        ).get("id")
        if source and "/snapshots/" in source:
            stage.disk(group, "snapshotSource")
            stage.compute.snapshots.begin_create_or_update(
                group,
                source.rsplit("/", 1)[1],
                {
                    "location": "westus",
                    "properties": {
                        "creationData": {
                            "createOption": "Copy",
                            "sourceResourceId": stage.compute.disks.get(group, "snapshotSource").id,
                        },
                        "incremental": True,
                    },
                },
            ).result()
        elif source and "/disks/" in source:
            stage.disk(group, source.rsplit("/", 1)[1])
    if status == "200":  # an update: the VM exists
        send(stage.compute, "PUT", _vm_path(example), example.api_version, body)
    return send(stage.compute, "PUT", _vm_path(example), example.api_version, body)


def vm_attach_detach(stage: Stage, example: Example, status: str) -> Any:
    group, name = _group(example), example.parameters["vmName"]
    body = example.parameters["parameters"]

    def staged(disk_id: str) -> Any:
        parts = disk_id.split("/")
        return stage.disk(parts[4], parts[-1])

    for item in body.get("dataDisksToAttach", []):
        staged(item["diskId"])
    # The disks to detach are the VM's only data disks (at luns 0 and 3).
    stage.vm(group, name, os_disk="myOsDisk")
    attached = [
        {"lun": lun, "diskId": staged(item["diskId"]).id}
        for lun, item in zip((0, 3), body.get("dataDisksToDetach", []), strict=False)
    ]
    stage.compute.virtual_machines.begin_attach_detach_data_disks(
        group, name, {"dataDisksToAttach": attached}
    ).result()
    path = f"{_vm_path(example)}/attachDetachDataDisks"
    return send(stage.compute, "POST", path, example.api_version, body)


def run_command(stage: Stage, example: Example, status: str) -> Any:
    group = _group(example)
    stage.vm(group, example.parameters["vmName"])
    body = example.parameters["parameters"]
    return send(stage.compute, "POST", f"{_vm_path(example)}/runCommand", example.api_version, body)


def run_command_documents(stage: Stage, example: Example, status: str) -> Any:
    p = example.parameters
    path = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/{p['location']}/runCommands"
    if "commandId" in p:
        path += f"/{p['commandId']}"
    return send(stage.compute, "GET", path, example.api_version)


ROUND_TRIPS: dict[str, tuple[Sender, Any]] = {
    # example → (how to stage and send it, the SDK model of its answer)
    "RestorePointCollection_CreateOrUpdate": (collection_put, models.RestorePointCollection),
    "RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy": (
        collection_put,
        models.RestorePointCollection,
    ),
    "RestorePointCollection_Get": (collection_get, models.RestorePointCollection),
    "RestorePointCollection_Get_WithContainedRestorePoints": (
        collection_get,
        models.RestorePointCollection,
    ),
    "RestorePointCollection_ListByResourceGroup": (collection_list, models.RestorePointCollection),
    "RestorePointCollection_ListBySubscription": (collection_list, models.RestorePointCollection),
    "RestorePointCollection_Update_MinimumSet_Gen": (
        collection_patch,
        models.RestorePointCollection,
    ),
    "RestorePointCollection_Delete_MaximumSet_Gen": (collection_delete, None),
    "RestorePointCollection_Delete_MinimumSet_Gen": (collection_delete, None),
    "RestorePoint_Create": (point_create, models.RestorePoint),
    "RestorePoint_Copy_BetweenRegions": (point_create, models.RestorePoint),
    "RestorePoint_Get": (point_get, models.RestorePoint),
    "RestorePoint_Get_WithInstanceView": (point_get, models.RestorePoint),
    "RestorePoint_Delete_MaximumSet_Gen": (point_delete, None),
    "RestorePoint_Delete_MinimumSet_Gen": (point_delete, None),
    "DiskRestorePoint_Get": (disk_point_get, models.DiskRestorePoint),
    "DiskRestorePoint_Get_WhenSourceResourceIsFromDifferentRegion": (
        disk_point_get,
        models.DiskRestorePoint,
    ),
    "DiskRestorePoint_ListByVmRestorePoint": (disk_point_list, models.DiskRestorePoint),
    "DiskRestorePoint_BeginGetAccess": (disk_point_access, models.AccessUri),
    "DiskRestorePoint_EndGetAccess": (disk_point_access, None),
    "VirtualMachine_Get": (vm_get, models.VirtualMachine),
    "VirtualMachine_Get_InstanceView": (vm_get, models.VirtualMachineInstanceView),
    "VirtualMachine_List_MinimumSet_Gen": (vm_list, models.VirtualMachine),
    "VirtualMachine_Create_WithDiskEncryptionSetResource": (vm_put, models.VirtualMachine),
    "VirtualMachine_Create_WithDataDisksFromSourceResource": (vm_put, models.VirtualMachine),
    "VirtualMachine_AttachDetachDataDisks_MaximumSet_Gen": (
        vm_attach_detach,
        models.StorageProfile,
    ),
    "VirtualMachine_AttachDetachDataDisks_MinimumSet_Gen": (
        vm_attach_detach,
        models.StorageProfile,
    ),
    "VirtualMachineRunCommand": (run_command, models.RunCommandResult),
    "RunCommand_List": (run_command_documents, models.RunCommandDocumentBase),
    "RunCommand_Get": (run_command_documents, models.RunCommandDocument),
}


@pytest.mark.parametrize(("relative", "status"), cases(EXAMPLES, OUT_OF_SCOPE, PLACEHOLDERS))
def test_example_round_trips(relative, status, compute, resources, control):
    stage = Stage(compute, resources, control)
    name = example_name(relative)
    placeholders = dict(PLACEHOLDERS)
    if name == "VirtualMachine_Create_WithDataDisksFromSourceResource":
        # The example names an existing disk restore point: stage one and use its name.
        stage.restore_point("myResourceGroup", "existingRpc", "existingRp")
        point = stage.os_disk_point("myResourceGroup", "existingRpc", "existingRp")
        placeholders["{existing-disk-restore-point-name}"] = point.name
    example = load(relative, placeholders)
    sender, model = ROUND_TRIPS[name]
    if status == "200":  # "200" = the long-running operation ends at once
        control.config(lroSeconds=dict.fromkeys(INSTANT, 0))
    response = sender(stage, example, status)

    assert response.status_code == int(status), response.text()
    if status == "202":  # still running: the polling headers the example shows
        for header in example.headers(status):
            assert header.lower() in {h.lower() for h in response.headers}, header
    expected = example.body(status)
    if expected is None:
        return
    expected = without(expected, UNMODELLED.get(name, {}))
    actual = response.json()
    if "value" in expected and model is not models.RunCommandResult:
        _check_list(stage.compute, actual, expected, model)
        return
    check_shape(actual, expected, name)
    if model is not None:
        deserialize(model, actual)


def _check_list(
    client: Any, first_page: dict[str, Any], expected: dict[str, Any], model: Any
) -> None:
    """Walk every page; each example item must match one of ours (by name, else any)."""
    check_shape(
        {k: v for k, v in first_page.items() if k != "value"},
        {k: v for k, v in expected.items() if k != "value"},
    )
    items = all_pages(client, first_page)
    assert items
    by_key = {item.get("name") or item.get("id"): item for item in items}
    for item in expected["value"]:
        key = item.get("name") or item.get("id")
        candidates = [by_key[key]] if key in by_key else items
        errors = [candidate for candidate in candidates if not _shape_ok(candidate, item)]
        assert len(errors) < len(candidates), f"no item has the shape of {key}"
    for item in items:
        deserialize(model, item)


def _shape_ok(actual: Any, expected: Any) -> bool:
    return not shape_errors(actual, expected)
