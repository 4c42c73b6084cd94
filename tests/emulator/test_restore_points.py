"""VM restore points, disk restore points and their cross-region copies, via the real SDK client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.emulator.support import SUB, estate_one_vm, wait_until

RG = "rg-app"
VM = "vm-web-1"
CRASH = {"properties": {"consistencyMode": "CrashConsistent"}}


def vm_id(name: str = VM, group: str = RG) -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/virtualMachines/{name}"
    )


def three_disk_vm(control, name: str = VM, skus=("Premium_LRS", "Premium_LRS"), **vm_fields):
    seed = estate_one_vm(name=name, data_skus=skus)
    seed["subscriptions"][0]["resourceGroups"][0]["vms"][0].update(vm_fields)
    control.estate(seed)
    return vm_id(name)


def collection(compute, source_id: str, name: str = "rpc", location: str = "eastus", **props):
    body = {"location": location, "properties": {"source": {"id": source_id}, **props}}
    return compute.restore_point_collections.create_or_update(RG, name, body)


def disks_of(compute, name: str = VM) -> list[str]:
    vm = compute.virtual_machines.get(RG, name)
    profile = vm.storage_profile
    return [profile.os_disk.managed_disk.id] + [d.managed_disk.id for d in profile.data_disks]


def captured(point) -> dict[str, str]:
    """Source disk id → disk restore point id, from the point's sourceMetadata."""
    storage = point.source_metadata.storage_profile
    disks = [storage.os_disk, *storage.data_disks]
    return {d.managed_disk.id: d.disk_restore_point.id for d in disks}


def error_code(info) -> str:
    return info.value.error.code


# --- collections -------------------------------------------------------------------------


def test_collection_create_update_get_list_delete(compute, control):
    source = three_disk_vm(control)
    created = collection(compute, source)
    assert created.provisioning_state == "Succeeded" and created.restore_point_collection_id
    assert created.source.id == source and created.source.location == "eastus"
    # PUT again is an update (200); PATCH changes tags.
    again = compute.restore_point_collections.create_or_update(
        RG,
        "rpc",
        {"location": "eastus", "tags": {"team": "dr"}, "properties": {"source": {"id": source}}},
    )
    assert again.restore_point_collection_id == created.restore_point_collection_id
    patched = compute.restore_point_collections.update(RG, "rpc", {"tags": {"team": "ops"}})
    assert patched.tags == {"team": "ops"}
    with pytest.raises(ResourceExistsError) as info:  # the source cannot change
        compute.restore_point_collections.update(
            RG, "rpc", {"properties": {"source": {"id": vm_id("other")}}}
        )
    assert error_code(info) == "PropertyChangeNotAllowed"
    for i in range(3):  # page size 3: listing walks pages
        collection(compute, source, name=f"rpc-{i}")
    assert len(list(compute.restore_point_collections.list(RG))) == 4
    assert len(list(compute.restore_point_collections.list_all())) == 4
    compute.restore_point_collections.begin_delete(RG, "rpc").result()
    with pytest.raises(ResourceNotFoundError):
        compute.restore_point_collections.get(RG, "rpc")
    with pytest.raises(ResourceNotFoundError) as info:  # the source VM must exist
        collection(compute, vm_id("ghost"), name="rpc-ghost")
    assert error_code(info) == "NotFound"


def test_get_collection_with_its_restore_points(compute, control):
    source = three_disk_vm(control)
    collection(compute, source)
    compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    plain = compute.restore_point_collections.get(RG, "rpc")
    assert plain.restore_points is None
    expanded = compute.restore_point_collections.get(RG, "rpc", expand="restorePoints")
    assert [p.name for p in expanded.restore_points] == ["rp1"]


# --- capture -----------------------------------------------------------------------------


