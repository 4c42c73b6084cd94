"""Every in-scope disk and snapshot example of the DiskRP spec round-trips.

For each example and each status code it documents, the emulator is brought to the state
the example assumes (resource group, sources, the resource itself), the example's request
is sent through the real SDK client's pipeline, and the answer must have that status, every
property of the example's answer with the same JSON type, the example's headers, and
deserialize into the SDK's model.
"""

from __future__ import annotations

import filecmp
from typing import Any

import pytest
from azure.mgmt.compute import models

from tests.emulator.spec_examples import (
    EXAMPLES_DIR,
    SHARED_DIR,
    all_pages,
    cases,
    check_shape,
    deserialize,
    example_files,
    example_name,
    load,
)
from tests.emulator.spec_examples import send as send_raw
from tests.emulator.support import SUB

DISKS = "DiskRP/stable/2025-01-02/examples/diskExamples"
SNAPSHOTS = "DiskRP/stable/2025-01-02/examples/snapshotExamples"
PLACEHOLDERS = {"{subscription-id}": SUB, "{subscriptionId}": SUB}

# example file → operationId (from DiskRP.json's x-ms-examples; the four examples this
# revision of the spec does not reference are mapped by their names).
OPERATIONS = {
    "Disk_BeginGetAccess": "Disks_GrantAccess",
    "Disk_BeginGetAccess_WithVMGuestState": "Disks_GrantAccess",
    "Disk_BeginGetAccess_WithVMGuestStateAndVMMetadata": "Disks_GrantAccess",
    "Disk_CreateOrUpdate_AvailabilityPolicy": "Disks_CreateOrUpdate",
    "Disk_CreateOrUpdate_BurstingEnabled": "Disks_Update",
    "Disk_Create_ByCopyingASnapshot": "Disks_CreateOrUpdate",
    "Disk_Create_ByImportingBlobFromADifferentSubscription": "Disks_CreateOrUpdate",
    "Disk_Create_ByImportingBlobFromTheSameSubscription": "Disks_CreateOrUpdate",
    "Disk_Create_ConfidentialVMSupportedDiskEncryptedWithCMK": "Disks_CreateOrUpdate",
    "Disk_Create_Empty": "Disks_CreateOrUpdate",
    "Disk_Create_FromAnExistingManagedDisk": "Disks_CreateOrUpdate",
    "Disk_Create_InExtendedLocation": "Disks_CreateOrUpdate",
    "Disk_Create_WithDataAccessAuthMode": "Disks_CreateOrUpdate",
    "Disk_Create_WithDiskAccess": "Disks_CreateOrUpdate",
    "Disk_Create_WithDiskEncryptionSet": "Disks_CreateOrUpdate",
    "Disk_Create_WithLogicalSectorSize": "Disks_CreateOrUpdate",
    "Disk_Create_WithOptimizedForFrequentAttach": "Disks_CreateOrUpdate",
    "Disk_Create_WithPremiumV2_LRSAccountType": "Disks_CreateOrUpdate",
    "Disk_Create_WithSSDZRSAccountType": "Disks_CreateOrUpdate",
    "Disk_Create_WithSecurityProfile": "Disks_CreateOrUpdate",
    "Disk_Create_WithUltraSSD_ReadOnly": "Disks_CreateOrUpdate",
    "Disk_Delete": "Disks_Delete",
    "Disk_EndGetAccess": "Disks_RevokeAccess",
    "Disk_Get": "Disks_Get",
    "Disk_ListByResourceGroup": "Disks_ListByResourceGroup",
    "Disk_ListBySubscription": "Disks_List",
    "Disk_Update_AddAcceleratedNetworking": "Disks_Update",
    "Disk_Update_AddDiskControllerTypes": "Disks_Update",
    "Disk_Update_AddPurchasePlan": "Disks_Update",
    "Disk_Update_AddSupportsHibernation": "Disks_Update",
    "Disk_Update_ChangeTier": "Disks_Update",
    "Disk_Update_DisableBursting": "Disks_Update",
    "Disk_Update_DisableOptimizedForFrequentAttach": "Disks_Update",
    "Disk_Update_RemoveDiskAccess": "Disks_Update",
    "Disk_Update_ToAddArchitecture": "Disks_Update",
    "Snapshot_BeginGetAccess": "Snapshots_GrantAccess",
    "Snapshot_Create_ByImportingAnUnmanagedBlobFromADifferentSubscription": (
        "Snapshots_CreateOrUpdate"
    ),
    "Snapshot_Create_ByImportingAnUnmanagedBlobFromTheSameSubscription": (
        "Snapshots_CreateOrUpdate"
    ),
    "Snapshot_Create_EnhancedProvisionedBandwidthCopySpeed": "Snapshots_CreateOrUpdate",
    "Snapshot_Create_FromAnExistingSnapshot": "Snapshots_CreateOrUpdate",
    "Snapshot_Create_FromAnExistingSnapshotInDifferentRegion": "Snapshots_CreateOrUpdate",
    "Snapshot_Create_InstantAccessSnapshot": "Snapshots_CreateOrUpdate",
    "Snapshot_Delete": "Snapshots_Delete",
    "Snapshot_EndGetAccess": "Snapshots_RevokeAccess",
    "Snapshot_Get": "Snapshots_Get",
    "Snapshot_GetIncrementalSnapshot": "Snapshots_Get",
    "Snapshot_ListByResourceGroup": "Snapshots_ListByResourceGroup",
    "Snapshot_ListBySubscription": "Snapshots_List",
    "Snapshot_Update": "Snapshots_Update",
    "Snapshot_Update_WithAcceleratedNetwork": "Snapshots_Update",
}

