"""Selecting VMs and disks for a policy target; JSON round-trips of inventory records."""

from diskdr.inventory import (
    DiskInfo,
    VmInfo,
    protected_disks,
    tags_match,
    vm_in_target,
)

SUB = "00000000-0000-0000-0000-000000000001"
VM_ID = (
    f"/subscriptions/{SUB}/resourceGroups/RG-App/providers/Microsoft.Compute/virtualMachines/vm1"
)


def disk(name: str, lun: int | None, tags=None) -> DiskInfo:
    return DiskInfo(
        id=f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/disks/{name}",
        name=name,
        location="eastus",
        sku="Premium_LRS",
        size_gb=64,
        unique_id=f"uid-{name}",
        lun=lun,
        tags=tags or {},
    )


def test_tag_names_are_case_insensitive_values_are_not():
    assert tags_match({"Backup": "gold"}, {"backup": "gold"})
    assert not tags_match({"backup": "Gold"}, {"backup": "gold"})
    assert not tags_match(None, {"backup": "gold"})
    assert tags_match(None, {})


def test_target_needs_every_selector():
    assert vm_in_target(VM_ID, {"backup": "gold"}, {"backup": "gold"}, [])
    assert vm_in_target(VM_ID, {"backup": "gold"}, {"backup": "gold"}, ["rg-app"])
    assert not vm_in_target(VM_ID, {"backup": "gold"}, {"backup": "gold"}, ["rg-other"])
    assert not vm_in_target(VM_ID, {"backup": "silver"}, {"backup": "gold"}, [])


def test_excluded_disks_by_lun_and_tag_and_order():
    disks = [disk("d2", 2), disk("os", None), disk("d0", 0, {"backup": "skip"}), disk("d1", 1)]
    kept = protected_disks(disks, {"backup": "skip"}, [2])
    assert [d.name for d in kept] == ["os", "d1"]
    assert [d.name for d in protected_disks(disks, {}, [])] == ["os", "d0", "d1", "d2"]


def test_round_trips_and_family():
    vm = VmInfo(VM_ID, "vm1", "eastus", {"backup": "gold"}, (disk("os", None), disk("d0", 0)))
    assert VmInfo.from_dict(vm.to_dict()) == vm
    assert vm.resource_group == "RG-App" and vm.subscription_id == SUB
    assert vm.disks[1].family.endswith("#uid-d0")
