"""The scheduler tick's trigger code, driven with a stand-in for the durable client (a
seam of ours: the client only answers get_status / start_new here)."""

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

import diskdr.service
from diskdr.backup import CycleJob
from triggers import timer

SUB = "00000000-0000-0000-0000-000000000001"
NOW = datetime(2026, 11, 25, 10, 2, tzinfo=UTC)
POLICIES = """\
version: 1
policies:
  - name: hourly
    target: {tags: {backup: a}}
    schedules: [{cron: "0 0 * * * *"}]
    retention: {last: 3}
    catchUp: all
  - name: daily
    target: {tags: {backup: b}}
    schedules: [{cron: "0 0 6 * * *"}]
    retention: {last: 3}
"""


class Client:
    """Records starts; an instance exists once started (or when listed in ``existing``)."""

    def __init__(self, existing=()):
        self.instances = dict.fromkeys(existing, "Completed")
        self.started: list[tuple[str, str, dict]] = []

    async def get_status(self, instance_id):
        state = self.instances.get(instance_id)
        return SimpleNamespace(runtime_status=SimpleNamespace(value=state) if state else None)

    async def start_new(self, name, instance_id, payload):
        self.instances[instance_id] = "Pending"
        self.started.append((name, instance_id, payload))
        return instance_id


@pytest.fixture(autouse=True)
def app_settings(monkeypatch, tmp_path):
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(POLICIES)
    monkeypatch.setenv("DISKDR_SUBSCRIPTION_IDS", SUB)
    monkeypatch.setenv("DISKDR_INSTALL_ID", "tick-test")
    monkeypatch.setenv("DISKDR_POLICY_FILE", str(policy_file))
    monkeypatch.setenv("DISKDR_CATCH_UP_WINDOW", "PT12H")
    monkeypatch.setattr(diskdr.service, "_service", None)
    monkeypatch.setattr(timer, "utc_now", lambda: NOW)


def tick(client: Client) -> list[str]:
    before = len(client.started)
    request = SimpleNamespace(past_due=False, schedule_status={})
    user_code = timer.scheduler_tick._function._func.__wrapped__  # the rich-client wrapper
    asyncio.run(user_code(timer=request, client=client))
    return [instance_id for _, instance_id, _ in client.started[before:]]


def test_missed_slots_are_caught_up_a_few_per_tick_oldest_first():
    client = Client()
    first = tick(client)
    assert first == [
        "cycle-hourly-2026-11-24T23:00Z",
        "cycle-hourly-2026-11-25T00:00Z",
        "cycle-hourly-2026-11-25T01:00Z",
        "cycle-daily-2026-11-25T06:00Z",  # catchUp latest: the newest slot only
    ]
    second = tick(client)
    assert second == [f"cycle-hourly-2026-11-25T0{h}:00Z" for h in (2, 3, 4)]
    while tick(client):
        pass
    hourly = [i for _, i, _ in client.started if i.startswith("cycle-hourly")]
    assert len(hourly) == len(set(hourly)) == 12  # every missed slot in the window, once


def test_a_slot_whose_instance_exists_is_not_started_again():
    client = Client(existing=["cycle-daily-2026-11-25T06:00Z"])
    assert "cycle-daily-2026-11-25T06:00Z" not in tick(client)


def test_cycles_start_with_the_policy_and_slot():
    client = Client()
    tick(client)
    name, _, payload = client.started[0]
    job = CycleJob.from_dict(payload)
    assert name == "backup_cycle"
    assert (job.policy.name, job.trigger, job.install_id) == ("hourly", "schedule", "tick-test")
    assert job.slot == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)
    assert job.vms is None and job.options.prune
