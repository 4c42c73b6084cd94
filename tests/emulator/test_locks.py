"""Management locks through the real ``ManagementLockClient``, and what they refuse."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.resource.locks import ManagementLockClient

from tests.emulator.support import SUB, StaticToken, estate_one_vm

RG = "rg-app"
VM = "vm-web-1"
DISK = f"{VM}-data-0"


@pytest.fixture
def locks(emulator, control) -> ManagementLockClient:
    control.estate(estate_one_vm())
    return ManagementLockClient(
        StaticToken(), SUB, base_url=emulator.url, connection_verify=emulator.ca_path
    )


def scope_locked(info) -> bool:
    return info.value.status_code == 409 and info.value.error.code == "ScopeLocked"


def lock_disk(locks, level: str = "CanNotDelete", name: str = "keep"):
    return locks.management_locks.create_or_update_at_resource_level(
        RG, "Microsoft.Compute", "", "disks", DISK, name, {"level": level, "notes": "diskdr test"}
    )


def detach_data_disk(compute):
    disk = compute.disks.get(RG, DISK)
    compute.virtual_machines.begin_attach_detach_data_disks(
        RG, VM, {"dataDisksToDetach": [{"diskId": disk.id}]}
    ).result()


def test_create_get_list_delete_at_every_level(locks):
    ops = locks.management_locks
    disk_lock = lock_disk(locks)
    assert disk_lock.level == "CanNotDelete" and disk_lock.notes == "diskdr test"
    assert disk_lock.type == "Microsoft.Authorization/locks"
    assert disk_lock.id.endswith(f"/disks/{DISK}/providers/Microsoft.Authorization/locks/keep")
    group_lock = ops.create_or_update_at_resource_group_level(RG, "ro", {"level": "ReadOnly"})
    assert group_lock.id == (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Authorization/locks/ro"
    )
    ops.create_or_update_at_subscription_level("sub-lock", {"level": "CanNotDelete"})
    for i in range(3):  # page size 3: the lists below walk pages
        ops.create_or_update_at_resource_group_level(RG, f"extra-{i}", {"level": "CanNotDelete"})
    assert ops.get_at_resource_group_level(RG, "ro").level == "ReadOnly"
    assert ops.get_at_resource_level(RG, "Microsoft.Compute", "", "disks", DISK, "keep").name == (
        "keep"
    )
    assert len(list(ops.list_at_subscription_level())) == 6
    assert len(list(ops.list_at_resource_group_level(RG))) == 5  # the group's and its disk's
    at_disk = ops.list_at_resource_level(RG, "Microsoft.Compute", "", "disks", DISK)
    assert [lock.name for lock in at_disk] == ["keep"]
    disk_scope = disk_lock.id.split("/providers/Microsoft.Authorization")[0]
    applying = ops.list_by_scope(disk_scope.lstrip("/"), filter="atScope()")
    assert sorted(lock.name for lock in applying) == sorted(
        ["keep", "ro", "sub-lock", "extra-0", "extra-1", "extra-2"]
    )
    # Updating keeps the name; delete answers 200, then 204 when there is nothing left.
    assert ops.create_or_update_at_resource_group_level(
        RG, "RO", {"level": "CanNotDelete"}
    ).name == ("ro")
    ops.delete_at_resource_group_level(RG, "ro")
    ops.delete_at_resource_group_level(RG, "ro")
    with pytest.raises(ResourceNotFoundError) as info:
        ops.get_at_resource_group_level(RG, "ro")
    assert info.value.error.code == "LockNotFound"


def test_locks_need_an_existing_scope_and_a_level(locks):
    ops = locks.management_locks
    with pytest.raises(ResourceNotFoundError):
        ops.create_or_update_at_resource_group_level("rg-ghost", "x", {"level": "ReadOnly"})
    with pytest.raises(ResourceNotFoundError):
        ops.create_or_update_at_resource_level(
            RG, "Microsoft.Compute", "", "disks", "ghost", "x", {"level": "ReadOnly"}
        )
    with pytest.raises(HttpResponseError) as info:
        ops.create_or_update_at_resource_group_level(RG, "x", {"level": "NotSpecified"})
    assert info.value.status_code == 400


def test_can_not_delete_refuses_deletes_not_writes(locks, compute, resources):
    detach_data_disk(compute)
    lock_disk(locks)
    with pytest.raises(HttpResponseError) as info:
        compute.disks.begin_delete(RG, DISK).result()
    assert scope_locked(info)
    assert "cannot perform delete operation" in info.value.error.message
    assert f"/disks/{DISK}'" in info.value.error.message
    # Changes are allowed under CanNotDelete.
    compute.disks.begin_update(RG, DISK, {"tags": {"kept": "yes"}}).result()
    # Deleting the group would delete the locked disk: refused too.
    with pytest.raises(HttpResponseError) as info:
        resources.resource_groups.begin_delete(RG).result()
    assert scope_locked(info)
    locks.management_locks.delete_at_resource_level(
        RG, "Microsoft.Compute", "", "disks", DISK, "keep"
    )
    compute.disks.begin_delete(RG, DISK).result()


def test_group_lock_covers_every_resource_in_it(locks, compute):
    locks.management_locks.create_or_update_at_resource_group_level(
        RG, "no-delete", {"level": "CanNotDelete"}
    )
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_delete(RG, VM).result()
    assert scope_locked(info)
    assert f"locked: '/subscriptions/{SUB}/resourceGroups/{RG}'" in info.value.error.message
    compute.restore_point_collections.create_or_update(
        RG,
        "rpc",
        {
            "location": "eastus",
            "properties": {"source": {"id": compute.virtual_machines.get(RG, VM).id}},
        },
    )
    with pytest.raises(HttpResponseError) as info:
        compute.restore_point_collections.begin_delete(RG, "rpc").result()
    assert scope_locked(info)


def test_read_only_refuses_writes_and_actions_but_not_reads(locks, compute):
    locks.management_locks.create_or_update_at_resource_group_level(
        RG, "frozen", {"level": "ReadOnly"}
    )
    assert compute.virtual_machines.get(RG, VM).name == VM  # reads go through
    with pytest.raises(HttpResponseError) as info:  # PATCH
        compute.virtual_machines.begin_update(RG, VM, {"tags": {"a": "b"}}).result()
    assert scope_locked(info) and "cannot perform write operation" in info.value.error.message
    with pytest.raises(HttpResponseError) as info:  # PUT of a new resource in the group
        compute.disks.begin_create_or_update(
            RG,
            "new-disk",
            {
                "location": "eastus",
                "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 4},
            },
        ).result()
    assert scope_locked(info)
    with pytest.raises(HttpResponseError) as info:  # POST actions
        compute.virtual_machines.begin_restart(RG, VM).result()
    assert scope_locked(info)
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_run_command(
            RG, VM, {"commandId": "RunShellScript", "script": ["echo hi"]}
        ).result()
    assert scope_locked(info)
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_delete(RG, VM).result()
    assert scope_locked(info)
    locks.management_locks.delete_at_resource_group_level(RG, "frozen")
    compute.virtual_machines.begin_update(RG, VM, {"tags": {"a": "b"}}).result()


def test_a_resource_lock_leaves_its_siblings_alone(locks, compute):
    lock_disk(locks, level="ReadOnly")
    compute.disks.begin_update(RG, f"{VM}-osdisk", {"tags": {"x": "y"}}).result()
    with pytest.raises(HttpResponseError) as info:
        compute.disks.begin_update(RG, DISK, {"tags": {"x": "y"}}).result()
    assert scope_locked(info)
