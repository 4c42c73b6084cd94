"""Run an orchestrator under the Durable SDK's own replay engine, without a host.

Each *episode* calls the SDK's ``Orchestrator.create(fn)`` handle with the whole history so
far, as the Functions host does (and as ``devhost/engine.py`` does), and reads back the
actions the replay produced. New actions get the next sequence numbers (depth-first, as the
SDK numbers its tasks), their scheduling events go into the history, and their completions
— answered by the same responders as :func:`tests.orchestrations.fake_context.run` — arrive
in later episodes: results at once, timers at their ``fireAt``, sub-orchestrations (run by
the same loop) when they end. The history events and the action numbering are devhost's
(``devhost.history``, ``devhost.engine.flatten_actions``), so both speak one protocol.

Every episode replays the orchestrator from its first line, so the check that each episode
reproduces exactly the actions of the previous ones *is* the determinism check: a
non-deterministic orchestrator fails it, as it would fail on the host. At the end the whole
history is replayed once more, cold, and must give the same actions and output.

Entity calls are not modelled here (the SDK's entity protocol is exercised by devhost).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dateutil.parser import isoparse

from devhost.engine import flatten_actions
from devhost.history import ActionType, EventType
from devhost.history import event as history_event
from diskdr.telemetry import caller_of
from tests.orchestrations.conftest import orchestrator_handle
from tests.orchestrations.fake_context import DEFAULT_NOW, Nested, TaskFailed


class NonDeterminism(AssertionError):
    """A replay produced different actions than the episodes before it."""


def event(kind: EventType, at: datetime, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    """One history event at ``at``, in devhost's (the host's) shape."""
    return history_event(kind, at.timestamp(), event_id, **fields)


@dataclass
class ReplayRun:
    """One orchestration instance driven to its end by replay; :meth:`run` gives its output."""

    builder: Any
    input: Any
    responders: dict[str, Any]
    instance_id: str = "replay-instance"
    start: datetime = DEFAULT_NOW
    history: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)  # every atomic action so far
    episodes: int = 0
    end: datetime | None = None
    children: dict[str, ReplayRun] = field(default_factory=dict)

    def run(self) -> Any:
        now = self.start
        name = self.builder._function.get_function_name()
        self.history = [
            event(EventType.ORCHESTRATOR_STARTED, now),
            event(
                EventType.EXECUTION_STARTED,
                now,
                Name=name,
                Input=json.dumps(self.input),
                Version="",
                OrchestrationInstance={"InstanceId": self.instance_id, "ExecutionId": "1"},
            ),
        ]
        waiting: list[tuple[datetime, dict[str, Any]]] = []  # (ready at, completion event)
        while True:
            state = self._episode()
            atomic = flatten_actions(state.get("actions", []))
            if atomic[: len(self.actions)] != self.actions:
                raise NonDeterminism(
                    f"{name}: episode {self.episodes} replayed {atomic[: len(self.actions)]} "
                    f"instead of {self.actions}"
                )
            for action in atomic[len(self.actions) :]:
                waiting.append(self._schedule(action, len(self.actions), now))
                self.actions.append(action)
            self.history.append(event(EventType.ORCHESTRATOR_COMPLETED, now))
            if state.get("isDone"):
                self.end = now
                output = state.get("output")
                self._replay_cold(output)
                return output
            if not waiting:
                raise AssertionError(f"{name} waits for nothing and is not done: {state}")
            now = max(now, min(ready for ready, _ in waiting))
            delivered = [record for ready, record in waiting if ready <= now]
            waiting = [(ready, record) for ready, record in waiting if ready > now]
            self.history.append(event(EventType.ORCHESTRATOR_STARTED, now))
            self.history.extend(delivered)

    def _episode(self) -> dict[str, Any]:
        self.episodes += 1
        payload = {
            "history": self.history,
            "instanceId": self.instance_id,
            "isReplaying": self.episodes > 1,
            "parentInstanceId": None,
            "input": json.dumps(self.input),
            "upperSchemaVersion": 1,
        }
        # The SDK raises when the orchestrator does; that fails the test with its message.
        return json.loads(orchestrator_handle(self.builder)(json.dumps(payload)))

    def _replay_cold(self, output: Any) -> None:
        """The finished history, replayed once more from scratch, must end the same way."""
        for record in self.history:
            record["IsPlayed"] = True
        state = self._episode()
        if not state.get("isDone") or state.get("output") != output:
            raise NonDeterminism(f"a cold replay ended differently: {state}")
        if flatten_actions(state.get("actions", [])) != self.actions:
            raise NonDeterminism("a cold replay scheduled different actions")

    def _schedule(
        self, action: dict[str, Any], task_id: int, now: datetime
    ) -> tuple[datetime, dict[str, Any]]:
        """Record ``action`` as scheduled; (when, event) of its completion."""
        kind = ActionType(action["actionType"])
        if kind == ActionType.CREATE_TIMER:
            fire_at = isoparse(action["fireAt"])
            self.history.append(
                event(EventType.TIMER_CREATED, now, task_id, FireAt=action["fireAt"])
            )
            fired = event(EventType.TIMER_FIRED, fire_at, TimerId=task_id, FireAt=action["fireAt"])
            return max(now, fire_at), fired
        name = action["functionName"]
        input_text = action.get("input")
        input_value = json.loads(input_text) if input_text is not None else None
        if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
            self.history.append(
                event(
                    EventType.TASK_SCHEDULED, now, task_id, Name=name, Input=input_text, Version=""
                )
            )
            try:  # the activity gets its input without the caller's id (correlation.py)
                result = self.responders[name](caller_of(input_value)[1])
            except TaskFailed as failure:
                return now, event(
                    EventType.TASK_FAILED,
                    now,
                    TaskScheduledId=task_id,
                    Reason=failure.reason,
                    Details=failure.details,
                )
            return now, event(
                EventType.TASK_COMPLETED, now, TaskScheduledId=task_id, Result=json.dumps(result)
            )
        if kind == ActionType.CALL_SUB_ORCHESTRATOR:
            child_id = action.get("instanceId") or f"{self.instance_id}:{task_id:04d}"
            self.history.append(
                event(
                    EventType.SUB_ORCHESTRATION_CREATED,
                    now,
                    task_id,
                    Name=name,
                    InstanceId=child_id,
                    Input=input_text,
                    Version="",
                )
            )
            nested = self.responders[name]
            if not isinstance(nested, Nested):
                raise AssertionError(f"sub-orchestration {name} needs a Nested responder")
            child = ReplayRun(nested.builder, input_value, nested.responders, child_id, now)
            self.children[child_id] = child
            result = child.run()
            assert child.end is not None
            return child.end, event(
                EventType.SUB_ORCHESTRATION_COMPLETED,
                child.end,
                TaskScheduledId=task_id,
                Result=json.dumps(result),
            )
        raise AssertionError(f"the replay loop does not model action {kind.name}")
