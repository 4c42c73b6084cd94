"""The emulator's operation tests, against a real subscription (opt-in).

Skipped unless ``DISKDR_LIVE_SUBSCRIPTION`` is set. Uses ``DefaultAzureCredential``; creates
a resource group ``diskdr-live-<random>`` in ``DISKDR_LIVE_LOCATION`` (default eastus) and
deletes it, with everything in it, at the end. ``DISKDR_LIVE_SECONDARY`` (default westus2)
is the target region of the cross-region copy. What these tests assert about Azure is
what the emulator claims to model (docs/emulator.md); a failure here is a fidelity bug.
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

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not SUBSCRIPTION, reason="DISKDR_LIVE_SUBSCRIPTION is not set"),
]


@pytest.fixture(scope="module")
def group(resources: Any) -> Iterator[str]:
    name = f"diskdr-live-{uuid.uuid4().hex[:8]}"
    resources.resource_groups.create_or_update(
        name, {"location": LOCATION, "tags": {"diskdr": "live-test"}}
    )
    try:
        yield name
    finally:
        resources.resource_groups.begin_delete(name).result()


def empty_disk(size_gb: int = 4, sku: str = "Standard_LRS", location: str = LOCATION) -> dict:
    return {
        "location": location,
        "sku": {"name": sku},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": size_gb},
    }


def test_disk_lifecycle(compute, group):
    from azure.core.exceptions import ResourceNotFoundError

    disk = compute.disks.begin_create_or_update(group, "live-disk", empty_disk()).result()
    assert disk.properties.provisioning_state == "Succeeded"
    assert disk.properties.disk_state == "Unattached"
    assert disk.properties.unique_id and disk.properties.time_created
    assert disk.properties.disk_size_bytes == 4 * 1024**3
    updated = compute.disks.begin_update(group, "live-disk", {"tags": {"a": "b"}}).result()
    assert updated.tags == {"a": "b"}
    access = compute.disks.begin_grant_access(
        group, "live-disk", {"access": "Read", "durationInSeconds": 300}
    ).result()
    assert access.access_sas
    assert compute.disks.get(group, "live-disk").properties.disk_state == "ActiveSAS"
    compute.disks.begin_revoke_access(group, "live-disk").result()
    assert compute.disks.get(group, "live-disk").properties.disk_state == "Unattached"
    compute.disks.begin_delete(group, "live-disk").result()
    with pytest.raises(ResourceNotFoundError) as info:
        compute.disks.get(group, "live-disk")
    assert info.value.error.code == "ResourceNotFound"


def test_incremental_snapshots_and_family(compute, group):
    disk = compute.disks.begin_create_or_update(
        group, "live-src", empty_disk(sku="Premium_LRS")
    ).result()
    body = {
        "location": LOCATION,
        "properties": {
            "creationData": {"createOption": "Copy", "sourceResourceId": disk.id},
            "incremental": True,
        },
    }
    first = compute.snapshots.begin_create_or_update(group, "live-s1", body).result()
    second = compute.snapshots.begin_create_or_update(group, "live-s2", body).result()
    for snap in (first, second):
        assert snap.properties.incremental is True
        assert snap.sku.name in ("Standard_LRS", "Standard_ZRS")
        assert snap.properties.creation_data.source_unique_id == disk.properties.unique_id
    assert (
        first.properties.incremental_snapshot_family_id
        == second.properties.incremental_snapshot_family_id
    )
    names = {s.name for s in compute.snapshots.list_by_resource_group(group)}
    assert {"live-s1", "live-s2"} <= names


def test_copy_from_another_region_is_not_found(compute, group):
    from azure.core.exceptions import ResourceNotFoundError

    disk = compute.disks.begin_create_or_update(group, "live-copy-src", empty_disk()).result()
    body = {
        "location": SECONDARY,
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": disk.id}},
    }
    with pytest.raises(ResourceNotFoundError) as info:
        compute.disks.begin_create_or_update(group, "live-far", body).result()
    assert info.value.error.code == "NotFound"


@pytest.mark.slow
def test_cross_region_copy_completes(compute, group):
    disk = compute.disks.begin_create_or_update(group, "live-cr", empty_disk()).result()
    source = compute.snapshots.begin_create_or_update(
        group,
        "live-cr-s1",
        {
            "location": LOCATION,
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": disk.id},
                "incremental": True,
            },
        },
    ).result()
    copy = compute.snapshots.begin_create_or_update(
        group,
        "live-cr-s1-copy",
        {
            "location": SECONDARY,
            "properties": {
                "creationData": {"createOption": "CopyStart", "sourceResourceId": source.id},
                "incremental": True,
            },
        },
    ).result()
    assert copy.properties.creation_data.create_option == "CopyStart"
    deadline = time.monotonic() + 3600
    while True:
        current = compute.snapshots.get(group, "live-cr-s1-copy").properties
        assert current.copy_completion_error is None
        if current.completion_percent == 100:
            break
        assert time.monotonic() < deadline, "copy did not complete within an hour"
        time.sleep(30)
    compute.snapshots.begin_delete(group, "live-cr-s1-copy").result()


def test_errors_are_typed(compute, group):
    from azure.core.exceptions import ResourceNotFoundError

    with pytest.raises(ResourceNotFoundError) as info:
        compute.disks.get(group, "no-such-disk")
    assert info.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        compute.disks.get(f"{group}-missing", "no-such-disk")
    assert info.value.error.code == "ResourceGroupNotFound"