# Examples of things the emulator does not model, and why.
OUT_OF_SCOPE = {
    "Disk_Create_FromAnElasticSanVolumeSnapshot": "Elastic SAN volume snapshots are not modelled",
    "Snapshot_Create_FromAnElasticSanVolumeSnapshot": (
        "Elastic SAN volume snapshots are not modelled"
    ),
    "Disk_Create_UploadDisk": "direct upload (ReadyToUpload, upload SAS) is not modelled",
    "Disk_Create_PerformancePlus": "direct upload (createOption Upload) is not modelled",
    "Disk_Create_FromUploadPreparedSecure": "direct upload (UploadPreparedSecure) is not modelled",
    "Disk_Create_FromImportSecure": "confidential VM guest-state import is not modelled",
    "Disk_Create_FromImportSecure_WithVMMetadata": (
        "confidential VM guest-state import is not modelled"
    ),
    "Disk_Create_FromAPlatformImage": (
        "images are opaque: the answer's hyperVGeneration, purchasePlan and "
        "supportedCapabilities come from the platform image"
    ),
    "Disk_Create_FromAnAzureComputeGalleryImage": (
        "gallery images are not modelled (the answer's properties come from the image)"
    ),
    "Disk_Create_FromAnAzureComputeGalleryCommunityImage": (
        "gallery images are not modelled (the answer's properties come from the image)"
    ),
    "Disk_Create_FromAnAzureComputeGalleryDirectSharedImage": (
        "gallery images are not modelled (the answer's properties come from the image)"
    ),
}

# Read-only properties: never sent when re-creating the state an example assumes.
READ_ONLY = {
    "timeCreated",
    "diskSizeBytes",
    "uniqueId",
    "provisioningState",
    "diskState",
    "shareInfo",
    "burstingEnabledTime",
    "propertyUpdatesInProgress",
    "LastOwnershipUpdateTime",
    "incrementalSnapshotFamilyId",
    "completionPercent",
    "copyCompletionError",
    "snapshotAccessState",
    "sourceUniqueId",
}

MODELS = {"Disks": models.Disk, "Snapshots": models.Snapshot}
ACCESS_MODEL = models.AccessUri


EXAMPLES = example_files(DISKS, SNAPSHOTS)


def test_every_example_is_classified():
    names = {example_name(r) for r in EXAMPLES}
    assert len(names) == 61
    assert names == set(OPERATIONS) | set(OUT_OF_SCOPE)


@pytest.mark.skipif(not SHARED_DIR.is_dir(), reason="no shared azure-api folder next to the repo")
def test_copies_match_the_shared_reference():
    for relative in EXAMPLES:
        assert filecmp.cmp(EXAMPLES_DIR / relative, SHARED_DIR / relative, shallow=False), relative


# --- putting the emulator in the state an example assumes --------------------------------


