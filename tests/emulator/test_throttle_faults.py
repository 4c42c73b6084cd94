"""Throttling (ARM token buckets) and injected faults, seen through the SDK's own policies."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ServiceResponseTimeoutError,
)

from emulator.harness import ControlError
from tests.emulator.support import SUB, disk_body, make_compute

DISKS = f"/subscriptions/{SUB}/resourceGroups/rg-test/providers/Microsoft.Compute/disks"


def jwt(oid: str) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return (
        f"{part({'alg': 'none'})}.{part({'oid': oid, 'aud': 'https://management.azure.com'})}.sig"
    )


def get(emulator, path: str, token: str = "x") -> requests.Response:
    return requests.get(
        emulator.url + path,
        params={"api-version": "2025-01-02"},
        headers={"Authorization": f"Bearer {token}"},
        verify=emulator.ca_path,
        timeout=10,
    )


def test_sdk_retry_policy_absorbs_a_429(emulator, control, compute, group):
    compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    gets_before = control.stats()["requests"]["Disks_Get"]  # the LRO's final GET
    # 2 reads of burst, refilled at 0.06 per world second: ~28 ms real per token at scale 600.
    control.config(throttle=True, buckets={"reads": {"burst": 2, "rate": 0.06}})
    for _ in range(6):
        assert compute.disks.get(group, "d").name == "d"
    stats = control.stats()
    assert stats["throttled"] >= 1
    assert stats["statuses"]["429"] == stats["throttled"]
    assert stats["requests"]["Disks_Get"] == gets_before + 6 + stats["throttled"]


def test_429_body_headers_and_buckets_per_principal(emulator, control, group):
    # Refill one read per 1000 world seconds (~1.7 real seconds): stays empty during the test.
    control.config(throttle=True, buckets={"reads": {"burst": 3, "rate": 0.001}})
    alice, bob = jwt("alice-oid"), jwt("bob-oid")
    remaining = [
        int(get(emulator, DISKS, alice).headers["x-ms-ratelimit-remaining-subscription-reads"])
        for _ in range(3)
    ]
    assert remaining == [2, 1, 0]
    refused = get(emulator, DISKS, alice)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "TooManyRequests"
    assert int(refused.headers["retry-after-ms"]) > 0
    assert "Retry-After" in refused.headers  # ~1.7 real seconds: whole seconds given
    # Another principal (a different oid) has its own bucket; writes have theirs.
    assert get(emulator, DISKS, bob).status_code == 200
    put = requests.put(
        emulator.url + DISKS + "/d",
        params={"api-version": "2025-01-02"},
        headers={"Authorization": f"Bearer {alice}"},
        json=disk_body(),
        verify=emulator.ca_path,
        timeout=10,
    )
    assert put.status_code in (200, 202)
    assert int(put.headers["x-ms-ratelimit-remaining-subscription-writes"]) == 199


def test_non_jwt_tokens_are_principals_by_hash(emulator, control, group):
    control.config(throttle=True, buckets={"reads": {"burst": 1, "rate": 0.001}})
    assert get(emulator, DISKS, "token-one").status_code == 200
    assert get(emulator, DISKS, "token-one").status_code == 429
    assert get(emulator, DISKS, "token-two").status_code == 200


def test_buckets_count_but_do_not_refuse_when_throttling_is_off(emulator, control, group):
    control.config(buckets={"reads": {"burst": 1, "rate": 0.001}})
    first, second = get(emulator, DISKS), get(emulator, DISKS)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.headers["x-ms-ratelimit-remaining-subscription-reads"] == "0"


def test_refill_follows_the_world_clock(emulator, control, group):
    # 1 token per 60 world seconds = 0.1 real seconds at scale 600.
    control.config(throttle=True, buckets={"reads": {"burst": 1, "rate": 1 / 60}})
    assert get(emulator, DISKS).status_code == 200
    assert get(emulator, DISKS).status_code == 429
    deadline = time.monotonic() + 10
    while get(emulator, DISKS).status_code == 429:
        assert time.monotonic() < deadline


def test_injected_fault_by_method_and_path_with_count(emulator, control, compute, group):
    control.faults(
        [{"method": "PUT", "path": r"/disks/", "status": 409, "code": "Conflict", "count": 1}]
    )
    with pytest.raises(ResourceExistsError) as info:
        compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    assert info.value.error.code == "Conflict"
    # The count is spent: the next PUT goes through; GETs never matched.
    assert compute.disks.begin_create_or_update(group, "d", disk_body()).result().name == "d"
    assert control.stats()["faultsInjected"] == 1
    assert control.clear_faults() == {"rules": []}


def test_injected_503_is_retried_by_the_sdk(emulator, control, compute, group):
    compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    control.faults([{"method": "GET", "path": "/disks/d$", "status": 503, "count": 2}])
    assert compute.disks.get(group, "d").name == "d"  # two 503s absorbed by the retry policy
    assert control.stats()["statuses"]["503"] == 2


def test_injected_fault_with_probability(emulator, control, compute, group):
    compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    control.faults([{"path": "/disks/d$", "status": 500, "code": "Boom", "probability": 0.0}])
    for _ in range(5):
        compute.disks.get(group, "d")
    control.faults([{"path": "/disks/d$", "status": 400, "code": "Boom", "probability": 1.0}])
    with pytest.raises(HttpResponseError) as info:
        compute.disks.get(group, "d")
    assert info.value.error.code == "Boom"


def test_injected_latency(emulator, control, compute, group):
    compute.disks.begin_create_or_update(group, "d", disk_body()).result()
    control.faults([{"method": "GET", "path": "/disks/d$", "latencyMs": 300}])
    started = time.monotonic()
    compute.disks.get(group, "d")
    assert time.monotonic() - started >= 0.3
    client = make_compute(emulator, connection_timeout=5, read_timeout=0.1, retry_total=0)
    with pytest.raises(ServiceResponseTimeoutError):
        client.disks.get(group, "d")


def test_fault_rules_are_validated(control):
    with pytest.raises(ControlError) as info:
        control.faults([{"path": "x", "status": 429, "colour": "red"}])
    assert info.value.status == 400
    assert "colour" in info.value.body["error"]["message"]
    with pytest.raises(ControlError):
        control.faults([{"path": "(", "status": 500}])


def test_rate_headers_on_faulted_and_refused_answers(emulator, control, group):
    control.faults([{"method": "GET", "path": "/disks$", "status": 503, "count": 1}])
    faulted = get(emulator, DISKS)
    assert faulted.status_code == 503
    assert "x-ms-ratelimit-remaining-subscription-reads" in faulted.headers
    bad_version = requests.get(
        emulator.url + DISKS,
        params={"api-version": "1999-01-01"},
        headers={"Authorization": "Bearer x"},
        verify=emulator.ca_path,
        timeout=10,
    )
    assert bad_version.status_code == 400
    assert "x-ms-ratelimit-remaining-subscription-writes" in bad_version.headers


def test_a_403_fault_answers_azures_authorization_failed_shape(compute, control, group):
    control.faults([{"method": "PUT", "path": r"/snapshots/", "status": 403}])
    body = {"location": "eastus", "properties": {"creationData": {"createOption": "Empty"}}}
    with pytest.raises(HttpResponseError) as denied:
        compute.snapshots.begin_create_or_update(group, "s", body).result()
    assert denied.value.status_code == 403
    assert denied.value.error.code == "AuthorizationFailed"
    message = denied.value.error.message
    assert "does not have authorization to perform action 'Microsoft.Compute/snapshots/write'" in (
        message
    )
    assert f"over scope '/subscriptions/{SUB}/resourceGroups/rg-test/providers/" in message


def test_a_policy_denial_fault_carries_the_policy_violation(emulator, control, group):
    control.faults(
        [{"method": "PUT", "path": r"/disks/", "status": 403, "code": "RequestDisallowedByPolicy"}]
    )
    response = requests.put(
        emulator.url + DISKS + "/denied",
        params={"api-version": "2025-01-02"},
        headers={"Authorization": "Bearer x"},
        json=disk_body(),
        verify=emulator.ca_path,
        timeout=10,
    )
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "RequestDisallowedByPolicy" and error["target"] == "denied"
    assert "was disallowed by policy" in error["message"]
    (info,) = error["additionalInfo"]
    assert info["type"] == "PolicyViolation"
    assert info["info"]["policyDefinitionEffect"] == "deny"


@pytest.mark.parametrize(
    ("tags", "code"),
    [
        ({f"t{n}": "v" for n in range(51)}, "InvalidTagCount"),
        ({"a<b": "v"}, "InvalidTagName"),
        ({"x" * 513: "v"}, "InvalidTagName"),
        ({"env": "v" * 257}, "InvalidTagValueLength"),
        ({"Env": "a", "env": "b"}, "InvalidTagName"),
    ],
)
def test_tag_rules(compute, group, tags, code):
    with pytest.raises(HttpResponseError) as refused:
        compute.disks.begin_create_or_update(group, "d", {**disk_body(), "tags": tags}).result()
    assert refused.value.status_code == 400 and refused.value.error.code == code


def test_fifty_tags_of_full_length_are_accepted(compute, group):
    tags = {f"{n:02d}" + "k" * 510: "v" * 256 for n in range(50)}
    disk = compute.disks.begin_create_or_update(group, "d", {**disk_body(), "tags": tags}).result()
    assert disk.tags == tags


def test_computes_per_resource_policies_are_enforced_naming_the_policy(compute, control, group):
    """With throttling on, a request over one of Compute's policies answers Compute's 429
    (``OperationNotAllowed`` with a ``TooManyRequests`` detail whose target is the policy);
    the refusal does not count, and ``Retry-After`` says when the window frees a slot."""
    control.config(throttle=True, resourceLimits={"CreateUpdateDisks": [1, 100]})
    compute.disks.begin_create_or_update(group, "d1", disk_body()).result()
    response = requests.put(
        emulator_url(control) + DISKS + "/d2",
        params={"api-version": "2025-01-02"},
        headers={"Authorization": "Bearer x"},
        json=disk_body(),
        verify=control.ca_path,
        timeout=10,
    )
    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "OperationNotAllowed"
    (detail,) = error["details"]
    assert detail["code"] == "TooManyRequests" and detail["target"] == "CreateUpdateDisks3Min"
    assert json.loads(detail["message"])["allowedRequestCount"] == 1
    assert "retry-after-ms" in response.headers
    stats = control.stats()
    assert stats["throttled"] == 1
    # Reads have their own policy: still answered, reporting the write window as full.
    assert compute.disks.get(group, "d1").name == "d1"


def emulator_url(control) -> str:
    return control.url
