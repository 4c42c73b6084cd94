"""The HTTP API on the twin: bad requests get clear 4xx JSON errors (400 malformed, 404 not
found, 422 not possible), an on-demand backup answers 202 with the durable status URLs and
completes, and the read endpoints (run status, recovery points, compliance) answer. Every
function needs the function key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from diskdr.naming import format_slot
from tests.e2e.conftest import (
    POLICIES,
    PRIMARY_REGION,
    REPLICA_REGION,
    TwinRun,
    disk_outcomes,
    estate,
    problems,
    start_twin,
    vm,
)
from twin.harness import SUBSCRIPTION

pytestmark = pytest.mark.slow

ESTATE = estate(
    {
        "rg-app": [
            vm("vm-h1", "e2e", data=[(0, "Premium_LRS")]),
            vm("vm-h2", "none"),  # selected by no policy
            vm("vm-h3", "silver"),  # selected by a policy that has not run
        ]
    }
)
# A disk attached to no VM (a policy taking VM restore points cannot back it up).
ESTATE["subscriptions"][0]["resourceGroups"][0]["disks"] = [{"name": "loose", "sizeGB": 32}]
OTHER_SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"
GROUP = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-app/providers/Microsoft.Compute"
MISSING_VM = f"{GROUP}/virtualMachines/vm-missing"
MISSING_DISK = f"{GROUP}/disks/disk-missing"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinRun]:
    """A twin whose one scheduled slot has completed (so there are points to read)."""
    state_dir = tmp_path_factory.mktemp("http")
    with start_twin(state_dir, ESTATE, 1, template=POLICIES / "http.yaml") as twin_run:
        report = twin_run.wait_cycle(twin_run.slots[0])
        assert report["phase"] == "Completed", problems(report)
        yield twin_run


def vm_id(name: str) -> str:
    return f"{GROUP}/virtualMachines/{name}"


def disk_id(name: str) -> str:
    return f"{GROUP}/disks/{name}"


def assert_error(answer: tuple[int, Any], status: int, code: str | None = None) -> dict:
    """The answer is ``status`` with a JSON ``{"error": {"code", "message"}}`` body."""
    got, body = answer
    assert got == status, body
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str) and len(error["message"]) > 10, body
    if code is not None:
        assert error["code"] == code, body
    return error


# --- authorization -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/backups"),
        ("GET", "/api/backups/some-instance"),
        ("GET", f"/api/recovery-points?vmId={vm_id('vm-h1')}"),
        ("GET", "/api/compliance"),
        ("GET", "/api/openapi.json"),
    ],
)
def test_every_function_needs_the_function_key(run: TwinRun, method: str, path: str):
    host = run.twin.host
    assert host is not None
    body = {"vmIds": [vm_id("vm-h1")]} if method == "POST" else None
    assert host.request(method, path, body)[0] == 401
    assert host.request(method, path, body, key="not-the-key")[0] == 401


# --- POST /api/backups: 400 ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "InvalidRequest"),
        (b"{not json", "InvalidJson"),
        (b'["/subscriptions/x"]', "InvalidRequest"),
    ],
    ids=["empty", "not-json", "not-an-object"],
)
def test_unreadable_bodies_are_400(run: TwinRun, raw: bytes, code: str):
    assert_error(run.twin.http("POST", "/api/backups", raw=raw), 400, code)


@pytest.mark.parametrize(
    ("body", "code", "target"),
    [
        ({}, "InvalidRequest", None),
        ({"vmIds": [vm_id("vm-h1")], "diskIds": [disk_id("vm-h1-osdisk")]}, "InvalidRequest", None),
        ({"vmIds": vm_id("vm-h1")}, "InvalidRequest", "vmIds"),
        ({"vmIds": []}, "InvalidRequest", "vmIds"),
        ({"vmIds": [vm_id("vm-h1")], "force": True}, "InvalidRequest", "force"),
        ({"vmIds": [vm_id("vm-h1")], "policy": 7}, "InvalidRequest", "policy"),
        ({"vmIds": ["vm-h1"]}, "InvalidResourceId", "vmIds[0]"),
        ({"vmIds": [vm_id("vm-h1"), 42]}, "InvalidResourceId", "vmIds[1]"),
        ({"vmIds": [disk_id("vm-h1-osdisk")]}, "InvalidResourceId", "vmIds[0]"),
        ({"diskIds": [vm_id("vm-h1")]}, "InvalidResourceId", "diskIds[0]"),
        (
            {"vmIds": [vm_id("vm-h1").replace(SUBSCRIPTION, "not-a-guid")]},
            "InvalidResourceId",
            "vmIds[0]",
        ),
    ],
    ids=[
        "no-ids",
        "both-kinds",
        "ids-not-a-list",
        "empty-list",
        "unknown-field",
        "policy-not-a-name",
        "bare-name",
        "not-a-string",
        "disk-as-vm",
        "vm-as-disk",
        "bad-subscription",
    ],
)
def test_malformed_requests_are_400(run: TwinRun, body: dict, code: str, target: str | None):
    error = assert_error(run.twin.http("POST", "/api/backups", body), 400, code)
    if target is not None:
        assert error.get("target") == target


# --- POST /api/backups: 404 and 422 ------------------------------------------------------------
def test_a_vm_or_disk_that_does_not_exist_is_404(run: TwinRun):
    error = assert_error(
        run.twin.http("POST", "/api/backups", {"vmIds": [vm_id("vm-h1"), MISSING_VM]}), 404
    )
    assert error["target"] == "vmIds[1]" and "vm-missing" in error["message"]
    error = assert_error(run.twin.http("POST", "/api/backups", {"diskIds": [MISSING_DISK]}), 404)
    assert error["target"] == "diskIds[0]"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"vmIds": [vm_id("vm-h1").replace(SUBSCRIPTION, OTHER_SUBSCRIPTION)]},
            "SubscriptionNotInScope",
        ),
        ({"vmIds": [vm_id("vm-h1")], "policy": "platinum"}, "UnknownPolicy"),
        ({"vmIds": [vm_id("vm-h2")]}, "NoPolicyMatches"),
        ({"diskIds": [disk_id("loose")], "policy": "rp"}, "NotAttachedToVm"),
        ({"vmIds": [vm_id("vm-h1"), vm_id("vm-h3")]}, "AmbiguousPolicy"),
    ],
    ids=[
        "subscription-not-configured",
        "unknown-policy",
        "no-policy-matches",
        "restore-points-need-a-vm",
        "two-policies",
    ],
)
def test_requests_that_cannot_be_honoured_are_422(run: TwinRun, body: dict, code: str):
    assert_error(run.twin.http("POST", "/api/backups", body), 422, code)


def test_refused_requests_start_nothing(run: TwinRun):
    host = run.twin.host
    assert host is not None
    before = {s.instance_id for s in host.run(host.client().get_status_all())}
    run.twin.http("POST", "/api/backups", {"vmIds": [vm_id("vm-h2")]})
    run.twin.http("POST", "/api/backups", {"vmIds": [MISSING_VM]})
    after = {s.instance_id for s in host.run(host.client().get_status_all())}
    assert after == before


# --- POST /api/backups: 202, then GET /api/backups/{id} ---------------------------------------
def wait_for_run(run: TwinRun, instance_id: str) -> dict[str, Any]:
    """Poll ``GET /api/backups/{id}`` until the run has ended; its last answer."""
    host = run.twin.host
    assert host is not None

    def ended() -> dict[str, Any] | None:
        status, body = run.twin.http("GET", f"/api/backups/{instance_id}")
        assert status == 200, body
        return body if body["runtimeStatus"] in ("Completed", "Failed", "Terminated") else None

    return host.wait_until(ended, timeout=120, what=f"{instance_id} to end")


def test_an_on_demand_backup_of_a_vm_is_accepted_and_completes(run: TwinRun):
    host = run.twin.host
    assert host is not None
    status, body, headers = host.request_full(
        "POST", "/api/backups", {"vmIds": [vm_id("vm-h1")]}, key=host.function_key
    )
    assert status == 202, body
    # diskdr's own status URL, in the body and in Location; no durable webhook, no key.
    assert body["statusUrl"] == f"{host.url}/api/backups/{body['id']}"
    assert headers["Location"] == body["statusUrl"] and int(headers["Retry-After"]) > 0
    answer = json.dumps(body) + json.dumps(dict(headers))
    assert "/runtime/webhooks/" not in answer and "code=" not in answer
    assert host.master_key not in answer and host.function_key not in answer
    assert host.request("GET", body["statusUrl"], key=host.function_key)[0] == 200
    assert host.request("GET", body["statusUrl"])[0] == 401
    assert body["policy"] == "e2e"
    assert [entry["id"] for entry in body["vms"]] == [vm_id("vm-h1")]
    assert sorted(body["vms"][0]["disks"]) == [disk_id("vm-h1-data-0"), disk_id("vm-h1-osdisk")]

    answer = wait_for_run(run, body["id"])
    assert answer["runtimeStatus"] == "Completed"
    report = answer["output"]
    assert report["trigger"] == "on-demand" and report["slot"] == body["slot"]
    assert report["phase"] == "Completed", problems(report)
    assert report["summary"]["replicated"] == 2
    # The audit trail: each Azure write of the run with its request id (two points, two
    # CopyStarts; no pruning on demand).
    writes = [(w["method"], w["resource"].rsplit("/", 2)[-2], w["status"]) for w in report["audit"]]
    assert sorted(writes) == [("PUT", "snapshots", 202)] * 4, report["audit"]
    assert all(len(w["requestId"]) == 36 for w in report["audit"]), report["audit"]
    replicas = {disk["replica"]["name"] for disk in report["vms"][0]["disks"]}
    assert {w["resource"].rsplit("/", 1)[1] for w in report["audit"]} >= replicas


def test_an_on_demand_backup_of_one_disk_takes_only_that_disk(run: TwinRun):
    status, body = run.twin.http("POST", "/api/backups", {"diskIds": [disk_id("vm-h1-data-0")]})
    assert status == 202, body
    assert body["vms"] == [{"id": vm_id("vm-h1"), "disks": [disk_id("vm-h1-data-0")]}]
    report = wait_for_run(run, body["id"])["output"]
    assert [o["diskName"] for o in disk_outcomes(report)] == ["vm-h1-data-0"]
    assert report["phase"] == "Completed", problems(report)


def test_an_unknown_backup_run_is_404(run: TwinRun):
    assert_error(run.twin.http("GET", "/api/backups/no-such-run"), 404, "InstanceNotFound")


# --- GET /api/recovery-points ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),
        ("?vmId=", 400),
        ("?vmId=vm-h1", 400),
        (f"?vmId={disk_id('vm-h1-osdisk')}", 400),
        (f"?vmId={vm_id('vm-h1').replace(SUBSCRIPTION, OTHER_SUBSCRIPTION)}", 422),
    ],
    ids=["missing", "empty", "bare-name", "a-disk", "subscription-not-configured"],
)
def test_recovery_points_need_a_valid_vm_id(run: TwinRun, query: str, status: int):
    assert_error(run.twin.http("GET", f"/api/recovery-points{query}"), status)


def test_recovery_points_of_a_vm_list_both_regions(run: TwinRun):
    status, body = run.twin.http("GET", f"/api/recovery-points?vmId={vm_id('vm-h1')}")
    assert status == 200, body
    scheduled = [g for g in body["groups"] if g["slot"] == format_slot(run.slots[0])]
    assert {(g["region"], g["role"]) for g in scheduled} == {
        (PRIMARY_REGION, "primary"),
        (REPLICA_REGION, "replica"),
    }
    assert all(g["points"] == 2 and g["usable"] == 2 for g in scheduled)
    assert all(p["vmId"] == vm_id("vm-h1").lower() for p in body["points"])


# --- GET /api/compliance -----------------------------------------------------------------------
def test_compliance_reports_each_protected_vm(run: TwinRun):
    status, body = run.twin.http("GET", "/api/compliance")
    assert status == 200, body
    statuses = {entry["vmName"]: entry["status"] for entry in body["vms"]}
    assert statuses == {"vm-h1": "OK", "vm-h3": "UNPROTECTED"}
    assert body["summary"]["OK"] == 1 and body["summary"]["UNPROTECTED"] == 1
    assert_error(run.twin.http("GET", "/api/compliance?status=GREEN"), 400)


def test_no_platform_limit_was_violated(run: TwinRun):
    assert run.stats()["limitViolations"] == []


# --- GET /api/openapi.json ---------------------------------------------------------------------
def test_the_openapi_document_names_this_host_and_every_route(run: TwinRun):
    host = run.twin.host
    assert host is not None
    status, document = run.twin.http("GET", "/api/openapi.json")
    assert status == 200, document
    assert document["servers"] == [{"url": host.url}]
    assert {"/api/backups", "/api/backups/{instanceId}", "/api/compliance"} <= set(
        document["paths"]
    )
