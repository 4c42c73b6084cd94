"""Resource groups through the real ResourceManagementClient."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from tests.emulator.support import disk_body, estate_one_vm


def test_create_get_update_and_exists(resources):
    created = resources.resource_groups.create_or_update(
        "rg-one", {"location": "West US 2", "tags": {"team": "dr"}}
    )
    assert created.location == "westus2" and created.tags == {"team": "dr"}
    assert created.properties.provisioning_state == "Succeeded"
    assert created.id.endswith("/resourceGroups/rg-one")
    assert resources.resource_groups.get("RG-ONE").name == "rg-one"
    assert resources.resource_groups.check_existence("rg-one") is True
    assert resources.resource_groups.check_existence("rg-none") is False
    again = resources.resource_groups.create_or_update("rg-one", {"location": "westus2"})
    assert again.tags is None or again.tags == {}
    updated = resources.resource_groups.update("rg-one", {"tags": {"a": "b"}})
    assert updated.tags == {"a": "b"}


def test_location_cannot_change(resources):
    resources.resource_groups.create_or_update("rg-one", {"location": "eastus"})
    with pytest.raises(ResourceExistsError) as info:
        resources.resource_groups.create_or_update("rg-one", {"location": "westus"})
    assert info.value.error.code == "InvalidResourceGroupLocation"


def test_get_missing_group(resources):
    with pytest.raises(ResourceNotFoundError) as info:
        resources.resource_groups.get("rg-none")
    assert info.value.error.code == "ResourceGroupNotFound"


def test_list_walks_pages(resources):
    names = [f"rg-{i}" for i in range(7)]
    for name in names:
        resources.resource_groups.create_or_update(name, {"location": "eastus"})
    assert sorted(g.name for g in resources.resource_groups.list()) == names


def test_delete_removes_its_resources(resources, compute, control):
    control.estate(estate_one_vm())
    compute.disks.begin_create_or_update("rg-app", "extra", disk_body()).result()
    resources.resource_groups.begin_delete("rg-app").result()
    assert resources.resource_groups.check_existence("rg-app") is False
    assert list(compute.disks.list()) == []
    assert list(compute.virtual_machines.list_all()) == []
