"""Virtual machines and their disks, via the real SDK client."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.emulator.support import SUB, disk_body, disk_id, estate_one_vm

NIC = (
    f"/subscriptions/{SUB}/resourceGroups/rg-test"
    "/providers/Microsoft.Network/networkInterfaces/nic1"
)


def vm_from_disks(os_disk: str, data_disks: list[tuple[int, str]], **extra):
    return {
        "location": "eastus",
        "tags": {"backup": "gold"},
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D4s_v5"},
            "storageProfile": {
                "osDisk": {
                    "createOption": "Attach",
                    "osType": "Linux",
                    "managedDisk": {"id": os_disk},
                },
                "dataDisks": [
                    {"lun": lun, "createOption": "Attach", "managedDisk": {"id": disk}}
                    for lun, disk in data_disks
                ],
            },
            "networkProfile": {"networkInterfaces": [{"id": NIC}]},
            **extra,
        },
    }


def test_get_vm_storage_profile_and_instance_view(compute, control):
    control.estate(estate_one_vm(data_skus=("Premium_LRS", "PremiumV2_LRS")))
    vm = compute.virtual_machines.get("rg-app", "vm-web-1")
    assert vm.tags == {"backup": "gold"}
    assert vm.provisioning_state == "Succeeded" and vm.vm_id
    os_disk = vm.storage_profile.os_disk
    assert os_disk.name == "vm-web-1-osdisk" and os_disk.os_type == "Linux"
    assert os_disk.managed_disk.id.endswith("/disks/vm-web-1-osdisk")
    assert [
        (d.lun, d.name, d.managed_disk.storage_account_type) for d in vm.storage_profile.data_disks
    ] == [
        (0, "vm-web-1-data-0", "Premium_LRS"),
        (1, "vm-web-1-data-1", "PremiumV2_LRS"),
    ]
    assert vm.instance_view is None
    expanded = compute.virtual_machines.get("rg-app", "vm-web-1", expand="instanceView")
    codes = [s.code for s in expanded.instance_view.statuses]
    assert codes == ["ProvisioningState/succeeded", "PowerState/running"]
    assert [d.name for d in expanded.instance_view.disks] == [
        "vm-web-1-osdisk",
        "vm-web-1-data-0",
        "vm-web-1-data-1",
    ]
    view = compute.virtual_machines.instance_view("rg-app", "vm-web-1")
    assert view.vm_agent.statuses[0].display_status == "Ready"


def test_list_vms_with_tags_by_group_and_subscription(compute, control):
    seed = estate_one_vm()
    group = seed["subscriptions"][0]["resourceGroups"][0]
    group["vms"] += [
        {"name": f"vm-{i}", "tags": {"backup": "silver" if i % 2 else "gold"}} for i in range(4)
    ]
    seed["subscriptions"][0]["resourceGroups"].append(
        {"name": "rg-dr", "location": "westus2"}  # a secondary-region group with no VMs
    )
    control.estate(seed)
    vms = list(compute.virtual_machines.list("rg-app"))  # page size 3: two pages
    assert sorted(vm.name for vm in vms) == ["vm-0", "vm-1", "vm-2", "vm-3", "vm-web-1"]
    gold = sorted(
        vm.name for vm in compute.virtual_machines.list_all() if vm.tags["backup"] == "gold"
    )
    assert gold == ["vm-0", "vm-2", "vm-web-1"]
    assert list(compute.virtual_machines.list("rg-dr")) == []
    status = list(compute.virtual_machines.list_all(status_only="true"))
    assert all(vm.instance_view.statuses[1].code == "PowerState/running" for vm in status)
    by_location = list(compute.virtual_machines.list_by_location("eastus"))
    assert len(by_location) == 5


def test_create_vm_from_existing_disks(compute, control, group):
    osd = compute.disks.begin_create_or_update(group, "os", disk_body(64)).result()
    data = compute.disks.begin_create_or_update(group, "data", disk_body(128)).result()
    poller = compute.virtual_machines.begin_create_or_update(
        group, "vm1", vm_from_disks(osd.id, [(0, data.id)])
    )
    vm = poller.result()
    assert vm.provisioning_state == "Succeeded"
    assert vm.network_profile.network_interfaces[0].id == NIC  # opaque, echoed
    assert vm.hardware_profile.vm_size == "Standard_D4s_v5"
    assert compute.disks.get(group, "data").properties.disk_state == "Attached"
    assert compute.disks.get(group, "os").managed_by == vm.id
    stats = control.stats()["statuses"]
    assert stats.get("201") == 2  # the resource group and the VM: both answer 201 Created


def test_create_vm_with_new_disks(compute, group):
    body = {
        "location": "eastus",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "storageProfile": {
                "imageReference": {
                    "publisher": "Canonical",
                    "offer": "ubuntu-24_04-lts",
                    "sku": "server",
                    "version": "latest",
                },
                "osDisk": {
                    "createOption": "FromImage",
                    "managedDisk": {"storageAccountType": "Premium_LRS"},
                    "deleteOption": "Delete",
                },
                "dataDisks": [{"lun": 0, "createOption": "Empty", "diskSizeGB": 32}],
            },
            "osProfile": {"computerName": "vm1", "adminUsername": "u", "adminPassword": "secret"},
            "networkProfile": {"networkInterfaces": [{"id": NIC}]},
        },
    }
    vm = compute.virtual_machines.begin_create_or_update(group, "vm1", body).result()
    assert vm.os_profile.admin_password is None  # never echoed
    os_name = vm.storage_profile.os_disk.name
    assert os_name.startswith("vm1_OsDisk_1_")
    os_disk = compute.disks.get(group, os_name)
    assert os_disk.properties.creation_data.create_option == "FromImage"
    data = compute.disks.get(group, vm.storage_profile.data_disks[0].name)
    assert data.properties.disk_size_gb == 32 and data.properties.disk_state == "Attached"
    # Delete: the OS disk goes with the VM (deleteOption Delete), the data disk stays.
    compute.virtual_machines.begin_delete(group, "vm1").result()
    with pytest.raises(ResourceNotFoundError):
        compute.disks.get(group, os_name)
    assert compute.disks.get(group, data.name).properties.disk_state == "Unattached"


def test_attach_disk_already_attached_elsewhere_is_refused(compute, control, group):
    control.estate(estate_one_vm())
    osd = compute.disks.begin_create_or_update(group, "os", disk_body()).result()
    taken = disk_id("vm-web-1-data-0", "rg-app")
    with pytest.raises(ResourceExistsError) as info:
        compute.virtual_machines.begin_create_or_update(
            group, "vm2", vm_from_disks(osd.id, [(0, taken)])
        ).result()
    assert info.value.error.code == "OperationNotAllowed"
    # Nothing was half-done: the OS disk is still free and there is no vm2.
    assert compute.disks.get(group, "os").properties.disk_state == "Unattached"
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get(group, "vm2")


def test_attach_missing_disk_is_not_found(compute, group):
    osd = compute.disks.begin_create_or_update(group, "os", disk_body()).result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.begin_create_or_update(
            group, "vm2", vm_from_disks(osd.id, [(0, disk_id("ghost"))])
        ).result()


def test_put_attaches_and_detaches_data_disks(compute, control):
    control.estate(estate_one_vm())
    extra = compute.disks.begin_create_or_update(
        "rg-app", "extra", disk_body(location="eastus")
    ).result()
    vm = compute.virtual_machines.get("rg-app", "vm-web-1")
    vm.storage_profile.data_disks.append(
        {"lun": 5, "createOption": "Attach", "managedDisk": {"id": extra.id}}
    )
    vm = compute.virtual_machines.begin_create_or_update("rg-app", "vm-web-1", vm).result()
    assert [d.lun for d in vm.storage_profile.data_disks] == [0, 5]
    assert compute.disks.get("rg-app", "extra").properties.disk_state == "Attached"
    # Leaving a disk out of the list detaches it.
    vm.storage_profile.data_disks = [d for d in vm.storage_profile.data_disks if d.lun == 5]
    vm = compute.virtual_machines.begin_create_or_update("rg-app", "vm-web-1", vm).result()
    assert [d.lun for d in vm.storage_profile.data_disks] == [5]
    assert compute.disks.get("rg-app", "vm-web-1-data-0").properties.disk_state == "Unattached"


def test_patch_tags_and_detach_with_to_be_detached(compute, control):
    control.estate(estate_one_vm(data_skus=("Premium_LRS", "Premium_LRS")))
    vm = compute.virtual_machines.begin_update(
        "rg-app", "vm-web-1", {"tags": {"backup": "silver"}}
    ).result()
    assert vm.tags == {"backup": "silver"}
    assert len(vm.storage_profile.data_disks) == 2  # untouched by a tags-only PATCH
    vm = compute.virtual_machines.begin_update(
        "rg-app",
        "vm-web-1",
        {
            "properties": {
                "storageProfile": {
                    "dataDisks": [
                        {"lun": 0, "createOption": "Attach", "toBeDetached": True},
                        {"lun": 1, "createOption": "Attach"},
                    ]
                }
            }
        },
    ).result()
    assert [d.lun for d in vm.storage_profile.data_disks] == [1]
    assert compute.disks.get("rg-app", "vm-web-1-data-0").managed_by is None


def test_attach_detach_data_disks_action(compute, control):
    control.estate(estate_one_vm())
    extra = compute.disks.begin_create_or_update("rg-app", "extra", disk_body()).result()
    profile = compute.virtual_machines.begin_attach_detach_data_disks(
        "rg-app",
        "vm-web-1",
        {
            "dataDisksToAttach": [{"diskId": extra.id}],
            "dataDisksToDetach": [{"diskId": disk_id("vm-web-1-data-0", "rg-app")}],
        },
    ).result()
    assert [(d.lun, d.name) for d in profile.data_disks] == [(0, "extra")]


def test_duplicate_lun_is_invalid(compute, group):
    osd = compute.disks.begin_create_or_update(group, "os", disk_body()).result()
    a = compute.disks.begin_create_or_update(group, "a", disk_body()).result()
    b = compute.disks.begin_create_or_update(group, "b", disk_body()).result()
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_create_or_update(
            group, "vm", vm_from_disks(osd.id, [(0, a.id), (0, b.id)])
        ).result()
    assert info.value.status_code == 400
    assert info.value.error.target.endswith(".lun")


def test_delete_vm_detaches_disks(compute, control):
    control.estate(estate_one_vm())
    compute.virtual_machines.begin_delete("rg-app", "vm-web-1").result()
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.get("rg-app", "vm-web-1")
    for name in ("vm-web-1-osdisk", "vm-web-1-data-0"):
        disk = compute.disks.get("rg-app", name)
        assert disk.properties.disk_state == "Unattached" and disk.managed_by is None
    compute.disks.begin_delete("rg-app", "vm-web-1-data-0").result()


def test_power_state_transitions(compute, control):
    control.estate(estate_one_vm())
    compute.virtual_machines.begin_power_off("rg-app", "vm-web-1").result()
    view = compute.virtual_machines.instance_view("rg-app", "vm-web-1")
    assert view.statuses[1].code == "PowerState/stopped"
    assert compute.disks.get("rg-app", "vm-web-1-osdisk").properties.disk_state == "Attached"
    compute.virtual_machines.begin_deallocate("rg-app", "vm-web-1").result()
    assert compute.disks.get("rg-app", "vm-web-1-osdisk").properties.disk_state == "Reserved"
    compute.virtual_machines.begin_start("rg-app", "vm-web-1").result()
    view = compute.virtual_machines.instance_view("rg-app", "vm-web-1")
    assert view.statuses[1].code == "PowerState/running"


def test_vm_create_in_progress_shows_creating(compute, control, group):
    control.config(lroSeconds={"VirtualMachines_CreateOrUpdate": 600})
    osd = compute.disks.begin_create_or_update(group, "os", disk_body()).result()
    poller = compute.virtual_machines.begin_create_or_update(group, "vm", vm_from_disks(osd.id, []))
    assert compute.virtual_machines.get(group, "vm").provisioning_state == "Creating"
    assert not poller.done()
    poller.result()  # 10 world minutes = 1 real second
    assert compute.virtual_machines.get(group, "vm").provisioning_state == "Succeeded"