class Stage:
    """Creates what an example refers to, through the SDK client, in the example's names."""

    def __init__(self, client: Any, resources: Any, control: Any) -> None:
        self.client = client
        self.resources = resources
        self.control = control

    def group(self, name: str, location: str = "westus") -> None:
        if not self.resources.resource_groups.check_existence(name):
            self.resources.resource_groups.create_or_update(name, {"location": location})

    def disk(self, group: str, name: str, body: dict[str, Any] | None = None) -> Any:
        self.group(group)
        body = body or {"location": "westus", "properties": {}}
        props = body.setdefault("properties", {})
        creation = props.setdefault("creationData", {"createOption": "Empty"})
        if creation.get("createOption") == "Empty":
            props.setdefault("diskSizeGB", 128)
        self.sources(creation, body.get("location", "westus"))
        return self.client.disks.begin_create_or_update(group, name, body).result()

    def snapshot(
        self, group: str, name: str, body: dict[str, Any] | None = None, location: str = "westus"
    ) -> Any:
        self.group(group)
        if body is None:
            body = {
                "location": location,
                "properties": {
                    "creationData": {
                        "createOption": "Copy",
                        "sourceResourceId": f"/subscriptions/{SUB}/resourceGroups/{group}"
                        f"/providers/Microsoft.Compute/disks/{name}-source",
                    },
                    "incremental": True,
                },
            }
        creation = body["properties"]["creationData"]
        self.sources(creation, body.get("location", location))
        return self.client.snapshots.begin_create_or_update(group, name, body).result()

    def sources(self, creation: dict[str, Any], location: str) -> None:
        """Create the disk or snapshot ``creationData.sourceResourceId`` names, if missing."""
        source = creation.get("sourceResourceId")
        if not source:
            return
        parts = source.strip("/").split("/")
        group, kind, name = parts[3], parts[-2], parts[-1]
        # CopyStart copies from another region; Copy reads from the same one.
        where = "eastus" if creation.get("createOption") == "CopyStart" else _location(location)
        if kind == "disks":
            if not self._exists(self.client.disks, group, name):
                self.disk(group, name, {"location": where, "properties": {}})
        elif kind == "snapshots" and not self._exists(self.client.snapshots, group, name):
            self.snapshot(group, name, location=where)

    @staticmethod
    def _exists(operations: Any, group: str, name: str) -> bool:
        try:
            operations.get(group, name)
        except Exception:
            return False
        return True

    def from_answer(self, kind: str, answer: dict[str, Any]) -> Any:
        """Re-create the resource an example's answer describes (minus read-only parts)."""
        parts = answer["id"].strip("/").split("/")
        # The name, not the id's last segment: some list examples repeat one id.
        group, name = parts[3], answer.get("name") or parts[-1]
        body = {
            k: answer[k] for k in ("location", "tags", "zones", "extendedLocation") if k in answer
        }
        body.setdefault("location", "westus")
        if "sku" in answer:
            body["sku"] = {"name": answer["sku"]["name"]}
        props = {k: v for k, v in answer.get("properties", {}).items() if k not in READ_ONLY}
        creation = {k: v for k, v in props.get("creationData", {}).items() if k not in READ_ONLY}
        source = creation.get("sourceResourceId", "")
        if source.strip("/").lower().endswith(f"/{name.lower()}"):
            # Some list examples copy a resource from itself; stage a separate source.
            creation["sourceResourceId"] = source + "-source"
        props["creationData"] = creation
        body["properties"] = props
        if kind == "Disks":
            disk = self.disk(group, name, body)
            if answer.get("managedBy"):
                self.attach(group, disk)
            return disk
        return self.snapshot(group, name, body)

    def attach(self, group: str, disk: Any) -> None:
        self.client.virtual_machines.begin_create_or_update(
            group,
            "vm-owner",
            {
                "location": disk.location,
                "properties": {
                    "storageProfile": {
                        "osDisk": {"createOption": "Attach", "managedDisk": {"id": disk.id}}
                    },
                    "networkProfile": {"networkInterfaces": [{"id": "nic-opaque"}]},
                },
            },
        ).result()


def _location(name: str) -> str:
    return name.replace(" ", "").lower()


# --- the round trip ----------------------------------------------------------------------


