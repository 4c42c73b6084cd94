"""diskdr's own Compute port against a real subscription (opt-in): the same calls the
activities make — a point started and read back without polling its operation, the
readiness read shared by a resource group, inventory by listings, an idempotent re-take,
an owner-checked delete — so what the twin proves can be checked on Azure.

Skipped unless ``DISKDR_LIVE_SUBSCRIPTION`` is set. Uses ``DefaultAzureCredential``;
creates a resource group ``diskdr-live-ports-<random>`` in ``DISKDR_LIVE_LOCATION``
(default eastus) with one small empty disk, and deletes the group at the end.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

SUBSCRIPTION = os.environ.get("DISKDR_LIVE_SUBSCRIPTION")
LOCATION = os.environ.get("DISKDR_LIVE_LOCATION", "eastus")
INSTALL = "diskdr-live"
SLOT = datetime(2026, 1, 1, tzinfo=UTC)

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not SUBSCRIPTION, reason="DISKDR_LIVE_SUBSCRIPTION is not set"),
]


@pytest.fixture(scope="module")
def disk(resources: Any, compute: Any) -> Iterator[Any]:
    group = f"diskdr-live-ports-{uuid.uuid4().hex[:8]}"
    resources.resource_groups.create_or_update(
        group, {"location": LOCATION, "tags": {"diskdr": "live-test"}}
    )
    try:
        body = {
            "location": LOCATION,
            "sku": {"name": "Standard_LRS"},
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 4},
        }
        # The test's own setup may wait; diskdr's port never does.
        yield compute.disks.begin_create_or_update(group, "d1", body).result()
    finally:
        resources.resource_groups.begin_delete(group).result()


@pytest.fixture(scope="module")
def service() -> Any:
    from diskdr.service import Service
    from diskdr.settings import Settings

    settings = Settings.from_env(
        {"DISKDR_SUBSCRIPTION_IDS": SUBSCRIPTION or "", "DISKDR_INSTALL_ID": INSTALL}
    )
    return Service(settings)


def test_a_point_is_started_read_back_retaken_and_deleted(service, disk):
    from azure.mgmt.compute.models import CreationData

    from diskdr.naming import parse_resource_id, point_name, point_tags

    group = parse_resource_id(disk.id).resource_group
    vm_id = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}"
        "/providers/Microsoft.Compute/virtualMachines/none"
    )
    name = point_name(INSTALL, vm_id, disk.id, SLOT)
    tags = point_tags(
        INSTALL, "live", vm_id, disk.id, disk.unique_id, SLOT, "g", "crash", "primary"
    )

    def take():
        return service.port.create_point(
            subscription_id=SUBSCRIPTION,
            resource_group=group,
            name=name,
            region=LOCATION,
            creation=CreationData(create_option="Copy", source_resource_id=disk.id),
            tags=tags,
        )

    started = time.monotonic()
    point = take()
    assert time.monotonic() - started < 25, "the port waited on Azure's operation"
    assert point.owner == INSTALL and point.state in ("creating", "pending", "usable")
    deadline = time.monotonic() + 600
    while point.state not in ("usable", "failed") and time.monotonic() < deadline:
        time.sleep(10)
        point = service.point_states([point.id])[point.id] or point
    assert point.state == "usable"
    assert take().id == point.id  # adopted, not made twice
    vms = service.port.list_vms(SUBSCRIPTION, [group])
    assert vms == []  # the group holds a disk and no VM
    assert service.port.delete_point(point.id) is True
