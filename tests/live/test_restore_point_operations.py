"""The emulator's restore point, run command and lock tests, against a real subscription
(opt-in).

Skipped unless ``DISKDR_LIVE_SUBSCRIPTION`` is set. Creates a resource group
``diskdr-live-rp-<random>`` in ``DISKDR_LIVE_LOCATION`` (default eastus) and deletes it at
the end. Restore points and run command need a VM with the Azure VM agent, which these
tests do not create (that needs a network): ``DISKDR_LIVE_VM`` is the id of an existing
Linux VM in ``DISKDR_LIVE_LOCATION``, without Ultra / Premium SSD v2 disks and with no
restore point taken in the last hours; its collection goes in the test group and is deleted
with it. ``DISKDR_LIVE_SECONDARY`` (default westus2) is the copy's target region. What these
tests assert is what docs/emulator.md claims; a failure here is a fidelity bug.
Event Grid delivery is not covered: it needs a webhook Azure can reach.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

SUBSCRIPTION = os.environ.get("DISKDR_LIVE_SUBSCRIPTION")
LOCATION = os.environ.get("DISKDR_LIVE_LOCATION", "eastus")
SECONDARY = os.environ.get("DISKDR_LIVE_SECONDARY", "westus2")
VM_ID = os.environ.get("DISKDR_LIVE_VM")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not SUBSCRIPTION, reason="DISKDR_LIVE_SUBSCRIPTION is not set"),
]
needs_vm = pytest.mark.skipif(not VM_ID, reason="DISKDR_LIVE_VM (an existing VM id) is not set")
CRASH = {"properties": {"consistencyMode": "CrashConsistent"}}


@pytest.fixture(scope="module")
def locks(credential: Any) -> Any:
    from azure.mgmt.resource.locks import ManagementLockClient

    return ManagementLockClient(credential, SUBSCRIPTION)


@pytest.fixture(scope="module")
def group(resources: Any, locks: Any) -> Iterator[str]:
    name = f"diskdr-live-rp-{uuid.uuid4().hex[:8]}"
    resources.resource_groups.create_or_update(
        name, {"location": LOCATION, "tags": {"diskdr": "live-test"}}
    )
    try:
        yield name
    finally:
        # A test that failed half-way may have left a lock that would block the delete.
        for lock in locks.management_locks.list_at_resource_group_level(name):
            scope = lock.id.split("/providers/Microsoft.Authorization")[0]
            locks.management_locks.delete_by_scope(scope.lstrip("/"), lock.name)
        resources.resource_groups.begin_delete(name).result()


def test_locks_refuse_with_scope_locked(compute, locks, group):
    from azure.core.exceptions import HttpResponseError

    body = {
        "location": LOCATION,
        "sku": {"name": "Standard_LRS"},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 4},
    }
    compute.disks.begin_create_or_update(group, "live-locked", body).result()
    ops = locks.management_locks
    lock = ops.create_or_update_at_resource_level(
        group, "Microsoft.Compute", "", "disks", "live-locked", "keep", {"level": "CanNotDelete"}
    )
    assert lock.level == "CanNotDelete"
    with pytest.raises(HttpResponseError) as info:
        compute.disks.begin_delete(group, "live-locked").result()
    assert info.value.status_code == 409 and info.value.error.code == "ScopeLocked"
    assert "cannot perform delete operation" in info.value.error.message
    ops.create_or_update_at_resource_group_level(group, "ro", {"level": "ReadOnly"})
    with pytest.raises(HttpResponseError) as info:
        compute.disks.begin_update(group, "live-locked", {"tags": {"a": "b"}}).result()
    assert info.value.error.code == "ScopeLocked"
    assert "cannot perform write operation" in info.value.error.message
    assert {lock.name for lock in ops.list_at_resource_group_level(group)} == {"keep", "ro"}
    ops.delete_at_resource_group_level(group, "ro")
    ops.delete_at_resource_level(group, "Microsoft.Compute", "", "disks", "live-locked", "keep")
    compute.disks.begin_delete(group, "live-locked").result()


@needs_vm
def test_crash_consistent_point_spacing_and_disk_points(compute, group):
    from azure.core.exceptions import HttpResponseError

    body = {"location": LOCATION, "properties": {"source": {"id": VM_ID}}}
    collection = compute.restore_point_collections.create_or_update(group, "live-rpc", body)
    assert collection.source.id.lower() == VM_ID.lower()
    point = compute.restore_points.begin_create(group, "live-rpc", "rp1", CRASH).result()
    assert point.provisioning_state == "Succeeded"
    assert point.consistency_mode == "CrashConsistent"
    storage = point.source_metadata.storage_profile
    disks = [storage.os_disk, *storage.data_disks]
    listed = list(compute.disk_restore_point.list_by_restore_point(group, "live-rpc", "rp1"))
    assert {d.id.lower() for d in listed} == {d.disk_restore_point.id.lower() for d in disks}
    # A second crash-consistent point within the hour fails (docs: OperationNotAllowed).
    with pytest.raises(HttpResponseError) as info:
        compute.restore_points.begin_create(group, "live-rpc", "rp2", CRASH).result()
    assert info.value.error.code == "OperationNotAllowed"
    assert compute.restore_points.get(group, "live-rpc", "rp2").provisioning_state == "Failed"


@needs_vm
def test_run_command_output(compute):
    group, name = VM_ID.split("/")[4], VM_ID.split("/")[-1]
    result = compute.virtual_machines.begin_run_command(
        group, name, {"commandId": "RunShellScript", "script": ["echo diskdr-live"]}
    ).result()
    [status] = result.value
    assert status.code == "ProvisioningState/succeeded"
    assert status.message.startswith("Enable succeeded: \n[stdout]\ndiskdr-live")


@needs_vm
@pytest.mark.slow
def test_cross_region_copy_of_a_restore_point(compute, resources, group):
    from azure.core.exceptions import ResourceNotFoundError

    try:  # the point taken by test_crash_consistent_point_spacing_and_disk_points
        source = compute.restore_point_collections.get(group, "live-rpc")
        point = compute.restore_points.get(group, "live-rpc", "rp1")
    except ResourceNotFoundError:
        pytest.skip("no restore point to copy (the crash-consistent test did not run)")
    target_group = f"{group}-dr"
    resources.resource_groups.create_or_update(target_group, {"location": SECONDARY})
    try:
        body = {"location": SECONDARY, "properties": {"source": {"id": source.id}}}
        compute.restore_point_collections.create_or_update(target_group, "live-rpc-dr", body)
        copied = compute.restore_points.begin_create(
            target_group,
            "live-rpc-dr",
            "rp1",
            {"properties": {"sourceRestorePoint": {"id": point.id}}},
        ).result()
        assert copied.provisioning_state == "Succeeded"  # once the copy is initiated
        deadline = time.monotonic() + 2 * 3600
        while True:
            view = compute.restore_points.get(
                target_group, "live-rpc-dr", "rp1", expand="instanceView"
            ).instance_view
            code = view.statuses[0].code
            assert code != "ReplicationState/failed"
            if code == "ReplicationState/succeeded":
                break
            assert time.monotonic() < deadline, "copy did not complete within two hours"
            time.sleep(60)
        assert {d.replication_status.completion_percent for d in view.disk_restore_points} == {100}
    finally:
        resources.resource_groups.begin_delete(target_group).result()
