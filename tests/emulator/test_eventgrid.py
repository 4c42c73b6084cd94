"""Event Grid delivery to webhooks: the validation handshake, the system topic's events for VM
and disk changes, retries, filters, and delivery off the request path."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.emulator.support import SUB, disk_body, wait_until

APPS = Path(__file__).parent / "apps"
VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
WRITE = "Microsoft.Resources.ResourceWriteSuccess"
DELETE = "Microsoft.Resources.ResourceDeleteSuccess"
DATA_KEYS = {
    "authorization",
    "claims",
    "correlationId",
    "httpRequest",
    "resourceProvider",
    "resourceUri",
    "operationName",
    "status",
    "subscriptionId",
    "tenantId",
}


class Webhook:
    """A webhook on 127.0.0.1 that records what Event Grid posts and answers as told."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.validate = True  # answer the handshake with the code
        self.fail_with: list[int] = []  # statuses for the next notifications
        self.delay = 0.0  # seconds before answering a notification
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with hook.lock:
                    hook.received.append(
                        {"path": self.path, "headers": dict(self.headers), "events": body}
                    )
                event = body[0]
                if event["eventType"] == VALIDATION:
                    answer = {"validationResponse": event["data"]["validationCode"]}
                    self._answer(200, answer if hook.validate else {})
                    return
                time.sleep(hook.delay)
                with hook.lock:
                    status = hook.fail_with.pop(0) if hook.fail_with else 200
                self._answer(status, None)

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        port = self.server.server_address[1]
        # A devhost-style receiver URL: the query string must reach the webhook intact.
        self.url = (
            f"http://127.0.0.1:{port}/runtime/webhooks/eventgrid?functionName=vm_changed&code=k3y"
        )

    def notifications(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.received if r["events"][0]["eventType"] != VALIDATION]

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        return [
            r["events"][0]
            for r in self.notifications()
            if event_type is None or r["events"][0]["eventType"] == event_type
        ]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    try:
        yield hook
    finally:
        hook.stop()


def subscribe(control, webhook: Webhook, **options: Any) -> dict[str, Any]:
    subscription = control.events(webhook.url, **options)["subscription"]
    return wait_until(
        lambda: next(
            (
                s
                for s in control.event_subscriptions(subscription["id"])
                if s["provisioningState"] != "Creating"
            ),
            None,
        )
    )


def vm_body() -> dict[str, Any]:
    return {
        "location": "eastus",
        "properties": {
            "storageProfile": {"osDisk": {"createOption": "FromImage", "osType": "Linux"}},
            "networkProfile": {"networkInterfaces": [{"id": "nic-opaque"}]},
        },
    }


