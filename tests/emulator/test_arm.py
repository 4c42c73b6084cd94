"""ARM behaviour: auth, api-version, request ids, error bodies, LROs, paging, time scale."""

from __future__ import annotations

import time

import pytest
import requests
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
)
from azure.mgmt.compute import ComputeManagementClient

from emulator import EmulatorServer
from tests.emulator.support import SUB, disk_body, make_compute

DISKS = f"/subscriptions/{SUB}/resourceGroups/rg-test/providers/Microsoft.Compute/disks"


def raw(emulator: EmulatorServer, method: str, path: str, **kwargs) -> requests.Response:
    headers = kwargs.pop("headers", {"Authorization": "Bearer x"})
    return requests.request(
        method, emulator.url + path, headers=headers, verify=emulator.ca_path, timeout=10, **kwargs
    )


def test_bearer_token_is_required(emulator, group):
    response = raw(emulator, "GET", DISKS, headers={}, params={"api-version": "2025-01-02"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert response.json()["error"]["code"] == "AuthenticationFailed"
    assert response.headers["x-ms-request-id"]


def test_sdk_raises_client_authentication_error_on_401(emulator, group):
    client = make_compute(emulator)
    # A token the policy sends as "Bearer " with nothing after it is not a token.
    client._config.authentication_policy._credential.token = ""  # type: ignore[attr-defined]
    with pytest.raises(ClientAuthenticationError):
        client.disks.get(group, "any")


def test_any_bearer_token_is_accepted(emulator, group):
    response = raw(
        emulator,
        "GET",
        DISKS,
        headers={"Authorization": "Bearer whatever"},
        params={"api-version": "2025-01-02"},
    )
    assert response.status_code == 200
    assert response.json() == {"value": []}


def test_api_version_is_required(emulator, group):
    response = raw(emulator, "GET", DISKS)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "MissingApiVersionParameter"


def test_unknown_api_version_lists_supported_ones(emulator, group):
    response = raw(emulator, "GET", DISKS, params={"api-version": "2099-01-01"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidApiVersionParameter"
    assert "2026-03-02" in error["message"] and "2025-01-02" in error["message"]


def test_vm_routes_refuse_disk_only_api_versions(emulator, group):
    path = (
        f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines"
    )
    assert raw(emulator, "GET", path, params={"api-version": "2026-04-01"}).status_code == 200
    response = raw(emulator, "GET", path, params={"api-version": "2026-03-02"})
    assert response.json()["error"]["code"] == "InvalidApiVersionParameter"


def test_request_ids_on_every_response_and_correlation_echoed(emulator, group):
    response = raw(
        emulator,
        "GET",
        DISKS,
        headers={
            "Authorization": "Bearer x",
            "x-ms-correlation-request-id": "corr-1",
            "x-ms-client-request-id": "client-1",
        },
        params={"api-version": "2025-01-02"},
    )
    assert response.headers["x-ms-correlation-request-id"] == "corr-1"
    assert response.headers["x-ms-client-request-id"] == "client-1"
    first = response.headers["x-ms-request-id"]
    again = raw(emulator, "GET", DISKS, params={"api-version": "2025-01-02"})
    assert again.headers["x-ms-request-id"] not in ("", first)
    assert again.headers["x-ms-correlation-request-id"]
    # Errors and unauthenticated requests carry them too.
    for response in (raw(emulator, "GET", DISKS), raw(emulator, "GET", DISKS, headers={})):
        assert response.headers["x-ms-request-id"]
        assert response.headers["x-ms-correlation-request-id"]


def test_ratelimit_headers_on_every_arm_response(emulator, group):
    response = raw(emulator, "GET", DISKS + "/nope", params={"api-version": "2025-01-02"})
    assert response.status_code == 404
    for kind in ("reads", "writes", "deletes"):
        assert int(response.headers[f"x-ms-ratelimit-remaining-subscription-{kind}"]) >= 0
    assert (
        "Microsoft.Compute/LowCostGet3Min;" in response.headers["x-ms-ratelimit-remaining-resource"]
    )


def test_not_found_errors_are_typed(compute: ComputeManagementClient, group):
    with pytest.raises(ResourceNotFoundError) as info:
        compute.disks.get(group, "missing")
    assert info.value.error.code == "ResourceNotFound"
    assert "Microsoft.Compute/disks/missing" in info.value.error.message
    with pytest.raises(ResourceNotFoundError) as info:
        compute.disks.get("no-such-group", "missing")
    assert info.value.error.code == "ResourceGroupNotFound"


def test_unknown_resource_type_and_method(emulator, group):
    path = f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/galaxies/x"
    response = raw(emulator, "GET", path, params={"api-version": "2025-01-02"})
    assert (response.status_code, response.json()["error"]["code"]) == (
        404,
        "InvalidResourceType",
    )
    response = raw(emulator, "POST", DISKS + "/d1", params={"api-version": "2025-01-02"})
    assert response.status_code == 405


def test_invalid_body_is_a_400_with_target(emulator, group):
    response = raw(
        emulator,
        "PUT",
        DISKS + "/d1",
        params={"api-version": "2025-01-02"},
        json={"location": "eastus", "properties": {"creationData": {"createOption": "Empty"}}},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidParameter"
    assert error["target"] == "properties.diskSizeGB"
    broken = raw(emulator, "PUT", DISKS + "/d1", params={"api-version": "2025-01-02"}, data="{")
    assert broken.json()["error"]["code"] == "InvalidRequestContent"


def test_lro_headers_and_operation_status_resource(emulator, control, group):
    control.config(lroSeconds={"Disks_CreateOrUpdate": 600})
    response = raw(
        emulator, "PUT", DISKS + "/slow", params={"api-version": "2025-01-02"}, json=disk_body()
    )
    assert response.status_code == 202
    assert response.json()["properties"]["provisioningState"] == "Updating"
    status_url = response.headers["Azure-AsyncOperation"]
    location_url = response.headers["Location"]
    assert f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/eastus/operations/" in (
        status_url
    )
    assert "monitor=true" in location_url and "api-version=" in location_url
    # 600 world seconds = 1 real second at scale 600, capped at 30 world seconds per poll.
    assert 40 <= int(response.headers["retry-after-ms"]) <= 60
    assert "Retry-After" not in response.headers  # would round to 0: left to retry-after-ms

    status = requests.get(
        status_url, headers={"Authorization": "Bearer x"}, verify=emulator.ca_path
    )
    body = status.json()
    assert status.status_code == 200
    assert body["status"] == "InProgress" and body["name"] and body["startTime"]
    assert "endTime" not in body
    pending = requests.get(
        location_url, headers={"Authorization": "Bearer x"}, verify=emulator.ca_path
    )
    assert pending.status_code == 202

    def done():
        result = requests.get(
            status_url, headers={"Authorization": "Bearer x"}, verify=emulator.ca_path
        ).json()
        return result if result["status"] == "Succeeded" else None

    from tests.emulator.support import wait_until

    final = wait_until(done)
    assert final["endTime"] >= final["startTime"]
    disk = raw(emulator, "GET", DISKS + "/slow", params={"api-version": "2025-01-02"}).json()
    assert disk["properties"]["provisioningState"] == "Succeeded"


def test_delete_of_missing_resource_is_204(emulator, group):
    response = raw(emulator, "DELETE", DISKS + "/none", params={"api-version": "2025-01-02"})
    assert response.status_code == 204


def test_paging_walks_every_page(compute: ComputeManagementClient, emulator, group):
    names = [f"disk-{i:02d}" for i in range(8)]
    pollers = [compute.disks.begin_create_or_update(group, n, disk_body()) for n in names]
    for poller in pollers:
        poller.result()
    first = raw(emulator, "GET", DISKS, params={"api-version": "2025-01-02"}).json()
    assert len(first["value"]) == 3 and "nextLink" in first
    assert "$skiptoken=" in first["nextLink"] and "api-version=" in first["nextLink"]
    assert sorted(d.name for d in compute.disks.list_by_resource_group(group)) == names
    assert sorted(d.name for d in compute.disks.list()) == names


def test_page_size_is_configurable(compute, control, group):
    for i in range(4):
        compute.disks.begin_create_or_update(group, f"d{i}", disk_body()).result()
    control.config(pageSize=100)
    pages = list(compute.disks.list_by_resource_group(group).by_page())
    assert len(pages) == 1


def test_lro_of_60_world_seconds_takes_a_tenth_of_a_second_at_scale_600(compute, control, group):
    control.config(lroSeconds={"Disks_CreateOrUpdate": 60})
    started = time.monotonic()
    disk = compute.disks.begin_create_or_update(group, "timed", disk_body()).result()
    elapsed = time.monotonic() - started
    assert disk.properties.provisioning_state == "Succeeded"
    assert 0.09 <= elapsed < 1.5, elapsed


def test_disk_rp_lros_carry_no_polling_hints_unless_in_fast_mode():
    """Azure's DiskRP answers 202 with Location + Azure-AsyncOperation and no Retry-After
    (azure-powershell#11464); the hints are the emulator's opt-in fast mode. At scale 1 a
    hint is whole real seconds."""
    with EmulatorServer(time_scale=1.0) as emu:
        assert emu.control is not None
        assert emu.control.config()["lroHints"] is False
        client = make_compute(emu)
        from tests.emulator.support import make_resources

        make_resources(emu).resource_groups.create_or_update("rg-test", {"location": "eastus"})
        params = {"api-version": "2025-01-02"}
        response = raw(emu, "PUT", DISKS + "/d", params=params, json=disk_body())
        assert response.status_code == 202
        assert "Azure-AsyncOperation" in response.headers and "Location" in response.headers
        assert "Retry-After" not in response.headers
        assert "retry-after-ms" not in response.headers
        status = raw(emu, "GET", response.headers["Azure-AsyncOperation"].split(emu.url)[1])
        assert status.json()["status"] == "InProgress"
        assert "Retry-After" not in status.headers and "retry-after-ms" not in status.headers

        emu.control.config(lroHints=True)
        response = raw(emu, "PUT", DISKS + "/e", params=params, json=disk_body())
        assert response.status_code == 202
        assert int(response.headers["Retry-After"]) >= 1
        # The default disk creation takes 3 world seconds = 3 real seconds here.
        assert int(response.headers["retry-after-ms"]) <= 3000
        assert client.disks.get("rg-test", "d").name == "d"


def test_failed_lro_raises_with_the_azure_code(compute, control, group):
    control.config(limits={"incrementalSnapshotsPerDisk": 1})
    disk = compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    body = {
        "location": "eastus",
        "properties": {
            "creationData": {"createOption": "Copy", "sourceResourceId": disk.id},
            "incremental": True,
        },
    }
    compute.snapshots.begin_create_or_update(group, "s1", body).result()
    with pytest.raises(HttpResponseError) as info:
        compute.snapshots.begin_create_or_update(group, "s2", body).result()
    assert info.value.error.code == "SnapshotsLimitReached"