def test_crash_consistent_point_holds_every_disk_as_of_one_instant(compute, control):
    source = three_disk_vm(control)
    collection(compute, source)
    disk_ids = disks_of(compute)
    assert len(disk_ids) == 3
    before = {d: control.content(d)["digest"] for d in disk_ids}
    poller = compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH)
    # The create call returned: the guest goes on writing to every disk.
    for disk in disk_ids:
        control.write(disk, blocks=4)
    point = poller.result()
    assert point.provisioning_state == "Succeeded"
    assert point.consistency_mode == "CrashConsistent"
    points = captured(point)
    assert set(points) == set(disk_ids)
    instants = set()
    for disk, disk_point in points.items():
        data = control.content(disk_point)
        assert data["digest"] == before[disk]  # the disk as it was, none of the later writes
        assert data["digest"] != control.content(disk)["digest"]
        instants.add(data["capturedAt"])
    assert len(instants) == 1  # one instant for all three disks
    assert point.time_created == datetime.fromtimestamp(instants.pop(), tz=UTC)


def test_disk_restore_points_get_list_and_export(compute, control):
    source = three_disk_vm(control)
    collection(compute, source)
    point = compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    listed = list(compute.disk_restore_point.list_by_restore_point(RG, "rpc", "rp1"))
    assert len(listed) == 3
    os_point = next(p for p in listed if p.name.startswith(f"{VM}-osdisk_"))
    assert os_point.source_resource_id.endswith(f"/disks/{VM}-osdisk")
    assert os_point.os_type == "Linux" and os_point.family_id and os_point.source_unique_id
    got = compute.disk_restore_point.get(RG, "rpc", "rp1", os_point.name)
    assert got.id == os_point.id == captured(point)[disks_of(compute)[0]]
    sas = compute.disk_restore_point.begin_grant_access(
        RG, "rpc", "rp1", os_point.name, {"access": "Read", "durationInSeconds": 3600}
    ).result()
    assert sas.access_sas.startswith("https://")
    # An active SAS keeps the restore point from being deleted.
    with pytest.raises(ResourceExistsError) as info:
        compute.restore_points.begin_delete(RG, "rpc", "rp1").result()
    assert error_code(info) == "DiskRestorePointUsedByCustomer"
    compute.disk_restore_point.begin_revoke_access(RG, "rpc", "rp1", os_point.name).result()
    compute.restore_points.begin_delete(RG, "rpc", "rp1").result()
    with pytest.raises(ResourceNotFoundError):
        compute.restore_points.get(RG, "rpc", "rp1")


def test_exclude_disks_and_instance_view(compute, control):
    source = three_disk_vm(control)
    collection(compute, source)
    excluded = disks_of(compute)[2]
    body = {
        "properties": {"consistencyMode": "CrashConsistent", "excludeDisks": [{"id": excluded}]}
    }
    point = compute.restore_points.begin_create(RG, "rpc", "rp1", body).result()
    assert excluded not in captured(point) and len(captured(point)) == 2
    assert [d.id for d in point.exclude_disks] == [excluded]
    view = compute.restore_points.get(RG, "rpc", "rp1", expand="instanceView").instance_view
    assert len(view.disk_restore_points) == 2
    assert {d.replication_status.completion_percent for d in view.disk_restore_points} == {100}
    assert view.statuses[0].code == "ReplicationState/succeeded"
    assert compute.restore_points.get(RG, "rpc", "rp1").instance_view is None


def test_application_consistent_is_the_default_and_needs_the_agent(compute, control):
    source = three_disk_vm(control, prePostScripts=True)
    collection(compute, source)
    point = compute.restore_points.begin_create(RG, "rpc", "rp1", {"properties": {}}).result()
    assert point.consistency_mode == "ApplicationConsistent"
    control.set_guest(source, agentReady=False)
    with pytest.raises(HttpResponseError) as info:
        compute.restore_points.begin_create(RG, "rpc", "rp2", {"properties": {}}).result()
    assert error_code(info) == "VMAgentStatusCommunicationError"
    assert compute.restore_points.get(RG, "rpc", "rp2").provisioning_state == "Failed"
    # A stopped VM's agent does not answer either; crash-consistent points need no agent.
    stopped = three_disk_vm(control, name="vm-stopped", powerState="stopped")
    collection(compute, stopped, name="rpc-stopped")
    with pytest.raises(HttpResponseError) as info:
        compute.restore_points.begin_create(RG, "rpc-stopped", "rp1", {"properties": {}}).result()
    assert error_code(info) == "VMAgentStatusCommunicationError"
    crash = compute.restore_points.begin_create(RG, "rpc-stopped", "rp2", CRASH).result()
    assert crash.provisioning_state == "Succeeded"


