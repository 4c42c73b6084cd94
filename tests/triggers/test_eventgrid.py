"""vm_changed reads an ARM "VM written" event in the Event Grid schema and in CloudEvents
1.0 alike (decoded by the Functions library's own converter), and refuses a delivery in a
schema it cannot read by failing (Event Grid then retries and dead-letters it)."""

import asyncio
import json

import pytest
from azure.functions import meta
from azure.functions.eventgrid import EventGridEventInConverter

import diskdr.service
from triggers import eventgrid

SUB = "00000000-0000-0000-0000-000000000001"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute/virtualMachines/vm-1"
DATA = {
    "operationName": "Microsoft.Compute/virtualMachines/write",
    "status": "Succeeded",
    "resourceUri": VM,
    "subscriptionId": SUB,
}
POLICY = """\
version: 1
policies:
  - name: p
    target: {tags: {a: b}}
    schedules: [{cron: "0 0 1 * * *"}]
    retention: {daily: 1}
"""


class Client:
    def __init__(self):
        self.started = []

    async def get_status(self, instance_id):
        return None

    async def start_new(self, name, instance_id, payload):
        self.started.append((name, instance_id, payload))
        return instance_id


@pytest.fixture(autouse=True)
def app_settings(monkeypatch):
    monkeypatch.setenv("DISKDR_SUBSCRIPTION_IDS", SUB)
    monkeypatch.setenv("DISKDR_INSTALL_ID", "events-test")
    monkeypatch.setenv("DISKDR_POLICY_TEXT", POLICY)
    monkeypatch.setattr(diskdr.service, "_service", None)


def deliver(body: dict) -> Client:
    event = EventGridEventInConverter.decode(
        meta.Datum(type="json", value=json.dumps(body)), trigger_metadata=None
    )
    client = Client()
    user_code = eventgrid.vm_changed._function._func.__wrapped__
    asyncio.run(user_code(event=event, client=client))
    return client


def test_an_event_grid_schema_delivery_starts_a_backup():
    client = deliver(
        {
            "id": "1",
            "topic": f"/subscriptions/{SUB}",
            "subject": VM,
            "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "eventTime": "2026-11-25T10:02:00Z",
            "data": DATA,
            "dataVersion": "",
            "metadataVersion": "1",
        }
    )
    [(name, instance_id, payload)] = client.started
    assert name == "after_vm_change" and payload["vmId"] == VM
    assert instance_id.startswith("vmchange-")


def test_a_cloudevents_delivery_is_handled_the_same_way():
    client = deliver(
        {
            "specversion": "1.0",
            "id": "2",
            "source": f"/subscriptions/{SUB}",
            "subject": VM,
            "type": "Microsoft.Resources.ResourceWriteSuccess",
            "time": "2026-11-25T10:02:00Z",
            "data": DATA,
        }
    )
    [(name, _, payload)] = client.started
    assert name == "after_vm_change" and payload["vmId"] == VM
    # The same change in either schema falls in the same debounce window.
    same = deliver(
        {
            "id": "3",
            "subject": VM,
            "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "eventTime": "2026-11-25T10:02:00Z",
            "data": DATA,
        }
    )
    assert same.started[0][1] == client.started[0][1]


def test_an_unknown_cloudevents_version_is_refused_loudly(caplog):
    with pytest.raises(eventgrid.UnsupportedDelivery, match=r"specversion '0\.3'"):
        deliver({"specversion": "0.3", "id": "4", "type": "x", "source": "y", "data": DATA})
    assert any(record.levelname == "ERROR" for record in caplog.records)


def test_an_unrelated_event_is_ignored_not_failed():
    client = deliver(
        {"id": "5", "eventType": "Microsoft.Resources.ResourceDeleteSuccess", "data": DATA}
    )
    assert client.started == []