def test_vm_create_update_delete_are_delivered_in_the_system_topic_schema(
    compute, control, group, webhook
):
    subscription = subscribe(control, webhook)
    assert subscription["provisioningState"] == "Succeeded"
    [validation] = webhook.received
    assert validation["headers"]["aeg-event-type"] == "SubscriptionValidation"
    assert validation["path"] == "/runtime/webhooks/eventgrid?functionName=vm_changed&code=k3y"
    correlation = "7f1b1c9e-0000-4000-8000-00000000c0de"
    vm = compute.virtual_machines.begin_create_or_update(
        group, "vm-events", vm_body(), headers={"x-ms-correlation-request-id": correlation}
    ).result()
    compute.virtual_machines.begin_update(group, "vm-events", {"tags": {"tier": "gold"}}).result()
    compute.virtual_machines.begin_delete(group, "vm-events").result()
    wait_until(lambda: len(webhook.events()) == 3)
    created, updated, deleted = sorted(webhook.events(), key=lambda e: e["eventTime"])
    assert [created["eventType"], updated["eventType"], deleted["eventType"]] == [
        WRITE,
        WRITE,
        DELETE,
    ]
    for event in (created, updated, deleted):
        assert event["topic"] == f"/subscriptions/{SUB}"
        assert event["subject"] == vm.id
        assert event["dataVersion"] == "2" and event["metadataVersion"] == "1"
        assert datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
        assert set(event["data"]) >= DATA_KEYS
        assert event["data"]["resourceUri"] == vm.id
        assert event["data"]["subscriptionId"] == SUB
        assert event["data"]["resourceProvider"] == "Microsoft.Compute"
    assert created["data"]["operationName"] == "Microsoft.Compute/virtualMachines/write"
    assert created["data"]["correlationId"] == correlation
    assert created["data"]["httpRequest"]["method"] == "PUT"
    assert updated["data"]["httpRequest"]["method"] == "PATCH"
    assert deleted["data"]["operationName"] == "Microsoft.Compute/virtualMachines/delete"
    assert deleted["data"]["status"] == "Succeeded"
    for record in webhook.notifications():
        assert record["headers"]["aeg-event-type"] == "Notification"
        assert record["headers"]["aeg-delivery-count"] == "0"
        assert record["path"].endswith("functionName=vm_changed&code=k3y")
    # The webhook has them all; the emulator counts each once its answer is in.
    wait_until(
        lambda: (
            control.event_subscriptions(subscription["id"])[0]["delivery"]
            == {"delivered": 3, "failedAttempts": 0, "dropped": 0, "expired": 0, "pending": 0}
        )
    )


def test_disk_events_and_filters(compute, control, group, webhook):
    disks = f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/disks/"
    subscribe(control, webhook, includedEventTypes=[DELETE], subjectBeginsWith=disks)
    compute.disks.begin_create_or_update(group, "d1", disk_body()).result()
    compute.snapshots.begin_create_or_update(
        group,
        "s1",
        {
            "location": "eastus",
            "properties": {
                "creationData": {
                    "createOption": "Copy",
                    "sourceResourceId": compute.disks.get(group, "d1").id,
                }
            },
        },
    ).result()
    compute.snapshots.begin_delete(group, "s1").result()
    compute.disks.begin_delete(group, "d1").result()
    wait_until(lambda: webhook.events())
    [event] = webhook.events()  # only the disk's delete passed both filters
    assert event["eventType"] == DELETE and event["subject"].endswith("/disks/d1")


def test_the_handshake_is_required(compute, control, group, webhook):
    webhook.validate = False
    subscription = subscribe(control, webhook)
    assert subscription["provisioningState"] == "AwaitingManualAction"
    compute.disks.begin_create_or_update(group, "before", disk_body()).result()
    # Not validated: the change was announced and nothing was queued for this webhook.
    state = control.event_subscriptions(subscription["id"])[0]
    assert state["recentDeliveries"] == [] and state["delivery"]["pending"] == 0
    # The validation URL sent in the handshake event validates it by hand.
    validation_url = webhook.received[0]["events"][0]["data"]["validationUrl"]
    assert validation_url == subscription["validationUrl"]
    query = parse_qs(urlsplit(validation_url).query)
    assert query["id"] == [subscription["id"]]
    answer = requests.get(validation_url, verify=control.ca_path, timeout=10)
    assert answer.status_code == 200 and answer.json()["provisioningState"] == "Succeeded"
    compute.disks.begin_create_or_update(group, "after", disk_body()).result()
    wait_until(lambda: webhook.events())
    assert [e["subject"].rsplit("/", 1)[1] for e in webhook.events()] == ["after"]


def test_an_unvalidated_subscription_fails_after_ten_minutes(control, webhook):
    webhook.validate = False
    subscription = subscribe(control, webhook)
    wait_until(
        lambda: control.event_subscriptions(subscription["id"])[0]["provisioningState"] == "Failed"
    )