def test_linux_without_pre_post_scripts_gets_file_system_consistent_points(compute, control):
    source = three_disk_vm(control)  # Linux, no application pre/post scripts
    assert control.guest(source)["prePostScripts"] is False
    collection(compute, source)
    body = {"properties": {"consistencyMode": "ApplicationConsistent"}}
    point = compute.restore_points.begin_create(RG, "rpc", "rp1", body).result()
    assert point.consistency_mode == "FileSystemConsistent"
    read = compute.restore_points.get(RG, "rpc", "rp1")
    assert read.consistency_mode == "FileSystemConsistent"
    disk_point = captured(read)[disks_of(compute)[0]]
    assert control.content(disk_point)["consistencyMode"] == "FileSystemConsistent"
    # Still an application-consistent request: its 3-hour spacing applies to the next one.
    control.set_guest(source, prePostScripts=True)
    with pytest.raises(HttpResponseError) as info:
        compute.restore_points.begin_create(RG, "rpc", "rp2", body).result()
    assert error_code(info) == "OperationNotAllowed" and "3 hour" in info.value.error.message
    # With scripts (a VM flag: estate seed or POST /_emulator/guest) the point is what was asked.
    control.config(limits={"appConsistentSpacingSeconds": 1})
    wait_until(lambda: control.clock()["nowUnix"] > _unix(read.time_created) + 1)
    again = compute.restore_points.begin_create(RG, "rpc", "rp3", body).result()
    assert again.consistency_mode == "ApplicationConsistent"
    # Windows points are application consistent (VSS) without any script.
    windows = three_disk_vm(control, name="vm-win", osType="Windows")
    collection(compute, windows, name="rpc-win")
    win = compute.restore_points.begin_create(RG, "rpc-win", "rp1", body).result()
    assert win.consistency_mode == "ApplicationConsistent"


def _unix(moment: datetime) -> float:
    return moment.astimezone(UTC).timestamp()


def test_crash_consistency_refuses_premium_v2_disks_unless_excluded(compute, control):
    source = three_disk_vm(control, skus=("Premium_LRS", "PremiumV2_LRS"))
    collection(compute, source)
    with pytest.raises(HttpResponseError) as info:
        compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    assert error_code(info) == "VMRestorePointClientError"
    assert "excludeDisks" in info.value.error.message
    pv2 = disks_of(compute)[2]
    body = {"properties": {"consistencyMode": "CrashConsistent", "excludeDisks": [{"id": pv2}]}}
    # The refused point never existed, so it does not count for the spacing rule.
    point = compute.restore_points.begin_create(RG, "rpc", "rp2", body).result()
    assert pv2 not in captured(point)


def test_premium_v2_points_are_pending_until_their_background_copy_ends(compute, control):
    source = three_disk_vm(control, skus=("PremiumV2_LRS",))
    collection(compute, source)
    control.config(backgroundCopy={"baseSeconds": 600, "bytesPerSecond": 1024**3})
    compute.restore_points.begin_create(RG, "rpc", "rp1", {"properties": {}}).result()
    view = compute.restore_points.get(RG, "rpc", "rp1", expand="instanceView").instance_view
    states = {d.id: d.snapshot_access_state for d in view.disk_restore_points}
    pv2_point = next(i for i in states if f"/diskRestorePoints/{VM}-data-0_" in i)
    assert states.pop(pv2_point) == "Pending"
    assert list(states.values()) == [None]  # the Premium SSD OS disk has no background copy
    with pytest.raises(ResourceExistsError):  # not restorable while Pending
        compute.disks.begin_create_or_update(
            RG,
            "early",
            {
                "location": "eastus",
                "properties": {
                    "creationData": {"createOption": "Restore", "sourceResourceId": pv2_point}
                },
            },
        ).result()

    def available():
        view = compute.restore_points.get(RG, "rpc", "rp1", expand="instanceView").instance_view
        return {d.snapshot_access_state for d in view.disk_restore_points} == {None, "Available"}

    wait_until(available)


