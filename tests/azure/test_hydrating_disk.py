"""A Premium SSD v2 disk restored from one of diskdr's points, then backed up again: Azure
refuses a snapshot while the disk hydrates (its background copy from the point, reported as
``completionPercent`` below 100), so the take of that disk reports a transient refusal with
Azure's code and message — asked for again later, never failing the VM's other disks — and
succeeds once the disk is hydrated. Real SDK, diskdr's Compute port and service, the
emulator answering as Azure does."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from diskdr.azure.clients import Clients
from diskdr.azure.compute import ComputePort, snapshot_resource_id
from diskdr.backup import point_jobs
from diskdr.errors import AzureError, is_transient
from diskdr.inventory import VmInfo
from diskdr.service import Service
from tests.support import emulator_settings, poll

SUB = "00000000-0000-0000-0000-000000000001"
SLOT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
INSTALL = "hydration-test"
# The restored disk's background copy: two world hours (12 real seconds), far longer than
# the takes that meet it, short enough for the test to wait for its end.
HYDRATION_SECONDS = 7200


@pytest.fixture
def env(emulator):
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
                                    "osDisk": {"sizeGB": 32, "sku": "Premium_LRS"},
                                    "dataDisks": [{"lun": 0, "sizeGB": 64, "sku": "PremiumV2_LRS"}],
                                }
                            ],
                        }
                    ],
                }
            ]
        }
    )
    clients = Clients(emulator_settings(emulator, INSTALL, SUB))
    port = ComputePort(clients)
    return emulator, port, Service(clients.settings, port=port)


def take_all(service, vm: VmInfo, slot: datetime):
    _, jobs = point_jobs(vm, slot, "gold", INSTALL)
    return {job.disk.name: service.take_point(job) for job in jobs}


def usable(port, point_id):
    point = port.get_point(point_id)
    return point if point is not None and point.state == "usable" else None


def test_a_restored_disk_is_not_snapshotted_while_it_hydrates_and_is_once_it_has(env):
    emulator, port, service = env
    control = emulator.control
    control.config(backgroundCopy={"baseSeconds": 0, "bytesPerSecond": 2**40})
    (vm,) = port.list_vms(SUB)
    first = take_all(service, vm, SLOT)
    assert all(o.error is None for o in first.values())
    v2_point = poll(lambda: usable(port, first["vm1-data-0"].point.id), what="the point")

    # Restore the Premium SSD v2 disk from its point, as `diskdr restore` does; it hydrates.
    control.config(backgroundCopy={"baseSeconds": HYDRATION_SECONDS, "bytesPerSecond": 2**30})
    restored = port.create_disk_from_point(
        v2_point.id,
        resource_group="rg-app",
        name="vm1-data-0-restored",
        region="eastus",
        sku="PremiumV2_LRS",
    )
    disk = emulator_disk(port, restored.id)
    assert disk.sku.name == "PremiumV2_LRS"
    assert 0 <= disk.properties.completion_percent < 100

    # The next cycle protects the restored disk with the OS disk.
    protected = VmInfo(vm.id, vm.name, vm.location, vm.tags, (vm.disks[0], restored))
    later = SLOT + timedelta(hours=1)
    second = take_all(service, protected, later)
    assert second["vm1-osdisk"].error is None and second["vm1-osdisk"].point is not None
    refused = second["vm1-data-0-restored"]
    assert refused.point is None
    assert refused.error.code == "OperationNotAllowed" and refused.error.status == 409
    assert refused.error.transient, "asked for again later, not a permanent failure"
    assert "hydrated" in refused.error.message
    assert is_transient(AzureError(refused.error.message, code=refused.error.code, status=409))
    # Nothing was left behind for it; Azure saw one refused request.
    _, jobs = point_jobs(protected, later, "gold", INSTALL)
    job = next(j for j in jobs if j.disk.id == restored.id)
    assert port.get_point(snapshot_resource_id(SUB, job.resource_group, job.name)) is None
    violations = [v["limit"] for v in control.stats()["limitViolations"]]
    assert violations == ["snapshotWhileHydrating"]

    # Once hydrated (completionPercent 100), the same take succeeds.
    poll(
        lambda: emulator_disk(port, restored.id).properties.completion_percent == 100,
        what="hydration",
    )
    again = take_all(service, replace(protected, disks=(restored,)), later)
    taken = again["vm1-data-0-restored"]
    assert taken.error is None and taken.point is not None
    assert poll(lambda: usable(port, taken.point.id), what="the restored disk's point")


def emulator_disk(port, disk_id: str):
    """The disk as the SDK reads it (diskdr's ``DiskInfo`` has no ``completionPercent``)."""
    parts = disk_id.split("/")
    return port._compute(SUB).disks.get(parts[4], parts[-1])
