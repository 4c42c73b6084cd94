"""Durable execution under devhost, driven through the real DurableOrchestrationClient."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from azure.durable_functions import EntityId, OrchestrationRuntimeStatus

from devhost.testing import DevHost
from tests.devhost.conftest import basic_env, copy_app

pytestmark = pytest.mark.slow

SCALE = 600  # one real second is ten world minutes


@pytest.fixture(scope="module")
def host(tmp_path_factory, basic_files):
    app_dir = copy_app("basic", tmp_path_factory.mktemp("durable"))
    with DevHost(app_dir, time_scale=SCALE, env=basic_env(basic_files)) as running:
        yield running


@pytest.fixture(scope="module")
def client(host):
    return host.client()


def start(host, client, name, value=None, instance_id=None):
    return host.run(client.start_new(name, instance_id, value))


def test_activities_chain_with_custom_status_and_replay_flags(host, client):
    instance_id = start(host, client, "sequence", 3)
    status = host.wait_for(instance_id)
    assert status["runtimeStatus"] == "Completed"
    output = status["output"]
    assert output["value"] == 24
    assert status["customStatus"] == {"step": 3}
    # The last episode replays the first steps: is_replaying was True there.
    assert output["firstReplayFlag"] is True
    # new_uuid is deterministic per instance and replay.
    assert len(output["uuid"]) == 36
    # current_utc_datetime is on the world clock, which runs 600x from the anchor.
    world_now = host.clock_anchor + (time.time() - host.clock_anchor) * SCALE
    orchestration_now = datetime.fromisoformat(output["now"]).timestamp()
    assert abs(world_now - orchestration_now) < SCALE * 30


def test_status_has_times_input_and_history(host, client):
    instance_id = start(host, client, "sequence", 1)
    host.wait_for(instance_id)
    status = host.run(
        client.get_status(instance_id, show_history=True, show_history_output=True, show_input=True)
    )
    assert status.runtime_status == OrchestrationRuntimeStatus.Completed
    assert status.name == "sequence"
    assert status.input_ == 1
    assert status.output["value"] == 8
    assert status.created_time <= status.last_updated_time
    kinds = [entry["EventType"] for entry in status.history]
    assert kinds[0] == "ExecutionStarted"
    assert kinds.count("TaskCompleted") == 3
    assert kinds[-1] == "ExecutionCompleted"
    completed = [entry for entry in status.history if entry["EventType"] == "TaskCompleted"]
    assert [entry["FunctionName"] for entry in completed] == ["double"] * 3
    assert [entry["Result"] for entry in completed] == [2, 4, 8]


def test_fan_out_runs_within_the_activity_limit(host, client):
    assert host.wait_for(start(host, client, "fan_out", 50))["output"] == sum(
        2 * i for i in range(50)
    )
    peak = host.wait_for(start(host, client, "probe_fan_out"))["output"]
    assert 2 <= peak <= 4  # host.json: maxConcurrentActivityFunctions 4


def test_activity_retry_waits_on_the_world_clock_and_gives_up(host, client):
    started = time.monotonic()
    output = host.wait_for(start(host, client, "with_retry", "retry-key"))["output"]
    assert output["first"] == "retry-key ok after 3 attempts"
    assert "always_fails" in output["exhausted"] and "hopeless always fails" in output["exhausted"]
    # 2 + 2 world-minute retry timers: 0.4 s of real time at 600x, not 4 minutes.
    assert time.monotonic() - started < 60


def test_sub_orchestrations_with_and_without_id_and_with_retry(host, client):
    instance_id = start(host, client, "parent")
    output = host.wait_for(instance_id)["output"]
    assert output["named"] == {"value": 2, "parent": instance_id}
    assert output["unnamed"] == {"value": 4, "parent": instance_id}
    assert output["retried"] == "child ok"
    assert "orchestrator gave up" in output["childError"]
    named = host.status(f"{instance_id}-named")
    assert named is not None and named["runtimeStatus"] == "Completed"


def test_ten_minute_timer_fires_in_about_a_second_at_scale_600(host, client):
    started = time.monotonic()
    output = host.wait_for(start(host, client, "timer_wait", 600), timeout=120)["output"]
    elapsed = time.monotonic() - started
    woke = datetime.fromisoformat(output["woke"])
    assert woke - datetime.fromisoformat(output["started"]) >= timedelta(minutes=10)
    assert elapsed < 120  # far from the real 10 minutes


def test_task_any_event_beats_timer_which_is_cancelled(host, client):
    instance_id = start(host, client, "approval", 24)
    host.wait_for(instance_id, statuses=("Running",))
    host.run(client.raise_event(instance_id, "approve", {"by": "ops"}))
    assert host.wait_for(instance_id)["output"] == {"approved": {"by": "ops"}}


def test_task_any_timer_wins_without_event(host, client):
    instance_id = start(host, client, "approval", 1)  # one world hour = 6 real seconds
    assert host.wait_for(instance_id, timeout=60)["output"] == {"approved": None, "timedOut": True}


def test_external_event_raised_before_the_orchestrator_waits(host, client):
    instance_id = start(host, client, "two_events")
    host.wait_for(instance_id, statuses=("Running",))
    host.run(client.raise_event(instance_id, "b", "second"))
    host.run(client.raise_event(instance_id, "a", "first"))
    assert host.wait_for(instance_id)["output"] == ["first", "second"]


def test_continue_as_new_restarts_with_new_input(host, client):
    instance_id = start(host, client, "eternal", {"round": 0, "rounds": 3})
    status = host.wait_for(instance_id)
    assert status["output"] == {"round": 3, "rounds": 3}
    history = host.status(instance_id, showHistory=True)["historyEvents"]
    # Only the last execution's history remains.
    assert sum(1 for e in history if e["EventType"] == "TaskCompleted") == 1


def test_a_sub_orchestration_that_continues_as_new_answers_with_its_last_generation(host, client):
    # DurableTask.Core's TaskOrchestrationDispatcher gives the next generation's
    # ExecutionStartedEvent the same ParentInstance; only a completion notifies the parent.
    status = host.wait_for(start(host, client, "eternal_parent", 3))
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"round": 3, "rounds": 3}


def test_unhandled_orchestrator_error_fails_the_instance(host, client):
    status = host.wait_for(start(host, client, "failing"))
    assert status["runtimeStatus"] == "Failed"
    assert "orchestrator gave up" in status["output"]


def test_start_with_id_and_running_duplicate_is_refused(host, client):
    instance_id = start(host, client, "forever", instance_id="singleton-1")
    assert instance_id == "singleton-1"
    host.wait_for(instance_id, statuses=("Running",))
    with pytest.raises(Exception, match="already exists"):
        start(host, client, "forever", instance_id="singleton-1")
    host.run(client.terminate(instance_id, "enough"))
    status = host.wait_for(instance_id)
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "enough"
    with pytest.raises(Exception, match="gone"):
        host.run(client.raise_event(instance_id, "never", 1))
    # An ended instance id can be started again (it replaces the old one).
    again = start(host, client, "sequence", 1, instance_id="singleton-1")
    assert host.wait_for(again)["output"]["value"] == 8


def test_unknown_things_get_the_extension_answers(host, client):
    with pytest.raises(Exception, match="doesn't exist"):
        start(host, client, "no_such_orchestrator")
    assert not host.run(client.get_status("no-such-instance"))
    with pytest.raises(Exception, match="No instance"):
        host.run(client.raise_event("no-such-instance", "e", 1))
    with pytest.raises(Exception, match="found"):
        host.run(client.terminate("no-such-instance", "x"))
    assert host.run(client.purge_instance_history("no-such-instance")).instances_deleted == 0
    code, _ = host.request("POST", "/durabletask/orchestrators/sequence", raw=b"{not json")
    assert code == 400


def test_queries_by_status_and_created_time(host, client):
    before = datetime.now(UTC) - timedelta(days=3650)
    running = start(host, client, "forever")
    done = start(host, client, "sequence", 1)
    host.wait_for(done)
    host.wait_for(running, statuses=("Running",))
    by_status = host.run(
        client.get_status_by(
            created_time_from=before, runtime_status=[OrchestrationRuntimeStatus.Running]
        )
    )
    ids = {s.instance_id for s in by_status}
    assert running in ids and done not in ids
    assert all(s.runtime_status == OrchestrationRuntimeStatus.Running for s in by_status)
    everything = {s.instance_id for s in host.run(client.get_status_all())}
    assert {running, done} <= everything
    future = datetime.now(UTC) + timedelta(days=3650)
    assert host.run(client.get_status_by(created_time_from=future)) == []
    host.run(client.terminate(running, "cleanup"))
    host.wait_for(running)


def test_purge_single_and_by_filter(host, client):
    first = start(host, client, "sequence", 1)
    second = start(host, client, "sequence", 1)
    host.wait_for(first)
    host.wait_for(second)
    assert host.run(client.purge_instance_history(first)).instances_deleted == 1
    assert not host.run(client.get_status(first))
    running = start(host, client, "forever")
    host.wait_for(running, statuses=("Running",))
    result = host.run(
        client.purge_instance_history_by(
            created_time_from=datetime.now(UTC) - timedelta(days=3650),
            runtime_status=[OrchestrationRuntimeStatus.Completed],
        )
    )
    assert result.instances_deleted >= 1
    assert not host.run(client.get_status(second))
    assert host.run(client.get_status(running))  # a running instance is never purged
    host.run(client.terminate(running, "cleanup"))


def test_entities_from_orchestrators_and_clients(host, client):
    output = host.wait_for(start(host, client, "counter_user", "orders"))["output"]
    assert output == {"value": 15, "entityError": "counter cannot explode"}
    entity = EntityId("counter", "orders")
    host.run(client.signal_entity(entity, "add", 7))
    state = host.wait_until(
        lambda: (s := host.run(client.read_entity_state(entity))).entity_state == 22 and s,
        what="entity state 22",
    )
    assert state.entity_exists
    missing = host.run(client.read_entity_state(EntityId("counter", "never-used")))
    assert not missing.entity_exists


def test_entity_operations_are_serialized(host, client):
    entity = EntityId("counter", "serial")
    for _ in range(20):
        host.run(client.signal_entity(entity, "add", 1))
    host.wait_until(
        lambda: host.run(client.read_entity_state(entity)).entity_state == 20,
        what="20 serialized additions",
    )