def test_premium_v2_points_of_an_instant_access_collection(compute, control):
    source = three_disk_vm(control, skus=("PremiumV2_LRS",))
    collection(compute, source, instantAccess=True)
    control.config(backgroundCopy={"baseSeconds": 60, "bytesPerSecond": 1024**3})
    body = {"properties": {"instantAccessDurationMinutes": 60}}
    compute.restore_points.begin_create(RG, "rpc", "rp1", body).result()

    def pv2_state() -> str | None:
        view = compute.restore_points.get(RG, "rpc", "rp1", expand="instanceView").instance_view
        states = {d.snapshot_access_state for d in view.disk_restore_points} - {None}
        assert len(states) == 1  # only the Premium SSD v2 data disk has a background copy
        return states.pop()

    assert pv2_state() == "InstantAccess"
    # Its data is copied out within the hour of instant access (the lapse itself is the
    # snapshots' code path, tested there).
    wait_until(lambda: pv2_state() == "AvailableWithInstantAccess")


# --- limits ------------------------------------------------------------------------------


def test_spacing_between_points_of_one_vm(compute, control):
    source = three_disk_vm(control)
    collection(compute, source)
    compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    with pytest.raises(HttpResponseError) as info:
        compute.restore_points.begin_create(RG, "rpc", "rp2", CRASH).result()
    assert error_code(info) == "OperationNotAllowed" and "1 hour" in info.value.error.message
    assert compute.restore_points.get(RG, "rpc", "rp2").provisioning_state == "Failed"
    # The spacing is per consistency mode: an application-consistent point is fine.
    compute.restore_points.begin_create(RG, "rpc", "rp3", {"properties": {}}).result()
    violations = [v["limit"] for v in control.stats()["limitViolations"]]
    assert violations == ["restorePointSpacing"]
    assert control.stats()["restorePointsPerVm"] == {source.lower(): 2}


def test_three_creates_per_vm_per_hour_then_429(compute, control):
    source = three_disk_vm(control)
    collection(compute, source)
    control.config(limits={"crashConsistentSpacingSeconds": 1})
    for name in ("rp1", "rp2", "rp3"):
        compute.restore_points.begin_create(RG, "rpc", name, CRASH).result()
    with pytest.raises(HttpResponseError) as info:
        compute.restore_points.begin_create(RG, "rpc", "rp4", CRASH, retry_total=0)
    assert info.value.status_code == 429
    assert error_code(info) == "OperationNotAllowed"
    assert info.value.error.details[0].code == "TooManyRequests"
    assert "retry-after-ms" in info.value.response.headers
    with pytest.raises(ResourceNotFoundError):  # nothing was created
        compute.restore_points.get(RG, "rpc", "rp4")
    # Per consistency mode: application-consistent creates have their own three.
    compute.restore_points.begin_create(RG, "rpc", "rp5", {"properties": {}}).result()
    [violation] = control.stats()["limitViolations"]
    assert violation["limit"] == "restorePointsPerVmPerHour" and violation["status"] == 429


def test_no_concurrent_creation_on_one_vm(compute, control):
    source = three_disk_vm(control)
    collection(compute, source)
    control.config(lroSeconds={"RestorePoints_Create": 600})
    first = compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH)
    with pytest.raises(HttpResponseError) as info:
        compute.restore_points.begin_create(RG, "rpc", "rp2", {"properties": {}}).result()
    assert error_code(info) == "VMRestorePointClientError"
    assert "concurrent" in info.value.error.message
    assert first.result().provisioning_state == "Succeeded"


def test_points_per_vm_limit(compute, control):
    source = three_disk_vm(control)
    collection(compute, source)
    control.config(limits={"restorePointsPerVm": 1})
    compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    with pytest.raises(HttpResponseError) as info:
        compute.restore_points.begin_create(RG, "rpc", "rp2", {"properties": {}}).result()
    assert error_code(info) == "VMRestorePointClientError"
    assert "maximum allowed snapshot limit" in info.value.error.message


