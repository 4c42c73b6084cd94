"""Managed disks through the real ComputeManagementClient."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.emulator.support import disk_body, estate_one_vm, snapshot_id, wait_until


def test_create_empty_disk(compute, group):
    poller = compute.disks.begin_create_or_update(group, "data1", disk_body(128, "Premium_LRS"))
    disk = poller.result()
    assert poller.status() == "Succeeded"
    p = disk.properties
    assert p.provisioning_state == "Succeeded"
    assert p.disk_state == "Unattached"
    assert p.disk_size_gb == 128 and p.disk_size_bytes == 128 * 1024**3
    assert len(p.unique_id) == 36 and p.time_created is not None
    assert p.creation_data.create_option == "Empty"
    assert disk.sku.name == "Premium_LRS" and disk.sku.tier == "Premium"
    assert p.tier == "P10"
    assert disk.location == "eastus"


def test_location_is_normalized_and_names_keep_their_case(compute, group):
    disk = compute.disks.begin_create_or_update(
        group, "MyDisk", disk_body(location="East US")
    ).result()
    assert disk.location == "eastus"
    assert compute.disks.get(group.upper(), "mydisk").name == "MyDisk"


def test_disk_in_missing_group_is_refused(compute):
    with pytest.raises(ResourceNotFoundError) as info:
        compute.disks.begin_create_or_update("nope", "d", disk_body()).result()
    assert info.value.error.code == "ResourceGroupNotFound"


def test_copy_from_snapshot_carries_the_content(compute, control, group):
    disk = compute.disks.begin_create_or_update(group, "src", disk_body()).result()
    control.write(disk.id, blocks=10)
    snapshot = compute.snapshots.begin_create_or_update(
        group,
        "snap",
        {
            "location": "eastus",
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": disk.id},
                "incremental": True,
            },
        },
    ).result()
    at_snapshot = control.content(disk.id)["digest"]
    control.write(disk.id, blocks=5)  # after the snapshot: must not show in the copy
    copy = compute.disks.begin_create_or_update(
        group,
        "restored",
        {
            "location": "eastus",
            "sku": {"name": "StandardSSD_LRS"},
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": snapshot.id}
            },
        },
    ).result()
    assert copy.properties.disk_size_gb == 64  # the source's size when not given
    assert copy.properties.creation_data.source_unique_id == snapshot.properties.unique_id
    assert control.content(copy.id)["digest"] == at_snapshot
    assert control.content(snapshot.id)["digest"] == at_snapshot
    assert control.content(disk.id)["digest"] != at_snapshot


def test_copy_from_disk(compute, control, group):
    disk = compute.disks.begin_create_or_update(group, "src", disk_body()).result()
    control.write(disk.id, offsets=[0, 1, 2])
    clone = compute.disks.begin_create_or_update(
        group,
        "clone",
        {
            "location": "eastus",
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disk.id}},
        },
    ).result()
    assert control.content(clone.id) == {**control.content(disk.id), "id": clone.id}
    assert clone.properties.creation_data.source_unique_id == disk.properties.unique_id


def test_copy_from_another_region_is_not_found(compute, group):
    disk = compute.disks.begin_create_or_update(group, "src", disk_body()).result()
    with pytest.raises(ResourceNotFoundError) as info:
        compute.disks.begin_create_or_update(
            group,
            "far",
            {
                "location": "westus2",
                "properties": {
                    "creationData": {"createOption": "Copy", "sourceResourceId": disk.id}
                },
            },
        ).result()
    assert info.value.error.code == "NotFound"
    assert info.value.error.message == "Resource src is not found."


def test_copy_from_missing_snapshot_is_not_found(compute, group):
    with pytest.raises(ResourceNotFoundError):
        compute.disks.begin_create_or_update(
            group,
            "d",
            {
                "location": "eastus",
                "properties": {
                    "creationData": {
                        "createOption": "Copy",
                        "sourceResourceId": snapshot_id("ghost", group),
                    }
                },
            },
        ).result()


def test_unsupported_create_option_is_a_bad_request(compute, group):
    with pytest.raises(HttpResponseError) as info:
        compute.disks.begin_create_or_update(
            group,
            "d",
            {
                "location": "eastus",
                "properties": {
                    "creationData": {"createOption": "CopyFromSanSnapshot"},
                    "diskSizeGB": 10,
                },
            },
        ).result()
    assert info.value.status_code == 400
    assert info.value.error.target == "properties.creationData.createOption"


def test_put_cannot_change_the_source(compute, group):
    compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    body = disk_body()
    body["properties"]["creationData"] = {"createOption": "Import", "sourceUri": "https://x/y"}
    with pytest.raises(ResourceExistsError) as info:
        compute.disks.begin_create_or_update(group, "d", body).result()
    assert info.value.error.code == "PropertyChangeNotAllowed"


def test_put_again_updates_tags_and_keeps_identity(compute, group):
    first = compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    body = disk_body()
    body["tags"] = {"owner": "me"}
    second = compute.disks.begin_create_or_update(group, "d", body).result()
    assert second.properties.unique_id == first.properties.unique_id
    assert second.tags == {"owner": "me"}


def test_patch_tags_size_and_tier(compute, group):
    compute.disks.begin_create_or_update(group, "d", disk_body(64)).result()
    disk = compute.disks.begin_update(
        group, "d", {"tags": {"env": "test"}, "properties": {"diskSizeGB": 256, "tier": "P30"}}
    ).result()
    assert disk.tags == {"env": "test"}
    assert disk.properties.disk_size_gb == 256
    assert disk.properties.tier == "P30"
    assert disk.properties.property_updates_in_progress is None
    with pytest.raises(HttpResponseError) as info:
        compute.disks.begin_update(group, "d", {"properties": {"diskSizeGB": 32}}).result()
    assert info.value.status_code == 400


def test_attached_disk_state_and_delete_refused(compute, control):
    control.estate(estate_one_vm())
    disk = compute.disks.get("rg-app", "vm-web-1-data-0")
    assert disk.properties.disk_state == "Attached"
    assert disk.managed_by.endswith("/virtualMachines/vm-web-1")
    assert disk.properties.last_ownership_update_time is not None
    with pytest.raises(ResourceExistsError) as info:
        compute.disks.begin_delete("rg-app", "vm-web-1-data-0").result()
    assert info.value.status_code == 409
    assert info.value.error.code == "OperationNotAllowed"
    assert "is attached to VM" in info.value.error.message
    assert compute.disks.get("rg-app", "vm-web-1-data-0").properties.provisioning_state == (
        "Succeeded"
    )


def test_delete_disk(compute, group):
    compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    poller = compute.disks.begin_delete(group, "d")
    assert poller.result() is None
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get(group, "d")


def test_grant_and_revoke_access(compute, group):
    compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    access = compute.disks.begin_grant_access(
        group, "d", {"access": "Read", "durationInSeconds": 3600}
    ).result()
    assert access.access_sas.startswith("https://") and "sig=" in access.access_sas
    assert compute.disks.get(group, "d").properties.disk_state == "ActiveSAS"
    with pytest.raises(ResourceExistsError) as info:
        compute.disks.begin_delete(group, "d").result()
    assert info.value.error.code == "OperationNotAllowed"
    compute.disks.begin_revoke_access(group, "d").result()
    assert compute.disks.get(group, "d").properties.disk_state == "Unattached"


def test_sas_expires_with_world_time(compute, group):
    compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    # 60 world seconds = 0.1 real seconds at scale 600.
    compute.disks.begin_grant_access(
        group, "d", {"access": "Read", "durationInSeconds": 60}
    ).result()
    wait_until(lambda: compute.disks.get(group, "d").properties.disk_state == "Unattached")


def test_grant_access_refused_while_attached_to_running_vm(compute, control):
    control.estate(estate_one_vm())
    with pytest.raises(ResourceExistsError) as info:
        compute.disks.begin_grant_access(
            "rg-app", "vm-web-1-data-0", {"access": "Read", "durationInSeconds": 60}
        ).result()
    assert info.value.error.code == "OperationNotAllowed"


def test_reserved_when_vm_deallocated_and_export_allowed(compute, control):
    control.estate(estate_one_vm())
    compute.virtual_machines.begin_deallocate("rg-app", "vm-web-1").result()
    assert compute.disks.get("rg-app", "vm-web-1-data-0").properties.disk_state == "Reserved"
    access = compute.disks.begin_grant_access(
        "rg-app", "vm-web-1-data-0", {"access": "Read", "durationInSeconds": 600}
    ).result()
    assert access.access_sas
    compute.disks.begin_revoke_access("rg-app", "vm-web-1-data-0").result()
    compute.virtual_machines.begin_start("rg-app", "vm-web-1").result()
    assert compute.disks.get("rg-app", "vm-web-1-data-0").properties.disk_state == "Attached"


def test_lists_by_group_and_subscription(compute, resources, group):
    resources.resource_groups.create_or_update("rg-other", {"location": "westus2"})
    compute.disks.begin_create_or_update(group, "a", disk_body()).result()
    compute.disks.begin_create_or_update("rg-other", "b", disk_body(location="westus2")).result()
    assert [d.name for d in compute.disks.list_by_resource_group(group)] == ["a"]
    assert sorted(d.name for d in compute.disks.list()) == ["a", "b"]


def test_same_name_in_another_region_is_refused(compute, control, group):
    compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    with pytest.raises(ResourceExistsError) as info:
        compute.disks.begin_create_or_update(group, "d", disk_body(location="westus")).result()
    assert info.value.error.code == "InvalidResourceLocation"
    # The same rule for the other resource types a PUT can update.
    disk = compute.disks.get(group, "d")
    snapshot = {
        "location": "eastus",
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disk.id}},
    }
    compute.snapshots.begin_create_or_update(group, "s", snapshot).result()
    with pytest.raises(ResourceExistsError) as info:
        compute.snapshots.begin_create_or_update(
            group, "s", {**snapshot, "location": "westus"}
        ).result()
    assert info.value.error.code == "InvalidResourceLocation"
    control.estate(estate_one_vm())
    vm = compute.virtual_machines.get("rg-app", "vm-web-1")
    with pytest.raises(ResourceExistsError) as info:
        compute.virtual_machines.begin_create_or_update(
            "rg-app", "vm-web-1", {"location": "westus", "properties": {}}
        ).result()
    assert info.value.error.code == "InvalidResourceLocation"
    collection = {"location": "eastus", "properties": {"source": {"id": vm.id}}}
    compute.restore_point_collections.create_or_update("rg-app", "rpc", collection)
    with pytest.raises(ResourceExistsError) as info:
        compute.restore_point_collections.create_or_update(
            "rg-app", "rpc", {**collection, "location": "westus"}
        )
    assert info.value.error.code == "InvalidResourceLocation"


def test_names_follow_azure_naming_rules(compute, group):
    compute.disks.begin_create_or_update(group, "a.b_c-1_", disk_body()).result()
    for bad in ("_leading", "trailing-", "x" * 81, "sp ace"):
        with pytest.raises(HttpResponseError) as info:
            compute.disks.begin_create_or_update(group, bad, disk_body()).result()
        assert info.value.status_code == 400 and info.value.error.target == "diskName"
