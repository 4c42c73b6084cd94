"""diskdr's Compute port against the emulator, through the real azure-mgmt-compute client:
idempotent creates, failed leftovers, ownership, listing, errors with Azure's code.

The emulator answers as Azure does (DiskRP LROs without polling hints): the port starts
operations and never polls them, so the tests read the points until they settle.
Raw SDK calls made by the tests themselves poll with a short ``polling_interval``."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute.models import CreationData, Snapshot, SnapshotProperties

from diskdr.azure.clients import Clients
from diskdr.azure.compute import ComputePort, azure_error
from diskdr.errors import (
    AzureError,
    ConflictError,
    LimitReachedError,
    ResourceNotFoundError,
    is_transient,
)
from diskdr.naming import TAG_OWNER, point_name, point_tags
from diskdr.service import Service
from tests.support import emulator_settings, poll

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/rg-app"
VM = f"{RG}/providers/Microsoft.Compute/virtualMachines/vm1"
OS_DISK = f"{RG}/providers/Microsoft.Compute/disks/vm1-osdisk"
V2_DISK = f"{RG}/providers/Microsoft.Compute/disks/vm1-data-0"
SLOT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
INSTALL = "port-test"


@pytest.fixture
def port(emulator):
    emulator.control.reset()
    emulator.control.estate(
        {
            "subscriptions": [
                {
                    "id": SUB,
                    "resourceGroups": [
                        {
                            "name": "rg-app",
                            "location": "eastus",
                            "vms": [
                                {
                                    "name": "vm1",
                                    "tags": {"backup": "gold"},
                                    "osDisk": {"sizeGB": 64, "sku": "Premium_LRS"},
                                    "dataDisks": [
                                        {"lun": 0, "sizeGB": 128, "sku": "PremiumV2_LRS"}
                                    ],
                                }
                            ],
                        },
                        {"name": "rg-dr", "location": "westus2"},
                    ],
                }
            ]
        }
    )
    return ComputePort(Clients(emulator_settings(emulator, INSTALL, SUB)))


def create(port, disk_id=OS_DISK, name=None, install=INSTALL):
    name = name or point_name(install, VM, disk_id, SLOT)
    tags = point_tags(install, "gold", VM, disk_id, "uid", SLOT, "g1", "crash", "primary")
    return port.create_point(
        subscription_id=SUB,
        resource_group="rg-app",
        name=name,
        region="eastus",
        creation=CreationData(create_option="Copy", source_resource_id=disk_id),
        tags=tags,
    )


# For the tests' own raw SDK pollers (the port itself never polls).
FAST = {"polling_interval": 0.02}


def creates(emulator) -> int:
    return emulator.control.stats()["requests"].get("Snapshots_CreateOrUpdate", 0)


def settled(port, point_id, states=("usable", "failed")):
    """The point once its state is one of ``states`` (read as an orchestration would)."""
    return poll(
        lambda: (p := port.get_point(point_id)) is not None and p.state in states and p,
        what=f"{point_id} in {states}",
    )


def test_inventory_reads_vms_and_their_disks(port):
    (vm,) = port.list_vms(SUB)
    assert vm.id.lower() == VM.lower() and vm.tags == {"backup": "gold"}
    assert [(d.name, d.lun, d.sku) for d in vm.disks] == [
        ("vm1-osdisk", None, "Premium_LRS"),
        ("vm1-data-0", 0, "PremiumV2_LRS"),
    ]
    assert all(d.unique_id for d in vm.disks)
    assert port.get_vm(VM) == vm


def test_create_returns_what_azure_accepted_without_polling(port, emulator):
    emulator.control.config(lroSeconds={"Snapshots_CreateOrUpdate": 600})
    first = create(port)
    assert first.state == "creating" and first.owner == INSTALL and first.slot == SLOT
    stats = emulator.control.stats()["requests"]
    assert stats.get("Operations_GetStatus", 0) == 0
    assert stats["Snapshots_CreateOrUpdate"] == 1
    assert stats["Snapshots_Get"] == 1  # the name checked once, before the create


def test_create_is_idempotent(port, emulator):
    first = create(port)
    assert settled(port, first.id).state == "usable"
    before = creates(emulator)
    again = create(port)
    assert again.id == first.id and again.state == "usable" and creates(emulator) == before


def test_premium_v2_points_are_pending_until_their_copy_ends(port, emulator):
    # A background copy of 30 world minutes (3 s real): long enough to be seen under load.
    emulator.control.config(backgroundCopy={"baseSeconds": 1800, "bytesPerSecond": 2**30})
    point = create(port, V2_DISK)
    assert point.state == "creating"
    assert settled(port, point.id, ("pending",)).completion_percent < 100
    assert settled(port, point.id).state == "usable"


def test_a_name_owned_by_someone_else_is_left_alone(port, emulator):
    name = point_name(INSTALL, VM, OS_DISK, SLOT)
    port._compute(SUB).snapshots.begin_create_or_update(
        "rg-app",
        name,
        Snapshot(
            location="eastus",
            properties=SnapshotProperties(
                creation_data=CreationData(create_option="Copy", source_resource_id=OS_DISK),
                incremental=True,
            ),
            tags={TAG_OWNER: "someone-else"},
        ),
        **FAST,
    ).result()
    with pytest.raises(ConflictError) as refused:
        create(port, name=name)
    assert refused.value.code == "NameOwnedByOther"
    foreign = port._compute(SUB).snapshots.get("rg-app", name)
    assert foreign.tags == {TAG_OWNER: "someone-else"}
    with pytest.raises(ConflictError, match="refusing to delete"):
        port.delete_point(foreign.id)
    assert port._compute(SUB).snapshots.get("rg-app", name).id == foreign.id


def test_a_create_failing_after_acceptance_reads_failed_and_is_made_again(port, emulator):
    """Azure accepts the PUT and fails its operation (``SnapshotsLimitReached``), leaving a
    ``Failed`` snapshot: the port's reads report a failed point, and taking the same point
    again deletes the leftover and makes it anew."""
    create(port, name="first")
    emulator.control.config(limits={"incrementalSnapshotsPerDisk": 1})
    second = create(port, name="second")
    assert second.state == "creating"
    assert settled(port, second.id).state == "failed"
    emulator.control.config(limits={"incrementalSnapshotsPerDisk": 500})
    with pytest.raises(AzureError) as later:
        create(port, name="second")  # deletes the leftover; the name is not free yet
    assert later.value.code == "FailedPointBeingDeleted" and is_transient(later.value)

    def remade():
        try:
            return create(port, name="second")
        except AzureError as error:
            assert error.code == "FailedPointBeingDeleted"
            return None

    assert settled(port, poll(remade, what="made again").id).state == "usable"


def test_a_limit_refused_at_once_is_typed(port, emulator):
    create(port, name="first")
    emulator.control.faults(
        [{"method": "PUT", "path": "/snapshots/", "status": 409, "code": "SnapshotsLimitReached"}]
    )
    with pytest.raises(LimitReachedError) as refused:
        create(port, name="second")
    assert refused.value.code == "SnapshotsLimitReached" and refused.value.request_id


def test_listing_returns_ours_and_reports_broken_tags(port):
    mine = create(port)
    other = ComputePort(Clients(replace(port._clients.settings, install_id="other-install")))
    create(other, name="theirs", install="other-install")
    port._compute(SUB).snapshots.begin_update(
        "rg-app", "theirs", {"tags": {TAG_OWNER: INSTALL, "diskdr-policy": "gold"}}, **FAST
    ).result()
    listing = port.list_points(SUB)
    assert [p.id for p in listing.points] == [mine.id]
    assert len(listing.broken) == 1 and "diskdr-vm: missing" in listing.broken[0]
    assert [p.id for p in port.list_points_in_group(SUB, "rg-app").points] == [mine.id]


def test_delete_is_idempotent(port):
    point = settled(port, create(port).id)
    assert port.delete_point(point.id) is True  # accepted; Azure deletes it meanwhile
    poll(lambda: port.get_point(point.id) is None, what="snapshot gone")
    assert port.delete_point(point.id) is False


def test_a_disk_made_from_a_point_holds_its_content(port, emulator):
    point = settled(port, create(port).id)
    emulator.control.write(OS_DISK, blocks=8)
    disk = port.create_disk_from_point(
        point.id, resource_group="rg-app", name="restored", region="eastus"
    )
    poll(
        lambda: (
            port._compute(SUB).disks.get("rg-app", "restored").provisioning_state == "Succeeded"
        ),
        what="disk created",
    )
    assert (
        emulator.control.content(disk.id)["digest"] == emulator.control.content(point.id)["digest"]
    )
    assert (
        emulator.control.content(disk.id)["digest"] != emulator.control.content(OS_DISK)["digest"]
    )


def test_errors_carry_code_status_and_request_id(port):
    with pytest.raises(ResourceNotFoundError) as missing:
        port.get_vm(f"{RG}/providers/Microsoft.Compute/virtualMachines/nope")
    assert missing.value.status == 404 and missing.value.code and missing.value.request_id
    try:
        port._compute(SUB).disks.get("rg-app", "nope")
    except HttpResponseError as error:
        typed = azure_error(error, "get disk")
        assert isinstance(typed, ResourceNotFoundError) and typed.request_id


def test_groups_missing_from_a_subscription_select_nothing_there(port, emulator):
    other = "00000000-0000-0000-0000-000000000002"
    emulator.control.estate(
        {
            "subscriptions": [
                {"id": other, "resourceGroups": [{"name": "rg-x", "location": "eastus"}]}
            ]
        }
    )
    assert [vm.name for vm in port.list_vms(SUB, ["rg-app", "rg-gone"])] == ["vm1"]
    assert port.list_vms(other, ["rg-app"]) == []
    assert port.list_vms(other) == []


def test_a_point_put_on_hold_after_listing_is_not_deleted(port):
    point = create(port)
    port._compute(SUB).snapshots.begin_update(
        "rg-app", point.name, {"tags": {**point.tags, "diskdr-hold": "legal"}}, **FAST
    ).result()
    with pytest.raises(ConflictError) as refused:
        port.delete_point(point.id)
    assert refused.value.code == "PointOnHold"
    assert port.get_point(point.id).hold


def test_point_states_read_a_group_with_one_listing_not_a_get_per_point(port, emulator):
    """``Service.point_states`` (the activity's body): the points of one resource group are
    read with one paged listing shared by all of them; a lone point, once the group's
    listing is known to take more pages than that, with a GET."""
    emulator.control.config(pageSize=2)
    points = [create(port, name=f"p{n}") for n in range(5)]
    gone = f"{RG}/providers/Microsoft.Compute/snapshots/never-made"
    service = Service(port._clients.settings, port=port)
    before = emulator.control.stats()["requests"]
    states = service.point_states([p.id for p in points] + [gone])
    after = emulator.control.stats()["requests"]
    assert states[gone] is None
    assert {states[p.id].name for p in points} == {f"p{n}" for n in range(5)}
    assert all(states[p.id].owner == INSTALL for p in points)
    assert after.get("Snapshots_Get", 0) == before.get("Snapshots_Get", 0)
    # Five snapshots at two per page: three pages, three reads for six points.
    listed = after["Snapshots_ListByResourceGroup"] - before.get("Snapshots_ListByResourceGroup", 0)
    assert listed == 3
    lone = service.point_states([points[0].id])
    assert lone[points[0].id].name == "p0"
    final = emulator.control.stats()["requests"]
    assert final["Snapshots_Get"] == after.get("Snapshots_Get", 0) + 1
    assert final["Snapshots_ListByResourceGroup"] == after["Snapshots_ListByResourceGroup"]