def test_disk_changes_during_creation_fail_the_point(compute, control, resources):
    source = three_disk_vm(control)
    collection(compute, source)
    control.config(lroSeconds={"RestorePoints_Create": 600})
    poller = compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH)
    compute.virtual_machines.begin_attach_detach_data_disks(
        RG, VM, {"dataDisksToDetach": [{"diskId": disks_of(compute)[2]}]}
    ).result()
    with pytest.raises(HttpResponseError) as info:
        poller.result()
    assert error_code(info) == "OperationNotAllowed"
    assert "Changes were made to the Virtual Machine" in info.value.error.message


# --- restoring ---------------------------------------------------------------------------


def test_disk_and_vm_restored_from_disk_restore_points(compute, control):
    source = three_disk_vm(control)
    collection(compute, source)
    disk_ids = disks_of(compute)
    point = compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    expected = control.content(disk_ids[1])["digest"]
    control.write(disk_ids[1], blocks=10)
    data_point = captured(point)[disk_ids[1]]
    disk = compute.disks.begin_create_or_update(
        RG,
        "restored",
        {
            "location": "eastus",
            "sku": {"name": "Premium_LRS"},
            "properties": {
                "creationData": {"createOption": "Restore", "sourceResourceId": data_point}
            },
        },
    ).result()
    assert disk.creation_data.create_option == "Restore" and disk.disk_size_gb == 128
    assert control.content(disk.id)["digest"] == expected
    vm = compute.virtual_machines.begin_create_or_update(
        RG,
        "vm-restored",
        {
            "location": "eastus",
            "properties": {
                "storageProfile": {
                    "osDisk": {"createOption": "FromImage", "osType": "Linux"},
                    "dataDisks": [
                        {"lun": 0, "createOption": "Restore", "sourceResource": {"id": data_point}}
                    ],
                },
                "networkProfile": {"networkInterfaces": [{"id": "nic-opaque"}]},
            },
        },
    ).result()
    [data_disk] = vm.storage_profile.data_disks
    assert data_disk.create_option == "Restore" and data_disk.source_resource.id == data_point
    assert control.content(data_disk.managed_disk.id)["digest"] == expected
    with pytest.raises(ResourceNotFoundError):  # a disk restore point of another region
        compute.disks.begin_create_or_update(
            RG,
            "elsewhere",
            {
                "location": "westus2",
                "properties": {
                    "creationData": {"createOption": "Restore", "sourceResourceId": data_point}
                },
            },
        ).result()


# --- cross-region copies -----------------------------------------------------------------


def copy_target(compute, resources, name: str = "rpc-dr"):
    resources.resource_groups.create_or_update("rg-dr", {"location": "westus2"})
    source_collection = compute.restore_point_collections.get(RG, "rpc")
    body = {"location": "westus2", "properties": {"source": {"id": source_collection.id}}}
    return compute.restore_point_collections.create_or_update("rg-dr", name, body)


def copy_point(compute, source_point_id: str, name: str, collection_name: str = "rpc-dr"):
    body = {"properties": {"sourceRestorePoint": {"id": source_point_id}}}
    return compute.restore_points.begin_create("rg-dr", collection_name, name, body).result()


def replicated(compute, name: str, collection_name: str = "rpc-dr"):
    def done():
        point = compute.restore_points.get("rg-dr", collection_name, name, expand="instanceView")
        return (
            point if point.instance_view.statuses[0].code == "ReplicationState/succeeded" else None
        )

    return wait_until(done)


