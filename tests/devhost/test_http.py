"""HTTP triggers, auth, settings, keys and the Event Grid webhook under devhost."""

from __future__ import annotations

import json
import time

import pytest

from devhost.testing import DevHost
from tests.devhost.conftest import basic_env, copy_app

pytestmark = pytest.mark.slow

SCALE = 60


@pytest.fixture(scope="module")
def host(tmp_path_factory, basic_files):
    app_dir = copy_app("basic", tmp_path_factory.mktemp("http"))
    with DevHost(app_dir, time_scale=SCALE, env=basic_env(basic_files)) as running:
        yield running


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_ready_line_and_keys_file(host):
    assert host.url.startswith("http://127.0.0.1:")
    keys = json.loads((host.state_dir / "keys.json").read_text())
    assert keys["functionKeys"]["default"] == host.function_key
    assert keys["masterKey"] == host.master_key


def test_function_level_needs_a_key(host):
    assert host.request("POST", "/api/start/sequence", 1)[0] == 401
    assert host.request("POST", "/api/start/sequence", 1, key="wrong")[0] == 401
    status, body = host.request("POST", "/api/start/sequence", 1, key=host.function_key)
    assert status == 202 and body["id"]
    status, _ = host.request(
        "POST", "/api/start/sequence", 1, headers={"x-functions-key": host.function_key}
    )
    assert status == 202
    assert host.request("POST", "/api/start/sequence", 1, key=host.master_key)[0] == 202


def test_admin_level_needs_the_master_key(host):
    assert host.request("GET", "/api/admin-only", key=host.function_key)[0] == 401
    assert host.request("GET", "/api/admin-only", key=host.master_key) == (200, "admin ok")


def test_anonymous_is_open_and_settings_reach_the_app(host):
    status, body = host.request("GET", "/api/open")
    assert status == 200
    assert body["greeting"] == "hello from local settings"
    assert body["overridden"] == "from the environment"  # the environment wins
    world = host.clock_anchor + (time.time() - host.clock_anchor) * SCALE
    assert abs(body["worldNow"] - world) < SCALE * 10  # diskdr.clock agrees with devhost


def test_route_parameters_constraints_and_methods(host):
    assert host.request("GET", "/api/items/42") == (200, {"id": "42"})
    assert host.request("GET", "/api/items/42/blue") == (200, {"id": "42", "label": "blue"})
    assert host.request("GET", "/api/items/forty-two")[0] == 404
    assert host.request("POST", "/api/items/42", {})[0] == 405
    assert host.request("GET", "/api/nothing-here")[0] == 404


def test_function_exception_is_500(host):
    assert host.request("GET", "/api/boom")[0] == 500


def test_check_status_urls_work_when_followed(host):
    status, urls = host.request("POST", "/api/start/two_events", key=host.function_key)
    assert status == 202
    instance_id = urls["id"]
    for name in (
        "statusQueryGetUri",
        "sendEventPostUri",
        "terminatePostUri",
        "purgeHistoryDeleteUri",
    ):
        assert urls[name].startswith(host.url + "/runtime/webhooks/durabletask/")
        assert "code=" in urls[name] and "taskHub=devhosttest" in urls[name]
    code, body = host.request("GET", urls["statusQueryGetUri"])
    assert code == 202 and body["runtimeStatus"] in ("Pending", "Running")
    raise_a = urls["sendEventPostUri"].replace("{eventName}", "a")
    assert host.request("POST", raise_a, "one")[0] == 202
    assert host.request("POST", urls["sendEventPostUri"].replace("{eventName}", "b"), 2)[0] == 202
    host.wait_for(instance_id)
    code, body = host.request("GET", urls["statusQueryGetUri"])
    assert code == 200 and body["output"] == ["one", 2]
    assert host.request("POST", raise_a, "late")[0] == 410
    assert host.request("POST", urls["terminatePostUri"].replace("{text}", "x"))[0] == 410
    assert host.request("DELETE", urls["purgeHistoryDeleteUri"]) == (200, {"instancesDeleted": 1})
    assert host.request("GET", urls["statusQueryGetUri"])[0] == 404
    # The webhook form of the API needs the key the URLs carry.
    bare = urls["statusQueryGetUri"].split("?")[0]
    assert host.request("GET", bare)[0] == 401


def test_terminate_url_with_reason(host):
    code, urls = host.request("POST", "/api/start/forever", key=host.function_key)
    assert code == 202
    host.wait_for(urls["id"], statuses=("Running",))
    assert host.request("POST", urls["terminatePostUri"].replace("{text}", "stop"))[0] == 202
    assert host.wait_for(urls["id"])["runtimeStatus"] == "Terminated"