def test_a_failing_webhook_is_retried_and_a_bad_request_dropped(compute, control, group, webhook):
    subscription = subscribe(control, webhook)
    webhook.fail_with = [503, 500]
    compute.disks.begin_create_or_update(group, "d1", disk_body()).result()
    wait_until(
        lambda: any(r["headers"]["aeg-delivery-count"] == "2" for r in webhook.notifications())
    )
    counts = [r["headers"]["aeg-delivery-count"] for r in webhook.notifications()]
    assert counts == ["0", "1", "2"]  # the same event, attempt after attempt
    assert len({r["events"][0]["id"] for r in webhook.notifications()}) == 1
    state = wait_until(
        lambda: next(
            (
                s
                for s in control.event_subscriptions(subscription["id"])
                if s["delivery"]["delivered"] == 1
            ),
            None,
        )
    )
    assert state["delivery"]["failedAttempts"] == 2
    assert state["recentDeliveries"][0]["status"] == "Delivered"
    assert state["recentDeliveries"][0]["attempts"] == 3
    webhook.fail_with = [400]
    compute.disks.begin_delete(group, "d1").result()
    state = wait_until(
        lambda: next(
            (
                s
                for s in control.event_subscriptions(subscription["id"])
                if s["delivery"]["dropped"] == 1
            ),
            None,
        )
    )
    assert state["recentDeliveries"][-1]["status"] == "Dropped"
    assert state["recentDeliveries"][-1]["lastStatusCode"] == 400


def test_a_slow_webhook_never_slows_requests(compute, control, group, webhook):
    subscribe(control, webhook)
    webhook.delay = 3.0
    started = time.monotonic()
    for i in range(4):
        compute.disks.begin_create_or_update(group, f"d{i}", disk_body()).result()
    elapsed = time.monotonic() - started
    assert elapsed < 3.0  # four creates while the webhook is still answering the first
    wait_until(lambda: len(webhook.events()) == 4, timeout=30)


def test_unsubscribe_and_reset_stop_delivery(compute, control, group, webhook):
    subscription = subscribe(control, webhook)
    control.delete_events(subscription["id"])
    assert control.event_subscriptions() == []
    compute.disks.begin_create_or_update(group, "d1", disk_body()).result()
    subscribe(control, webhook)
    compute.disks.begin_create_or_update(group, "d2", disk_body()).result()
    wait_until(lambda: webhook.events())
    # Only the change made while subscribed was delivered.
    assert [e["subject"].rsplit("/", 1)[1] for e in webhook.events()] == ["d2"]
    control.reset()
    assert control.event_subscriptions() == []


@pytest.mark.slow
def test_devhost_receives_the_events_with_its_event_grid_key(compute, control, group, tmp_path):
    """A Functions app under devhost as the webhook: the subscription URL carries the
    function name and devhost's ``eventgrid_extension`` system key in its query string."""
    from devhost.testing import DevHost

    received = tmp_path / "received.jsonl"
    state = tmp_path / "devhost"
    with DevHost(
        APPS / "eventgrid_receiver",
        time_scale=600,
        state_dir=state,
        env={"RECEIVED_EVENTS_FILE": str(received)},
    ) as host:
        key = json.loads((state / "keys.json").read_text())["systemKeys"]["eventgrid_extension"]
        url = f"{host.url}/runtime/webhooks/eventgrid?functionName=vm_changed&code={key}"
        subscription = control.events(url)["subscription"]
        wait_until(
            lambda: (
                control.event_subscriptions(subscription["id"])[0]["provisioningState"]
                == "Succeeded"
            )
        )
        compute.virtual_machines.begin_create_or_update(group, "vm-hook", vm_body()).result()

        def delivered() -> list[dict[str, Any]]:
            if not received.exists():
                return []
            return [json.loads(line) for line in received.read_text().splitlines()]

        [event] = wait_until(delivered)
        assert event["eventType"] == WRITE and event["subject"].endswith("/virtualMachines/vm-hook")
        assert event["topic"] == f"/subscriptions/{SUB}"
        assert event["data"]["operationName"] == "Microsoft.Compute/virtualMachines/write"