def test_cross_region_copy_restores_the_source_disk_as_of_the_point(compute, control, resources):
    source = three_disk_vm(control)
    collection(compute, source)
    disk_ids = disks_of(compute)
    point = compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    at_point = control.content(disk_ids[1])["digest"]
    control.write(disk_ids[1], blocks=20)  # written after the point: not in the copy
    target = copy_target(compute, resources)
    assert target.source.id.lower().endswith("/restorepointcollections/rpc")
    assert target.source.location == "eastus"
    copied = copy_point(compute, point.id, "rp1-dr")
    # Succeeded once the copy is initiated; the data follows (instance view).
    assert copied.provisioning_state == "Succeeded"
    assert copied.source_restore_point.id == point.id
    assert copied.time_created == point.time_created
    done = replicated(compute, "rp1-dr")
    assert {
        d.replication_status.completion_percent for d in done.instance_view.disk_restore_points
    } == {100}
    copied_point = captured(done)[disk_ids[1]]
    drp = compute.disk_restore_point.get(
        "rg-dr", "rpc-dr", "rp1-dr", copied_point.rsplit("/", 1)[1]
    )
    assert drp.replication_state == "Succeeded" and drp.source_resource_location == "eastus"
    # The source *disk*, as DiskRestorePoint_Get_WhenSourceResourceIsFromDifferentRegion shows.
    assert drp.source_resource_id == disk_ids[1]
    disk = compute.disks.begin_create_or_update(
        "rg-dr",
        "restored-dr",
        {
            "location": "westus2",
            "properties": {
                "creationData": {"createOption": "Restore", "sourceResourceId": copied_point}
            },
        },
    ).result()
    assert control.content(disk.id)["digest"] == at_point != control.content(disk_ids[1])["digest"]


def test_replica_collection_and_disk_restore_points_answer_the_spec_examples_forms(
    compute, control, resources
):
    """Forms of RestorePointCollection_CreateOrUpdate_ForCrossRegionCopy (201: the source
    collection without its leading slash; 200: the source collection's VM),
    RestorePointCollection_Get (the source collection), RestorePoint_Copy_BetweenRegions (a
    copy's disks name their own disk restore point only) and DiskRestorePoint_Get_When
    SourceResourceIsFromDifferentRegion (sourceResourceId: the source disk)."""
    source = three_disk_vm(control)
    primary = collection(compute, source)
    point = compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    created = copy_target(compute, resources)
    assert created.source.id == primary.id.lstrip("/")
    assert created.source.location == "eastus"
    read = compute.restore_point_collections.get("rg-dr", "rpc-dr")
    assert read.source.id == primary.id and read.source.location == "eastus"
    assert [c.source.id for c in compute.restore_point_collections.list("rg-dr")] == [primary.id]
    body = {"location": "westus2", "properties": {"source": {"id": primary.id}}}
    updated = compute.restore_point_collections.create_or_update("rg-dr", "rpc-dr", body)
    assert updated.source.id == source and updated.source.location == "eastus"
    copied = copy_point(compute, point.id, "rp1-dr")
    assert copied.source_restore_point.id == point.id
    storage = copied.source_metadata.storage_profile
    for disk in [storage.os_disk, *storage.data_disks]:
        assert disk.disk_restore_point.source_disk_restore_point is None
        assert "/restorePointCollections/rpc-dr/" in disk.disk_restore_point.id
    by_disk = {
        drp.source_resource_id: drp
        for drp in compute.disk_restore_point.list_by_restore_point("rg-dr", "rpc-dr", "rp1-dr")
    }
    assert set(by_disk) == set(disks_of(compute))
    primary_points = {
        drp.source_resource_id: drp
        for drp in compute.disk_restore_point.list_by_restore_point(RG, "rpc", "rp1")
    }
    for disk_id, drp in by_disk.items():
        assert drp.source_resource_location == "eastus"
        assert drp.source_unique_id == primary_points[disk_id].source_unique_id
        assert drp.family_id == primary_points[disk_id].family_id