def test_wait_for_completion_or_check_status_response(host):
    status, body = host.request("POST", "/api/run/sequence", 2)
    assert status == 200 and body["value"] == 16
    status, body = host.request("POST", "/api/run/failing", {})
    assert status == 500 and body["runtimeStatus"] == "Failed"


def test_admin_functions_lists_the_app(host):
    assert host.request("GET", "/admin/functions")[0] == 401
    status, listing = host.request("GET", "/admin/functions", key=host.master_key)
    names = {entry["name"] for entry in listing}
    assert status == 200 and {"start", "sequence", "double", "counter", "on_event"} <= names


def test_event_grid_handshake(host, basic_files):
    validation = [
        {
            "id": "v1",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "subject": "",
            "eventTime": "2024-01-01T00:00:00Z",
            "dataVersion": "1",
            "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
        }
    ]
    status, body = host.request(
        "POST",
        "/runtime/webhooks/eventgrid?functionName=on_event",
        validation,
        key=host.master_key,
        headers={"aeg-event-type": "SubscriptionValidation", "Content-Type": "application/json"},
    )
    assert status == 200
    assert body == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert lines(basic_files["events"]) == []


def test_event_grid_delivery_and_junk(host, basic_files):
    url = "/runtime/webhooks/eventgrid?functionName=on_event"
    events = [
        {
            "id": f"e{i}",
            "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "subject": f"/subscriptions/s/vm{i}",
            "eventTime": "2024-01-01T00:00:00Z",
            "dataVersion": "1",
            "data": {"operationName": "Microsoft.Compute/virtualMachines/write"},
        }
        for i in range(2)
    ]
    headers = {"aeg-event-type": "Notification", "Content-Type": "application/json"}
    assert host.request("POST", url, events, headers=headers)[0] == 401
    before = len(lines(basic_files["events"]))
    for junk in (b"not json", b"[]", b"[1, 2]", b'[{"id": "x"}]', b'{"specversion": "1.0"}'):
        assert host.request("POST", url, raw=junk, key=host.master_key, headers=headers)[0] == 400
    assert len(lines(basic_files["events"])) == before  # nothing invoked
    assert host.request("POST", url, events, key=host.master_key, headers=headers)[0] == 202
    cloud_event = {
        "specversion": "1.0",
        "id": "c1",
        "source": "/test",
        "type": "demo.happened",
        "subject": "thing",
        "time": "2024-01-01T00:00:00Z",
        "data": {"n": 1},
    }
    assert host.request("POST", url, cloud_event, key=host.master_key, headers=headers)[0] == 202
    delivered = lines(basic_files["events"])[before:]
    assert [e["id"] for e in delivered] == ["e0", "e1", "c1"]
    assert delivered[0]["type"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert delivered[1]["subject"] == "/subscriptions/s/vm1"
    assert (
        host.request(
            "POST",
            "/runtime/webhooks/eventgrid?functionName=nope",
            events,
            key=host.master_key,
            headers=headers,
        )[0]
        == 404
    )


def test_run_on_startup_timer_fired_once(host, basic_files):
    fired = host.wait_until(lambda: lines(basic_files["startup"]), what="startup timer")
    assert len(fired) == 1  # once at start; its yearly schedule is far away
    assert fired[0]["pastDue"] is False
    assert set(fired[0]["status"]) == {"Last", "Next", "LastUpdated"}


def test_devhost_function_key_variable_wins(tmp_path):
    app_dir = copy_app("basic", tmp_path)
    with DevHost(app_dir, env={"DEVHOST_FUNCTION_KEY": "fixed-test-key"}) as other:
        assert other.function_key == "fixed-test-key"
        assert other.request("POST", "/api/start/sequence", 1, key="fixed-test-key")[0] == 202
        assert other.stop() == 0  # SIGTERM stops it cleanly


def test_management_restart_and_purge_filter_checks(host):
    code, urls = host.request("POST", "/api/start/sequence", 3, key=host.function_key)
    assert code == 202
    assert host.wait_for(urls["id"])["output"]["value"] == 24
    code, new_id = host.request("POST", urls["restartPostUri"])
    assert code == 202 and new_id != urls["id"]
    assert host.wait_for(new_id)["output"]["value"] == 24  # the original input again
    assert host.request("DELETE", "/durabletask/instances/")[0] == 400  # no createdTimeFrom
    assert host.request("POST", urls["suspendPostUri"].replace("{text}", "x"))[0] == 501