@pytest.mark.parametrize(("relative", "status"), cases(EXAMPLES, OUT_OF_SCOPE, PLACEHOLDERS))
def test_example_round_trips(relative, status, compute, resources, control):
    example = load(relative, PLACEHOLDERS)
    operation = OPERATIONS[example.name]
    group_ops, action = operation.split("_")
    stage = Stage(compute, resources, control)
    p = example.parameters
    group = p.get("resourceGroupName", "myResourceGroup")
    name = p.get("diskName") or p.get("snapshotName")
    collection = "disks" if group_ops == "Disks" else "snapshots"
    path = (
        f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/{collection}"
        + (f"/{name}" if name else "")
    )
    # "200" = the operation ends at once; "202" = it is still running when answered.
    if status == "200":
        control.config(lroSeconds={operation: 0})
    expected = example.body(status)

    if action == "CreateOrUpdate":
        stage.group(group)
        body = p["disk"] if group_ops == "Disks" else p["snapshot"]
        stage.sources(body["properties"]["creationData"], body.get("location", "westus"))
        response = send_raw(compute, "PUT", path, example.api_version, body)
    elif action == "Update":
        answer = expected or example.body("200")
        stage.from_answer(group_ops, {**answer, "id": path})
        body = p["disk"] if group_ops == "Disks" else p["snapshot"]
        response = send_raw(compute, "PATCH", path, example.api_version, body)
    elif action == "Get":
        stage.from_answer(group_ops, {**expected, "id": path})
        response = send_raw(compute, "GET", path, example.api_version)
    elif action.startswith("List"):
        items = expected["value"]
        for item in items:
            stage.from_answer(group_ops, item)
        control.config(pageSize=max(1, len(items) - 1))  # so that there is a nextLink
        scope = f"/subscriptions/{SUB}" + ("" if action == "List" else f"/resourceGroups/{group}")
        path = f"{scope}/providers/Microsoft.Compute/{collection}"
        response = send_raw(compute, "GET", path, example.api_version)
    elif action == "Delete":
        stage.group(group)
        if status != "204":  # 204: there was nothing to delete
            _stage_plain(stage, group_ops, group, name)
        response = send_raw(compute, "DELETE", path, example.api_version)
    elif action in ("GrantAccess", "RevokeAccess"):
        _stage_plain(stage, group_ops, group, name)
        verb = "beginGetAccess" if action == "GrantAccess" else "endGetAccess"
        response = send_raw(
            compute, "POST", f"{path}/{verb}", example.api_version, p.get("grantAccessData")
        )
    else:  # pragma: no cover - the table above only names these operations
        raise AssertionError(operation)

    assert response.status_code == int(status), response.text()
    for header in example.headers(status):
        assert header.lower() in {h.lower() for h in response.headers}, header
    if expected is None:
        return
    actual = response.json()
    if action.startswith("List"):
        _check_list(compute, actual, expected, group_ops)
        return
    check_shape(actual, expected, example.name)
    model = ACCESS_MODEL if action == "GrantAccess" else MODELS[group_ops]
    deserialized = deserialize(model, actual)
    if model is not ACCESS_MODEL:
        assert deserialized.name == name


def _stage_plain(stage: Stage, group_ops: str, group: str, name: str) -> None:
    if group_ops == "Disks":
        stage.disk(group, name)
    else:
        stage.snapshot(group, name)


def _check_list(client: Any, first_page: dict[str, Any], expected: dict[str, Any], kind: str):
    """Walk every page; match the example's items to ours by name."""
    check_shape(
        {k: v for k, v in first_page.items() if k != "value"},
        {k: v for k, v in expected.items() if k != "value"},
    )
    by_name = {item["name"]: item for item in all_pages(client, first_page)}
    for item in expected["value"]:
        assert item["name"] in by_name, item["name"]
        check_shape(by_name[item["name"]], item, item["name"])
        deserialize(MODELS[kind], by_name[item["name"]])


def test_shape_check_catches_missing_and_mistyped_properties():
    from tests.emulator.spec_examples import shape_errors

    expected = {"properties": {"diskSizeGB": 10, "tags": ["a"], "x": None}, "name": "d"}
    assert (
        shape_errors({"properties": {"diskSizeGB": 5, "tags": ["b"]}, "name": "e"}, expected) == []
    )
    assert shape_errors({"properties": {"diskSizeGB": "5", "tags": []}}, expected) == [
        "$.properties.diskSizeGB: string where the example has number",
        "$.properties.tags: 0 items where the example has 1",
        "$.name: missing",
    ]