def test_copy_progress_incremental_data_and_early_restore(compute, control, resources):
    source = three_disk_vm(control)
    collection(compute, source)
    control.config(limits={"crashConsistentSpacingSeconds": 1})
    data_disk = disks_of(compute)[1]
    first = compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    control.write(data_disk, blocks=3)
    second = compute.restore_points.begin_create(RG, "rpc", "rp2", CRASH).result()
    copy_target(compute, resources)
    copy_point(compute, first.id, "rp1-dr")
    replicated(compute, "rp1-dr")
    # A long copy: progress is reported every 10 minutes; a disk restored before the
    # copy completes gets only what already reached the region (Azure does not check).
    control.config(copy={"baseSeconds": 1500, "bytesPerSecond": 1024**3})
    copy_point(compute, second.id, "rp2-dr")
    copied = captured(compute.restore_points.get("rg-dr", "rpc-dr", "rp2-dr"))[data_disk]
    assert control.content(copied)["changedBlocks"] == 3  # only what changed since rp1
    early = compute.disks.begin_create_or_update(
        "rg-dr",
        "early",
        {
            "location": "westus2",
            "properties": {"creationData": {"createOption": "Restore", "sourceResourceId": copied}},
        },
    ).result()
    first_copy = captured(compute.restore_points.get("rg-dr", "rpc-dr", "rp1-dr"))[data_disk]
    assert control.content(early.id)["digest"] == control.content(first_copy)["digest"]
    percents = set()

    def finished():
        point = compute.restore_points.get("rg-dr", "rpc-dr", "rp2-dr", expand="instanceView")
        view = point.instance_view.disk_restore_points
        percents.update(d.replication_status.completion_percent for d in view if d.id == copied)
        return point.instance_view.statuses[0].code == "ReplicationState/succeeded"

    wait_until(finished, timeout=30)
    # 1500 s of copy, reported every 10 minutes: 0, 39 and 79 %, then 100 at the end.
    assert percents <= {0, 39, 79, 100} and {0, 100} <= percents and len(percents) >= 3
    assert (
        control.content(copied)["digest"] == control.content(captured(second)[data_disk])["digest"]
    )


def test_copy_rules_once_in_order_no_copy_of_copy(compute, control, resources):
    source = three_disk_vm(control)
    collection(compute, source)
    control.config(limits={"crashConsistentSpacingSeconds": 1})
    first = compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    second = compute.restore_points.begin_create(RG, "rpc", "rp2", CRASH).result()
    copy_target(compute, resources)
    copy_point(compute, second.id, "rp2-dr")
    with pytest.raises(ResourceExistsError) as info:  # one copy per target region
        copy_point(compute, second.id, "rp2-again")
    assert "only once" in info.value.error.message
    with pytest.raises(ResourceExistsError) as info:  # creation order
        copy_point(compute, first.id, "rp1-dr")
    assert "order" in info.value.error.message
    with pytest.raises(HttpResponseError) as info:  # a collection of copies cannot be a source
        compute.restore_point_collections.create_or_update(
            "rg-dr",
            "rpc-dr2",
            {
                "location": "westus3",
                "properties": {"source": {"id": copy_target(compute, resources).id}},
            },
        )
    assert info.value.status_code == 400
    with pytest.raises(HttpResponseError) as info:  # a VM collection takes no source point
        compute.restore_points.begin_create(
            RG, "rpc", "rp3", {"properties": {"sourceRestorePoint": {"id": second.id}}}
        )
    assert info.value.status_code == 400
    limits = [v["limit"] for v in control.stats()["limitViolations"]]
    assert limits == ["restorePointCopiedOnce", "restorePointCopyOrder"]


def test_deleting_the_source_mid_copy_fails_the_copy(compute, control, resources):
    source = three_disk_vm(control)
    collection(compute, source)
    point = compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    copy_target(compute, resources)
    control.config(copy={"baseSeconds": 3600, "bytesPerSecond": 1024**2})
    copy_point(compute, point.id, "rp1-dr")
    # The three disks' data is on its way into westus2.
    assert control.stats()["restorePointCopiesInFlight"] == {f"{SUB}/westus2": 3}
    compute.restore_points.begin_delete(RG, "rpc", "rp1").result()
    assert control.stats()["restorePointCopiesInFlight"] == {}
    view = compute.restore_points.get(
        "rg-dr", "rpc-dr", "rp1-dr", expand="instanceView"
    ).instance_view
    assert view.statuses[0].code == "ReplicationState/failed"
    assert {d.replication_status.completion_percent for d in view.disk_restore_points} == {0}
    assert "restorePointCopySourceDeleted" in {
        v["limit"] for v in control.stats()["limitViolations"]
    }


def test_resource_group_deletion_removes_collections(compute, control, resources):
    source = three_disk_vm(control)
    collection(compute, source)
    compute.restore_points.begin_create(RG, "rpc", "rp1", CRASH).result()
    resources.resource_groups.begin_delete(RG).result()
    assert list(compute.restore_point_collections.list_all()) == []
