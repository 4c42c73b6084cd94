"""Contract tests: the JSON the host and the SDK exchange, and the extension's replay of it.

The action JSON below is what azure-functions-durable 1.7 sends (``OrchestratorState.to_json``
with ``schemaVersion``); the history is DTFx's. ``devhost.shim.replay`` must do what
``OutOfProcOrchestrationShim`` does with them (line numbers in docs/devhost.md).
"""

from __future__ import annotations

import json
from datetime import timedelta

from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext,
)
from azure.durable_functions.models.ReplaySchema import ReplaySchema

from devhost import shim
from devhost.engine import Engine
from devhost.history import EventType, event, format_time

T0 = 1_700_000_000.0


def activity(name, value):
    return {"actionType": 0, "functionName": name, "input": json.dumps(value)}


def when_any(*actions):
    return {"actionType": 11, "compoundActions": list(actions)}


def when_all(*actions):
    return {"actionType": 12, "compoundActions": list(actions)}


def state(*actions, schema=2):
    return {"isDone": False, "actions": [list(actions)], "schemaVersion": schema}


def started(at=T0):
    return [
        event(EventType.ORCHESTRATOR_STARTED, at),
        event(EventType.EXECUTION_STARTED, at, Name="o", Input="null", Version=""),
    ]


def scheduled(*ids, at=T0):
    return [event(EventType.TASK_SCHEDULED, at, i, Name=f"a{i}") for i in ids]


def done(task_id, at=T0, failed=False):
    kind = EventType.TASK_FAILED if failed else EventType.TASK_COMPLETED
    return [event(EventType.ORCHESTRATOR_STARTED, at), event(kind, at, TaskScheduledId=task_id)]


def test_the_host_offers_schema_v3_with_the_azure_storage_timer_limits():
    # OrchestrationTriggerAttributeBindingProvider.OrchestrationContextToString
    engine = Engine(None, None, None, 1, 1, "{}")  # type: ignore[arg-type]
    context = engine.orchestration_context(started(), "i1", None, "null", is_replaying=False)
    assert {k: v for k, v in context.items() if k != "history"} == {
        "input": "null",
        "instanceId": "i1",
        "isReplaying": False,
        "parentInstanceId": None,
        "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
        "longRunningTimerIntervalDuration": "3.00:00:00",
        "maximumShortTimerDuration": "6.00:00:00",
    }
    sdk = DurableOrchestrationContext.from_json(json.dumps(context))
    assert sdk._replay_schema is ReplaySchema.V3
    assert sdk._maximum_short_timer_duration == timedelta(days=6)
    assert sdk._long_timer_interval_duration == timedelta(days=3)


def test_a_re_yielded_when_any_window_runs_one_child_at_a_time():
    window = [activity(f"a{i}", i) for i in range(3)]
    # Episode 2: a0 finished; the SDK yields WhenAny holding only the new child a3.
    history = started() + scheduled(0, 1, 2) + done(0)
    first = shim.replay(history, state(when_any(*window), when_any(activity("a3", 3))), "o")
    assert [leaf.task_id for leaf in first.new] == [3]
    assert first.blocked
    # Episode 3: a1 finished; the SDK yields WhenAny(a4), but the shim still awaits a3.
    history += scheduled(3) + done(1)
    second = shim.replay(
        history,
        state(when_any(*window), when_any(activity("a3", 3)), when_any(activity("a4", 4))),
        "o",
    )
    assert second.new == [] and second.blocked and second.error is None
    # Only once a3 completes is a4 invoked, with the next sequence number.
    history += done(3)
    third = shim.replay(
        history,
        state(when_any(*window), when_any(activity("a3", 3)), when_any(activity("a4", 4))),
        "o",
    )
    assert [(leaf.task_id, leaf.name) for leaf in third.new] == [(4, "a4")]


def test_when_all_waits_for_every_child_even_after_a_failure():
    history = started() + scheduled(0, 1) + done(0, failed=True)
    # The SDK's task_all failed fast; the orchestrator caught it and asked for a2 at once.
    replay = shim.replay(history, state(when_all(activity("a0", 0), activity("a1", 1)),
                                        activity("a2", 2)), "o")  # fmt: skip
    assert replay.new == [] and replay.blocked
    replay = shim.replay(history + done(1), state(when_all(activity("a0", 0),
                         activity("a1", 1)), activity("a2", 2)), "o")  # fmt: skip
    assert [leaf.task_id for leaf in replay.new] == [2]  # and now it awaits a2


def test_a_failed_retry_attempt_takes_the_next_sequence_number_for_its_timer():
    retry = {
        "actionType": 1,
        "functionName": "a0",
        "input": "1",
        "retryOptions": {"firstRetryIntervalInMilliseconds": 60000, "maxNumberOfAttempts": 2},
    }
    history = started() + scheduled(0) + done(0, at=T0 + 5, failed=True)
    replay = shim.replay(history, state(retry), "o")
    assert [(leaf.task_id, leaf.kind) for leaf in replay.new] == [(1, "timer")]
    assert replay.new[0].action["fireAt"] == format_time(T0 + 65)
    history += [event(EventType.TIMER_CREATED, T0 + 5, 1, FireAt=format_time(T0 + 65))]
    history += [
        event(EventType.ORCHESTRATOR_STARTED, T0 + 65),
        event(EventType.TIMER_FIRED, T0 + 65, TimerId=1),
    ]
    replay = shim.replay(history, state(retry), "o")
    assert [(leaf.task_id, leaf.kind, leaf.name) for leaf in replay.new] == [(2, "activity", "a0")]


def test_a_timer_beyond_six_days_is_refused_below_schema_v3():
    timer = {"actionType": 5, "fireAt": format_time(T0 + 7 * 86400), "isCanceled": False}
    refused = shim.replay(started(), state(timer, schema=1), "o")
    assert refused.error == (
        "The Azure Storage provider supports a maximum of 6 days for time-based delays "
        "(Parameter 'fireAt')"
    )
    # With V3 the extension splits it itself (DurableOrchestrationContext.CreateTimer).
    accepted = shim.replay(started(), state(timer, schema=2), "o")
    assert accepted.error is None
    assert [leaf.action["fireAt"] for leaf in accepted.new] == [format_time(T0 + 3 * 86400)]


def test_a_replay_that_schedules_something_else_is_non_deterministic():
    history = started() + scheduled(0)
    replay = shim.replay(history, state(activity("b0", 0)), "o")
    assert replay.error is not None
    assert replay.error.startswith(shim.NON_DETERMINISTIC)
    assert "'b0'" in replay.error and "'a0'" in replay.error
