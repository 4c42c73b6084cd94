"""A fake ``DurableOrchestrationContext`` and a driver that steps an orchestrator's generator.

The orchestrators only talk to their context, so a fake context is the seam that lets a
test step the raw generator: the fake records every task the orchestrator schedules, and
:func:`run` answers each yielded task from a table of *responders* — callables keyed by
activity or sub-orchestrator name, or ``"<entity>.<operation>"`` for entity calls — sending
the result into the generator, or throwing the failure into it, as the SDK's replay does.

What the fake keeps of the SDK's contract (checked against azure-functions-durable 1.7):

- payloads (inputs, results, custom status, output) cross a JSON round trip, as on the host;
- a failed task surfaces as a plain ``Exception("<reason> \\n <details>")``;
- ``task_all`` fails with its first failing child, and ``task_all([])`` resolves to ``None``
  (the SDK's empty ``WhenAllTask`` never sets a result); ``task_any`` resolves to the first
  child to end, failed or not, whose ``result`` is then its value or its exception;
- functions are passed as v2 ``FunctionBuilder``s and resolved to their names, and an
  activity cannot be called as a sub-orchestrator (nor the other way round);
- ``current_utc_datetime`` only moves when the orchestrator awaits: a timer moves it to
  its ``fire_at``; tasks awaited together (``task_all``) start at the same instant and the
  orchestrator resumes when the last of them ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import azure.durable_functions as df
from azure.durable_functions.decorators.metadata import ActivityTrigger, OrchestrationTrigger

from diskdr.telemetry import caller_of
from tests.orchestrations.conftest import orchestrator_function

TaskKind = Literal["activity", "sub-orchestration", "entity", "signal", "timer", "all", "any"]

DEFAULT_NOW = datetime(2026, 3, 1, 4, 0, 30, tzinfo=UTC)


class TaskFailed(Exception):
    """Raise from a responder to fail the task (an activity that crashed after its retries,
    a sub-orchestration that failed); the orchestrator sees the SDK's exception instead."""

    def __init__(self, reason: str, details: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details

    def as_sdk_error(self) -> Exception:
        return Exception(f"{self.reason} \n {self.details}")


class Unscripted(AssertionError):
    """The orchestrator scheduled something the test gave no responder for."""


@dataclass(eq=False)
class Task:
    """One thing the orchestrator asked for, and what became of it."""

    kind: TaskKind
    name: str = ""
    input: Any = None
    instance_id: str | None = None  # sub-orchestrations
    entity_key: str | None = None  # entity calls and signals
    retry: df.RetryOptions | None = None
    fire_at: datetime | None = None  # timers
    children: list[Task] = field(default_factory=list)  # task_all, task_any
    done: bool = False
    ended_at: datetime | None = None
    result: Any = None
    error: Exception | None = None

    @property
    def is_completed(self) -> bool:
        """The SDK's ``TaskBase.is_completed``: ended, failed or not."""
        return self.done


@dataclass
class Nested:
    """A responder that runs the real sub-orchestrator, in its own fake context."""

    builder: Any
    responders: Mapping[str, Any]


def json_round_trip(value: Any) -> Any:
    """``value`` as the other side of the host sees it; fails on anything not JSON."""
    return json.loads(json.dumps(value, allow_nan=False))


def function_name(function: Any, trigger: type) -> str:
    """The name the SDK schedules for ``function`` (a v2 ``FunctionBuilder`` or a name)."""
    if isinstance(function, str):
        return function
    declared = function._function
    if not isinstance(declared._trigger, trigger):
        raise TypeError(
            f"{declared.get_function_name()} is a {type(declared._trigger).__name__}, "
            f"not a {trigger.__name__}"
        )
    return declared.get_function_name()


class FakeContext:
    """Stands in for ``df.DurableOrchestrationContext`` and records what was scheduled."""

    def __init__(
        self,
        input: Any = None,
        *,
        instance_id: str = "test-instance",
        now: datetime = DEFAULT_NOW,
    ) -> None:
        self._input_text = json.dumps(input)
        self.instance_id = instance_id
        self.current_utc_datetime = now
        self.started_at = now
        self.is_replaying = False  # each step is a first execution here
        self.scheduled: list[Task] = []  # atomic tasks (and signals), in scheduling order
        self.awaited: list[Task] = []  # what the orchestrator yielded, in order
        self.statuses: list[Any] = []
        self.children: dict[str, FakeContext] = {}  # nested sub-orchestrations by instance id
        # Mistakes found inside the orchestrator's own calls; raised by ``run`` after the
        # step, so an orchestrator's ``except Exception`` cannot swallow them.
        self.problems: list[str] = []
        self._responders: Mapping[str, Any] = {}
        # continue_as_new: the next generation's input (JSON), and how many ran so far.
        self._continued: str | None = None
        self.generations = 1

    # --- the context's API, as the orchestrators use it -----------------------------------
    def get_input(self) -> Any:
        return json.loads(self._input_text)

    def set_custom_status(self, status: Any) -> None:
        self.statuses.append(self._json(status))

    # An activity's input is recorded without the caller's instance id that correlated
    # orchestrators add (orchestrations/correlation.py): what the activity itself gets.
    def call_activity(self, function: Any, input_: Any = None) -> Task:
        name = self._name(function, ActivityTrigger)
        return self._atomic(Task("activity", name, self._json(caller_of(input_)[1])))

    def call_activity_with_retry(
        self, function: Any, retry_options: df.RetryOptions, input_: Any = None
    ) -> Task:
        name = self._name(function, ActivityTrigger)
        payload = self._json(caller_of(input_)[1])
        return self._atomic(Task("activity", name, payload, retry=retry_options))

    def call_sub_orchestrator(
        self,
        function: Any,
        input_: Any = None,
        instance_id: str | None = None,
        expected_type: type | None = None,
    ) -> Task:
        name = self._name(function, OrchestrationTrigger)
        task = Task("sub-orchestration", name, self._json(input_), instance_id=instance_id)
        return self._atomic(task)

    def call_entity(self, entity: df.EntityId, operation: str, input_: Any = None) -> Task:
        name = f"{entity.name}.{operation}"
        return self._atomic(Task("entity", name, self._json(input_), entity_key=entity.key))

    def signal_entity(self, entity: df.EntityId, operation: str, input_: Any = None) -> None:
        # Fire and forget: delivered at once (its answer is dropped), never awaited.
        name = f"{entity.name}.{operation}"
        task = Task("signal", name, self._json(input_), entity_key=entity.key, done=True)
        self._atomic(task)
        responder = self._responders.get(name)
        if responder is None:
            self.problems.append(f"no responder for signal {name!r}")
        else:
            responder(task.input)

    def continue_as_new(self, input_: Any) -> None:
        """The orchestrator ends this generation; :func:`run` starts the next from the top
        with ``input_`` (the scheduled tasks of every generation stay listed)."""
        self._continued = json.dumps(self._json(input_))

    def create_timer(self, fire_at: datetime) -> Task:
        if fire_at.utcoffset() is None:
            raise ValueError("create_timer: fire_at must be an aware datetime")
        return self._atomic(Task("timer", fire_at=fire_at))

    def task_all(self, tasks: Iterable[Task]) -> Task:
        return Task("all", children=list(tasks))

    def task_any(self, tasks: Iterable[Task]) -> Task:
        return Task("any", children=list(tasks))

    # --- what the test reads back ----------------------------------------------------------
    def descendants(self) -> list[FakeContext]:
        """Every nested sub-orchestration context, depth-first (children, their children...)."""
        found: list[FakeContext] = []
        for child in self.children.values():
            found.append(child)
            found.extend(child.descendants())
        return found

    def calls(self, name: str) -> list[Task]:
        """Every task scheduled under ``name`` (activity, sub-orchestrator, entity op)."""
        return [task for task in self.scheduled if task.name == name]

    @property
    def timers(self) -> list[Task]:
        return [task for task in self.scheduled if task.kind == "timer"]

    @property
    def custom_status(self) -> Any:
        return self.statuses[-1] if self.statuses else None

    # --- internals ---------------------------------------------------------------------------
    def _atomic(self, task: Task) -> Task:
        self.scheduled.append(task)
        return task

    def _json(self, value: Any) -> Any:
        try:
            return json_round_trip(value)
        except (TypeError, ValueError) as error:
            self.problems.append(f"not JSON: {value!r} ({error})")
            return None

    def _check(self) -> None:
        if self.problems:
            raise AssertionError("; ".join(self.problems))

    def _name(self, function: Any, trigger: type) -> str:
        try:
            return function_name(function, trigger)
        except TypeError as error:
            self.problems.append(str(error))
            return "?"

    def _respond(self, task: Task, responders: Mapping[str, Any], start: datetime) -> datetime:
        """Complete ``task`` (started at ``start``); returns the instant it ended."""
        if task.done:
            raise AssertionError(f"{task.kind} {task.name} was awaited twice")
        task.done = True
        if task.kind == "timer":
            assert task.fire_at is not None
            return max(start, task.fire_at)
        if task.kind == "any":
            # Children not yet running start now; the first to end (a failed one too) is
            # the result, as the SDK's WhenAnyTask gives it; the others keep running.
            for child in task.children:
                if not child.done:
                    child.ended_at = self._respond(child, responders, start)
            first = min(task.children, key=lambda child: child.ended_at or start)
            task.result = first
            return max(start, first.ended_at or start)
        if task.kind == "all":
            ends = [self._respond(child, responders, start) for child in task.children]
            failed = next((child.error for child in task.children if child.error), None)
            if failed is not None:
                task.error = failed
            elif task.children:
                task.result = [child.result for child in task.children]
            return max([start, *ends])
        responder = responders.get(task.name)
        if responder is None:
            raise Unscripted(f"no responder for {task.kind} {task.name!r} ({task.input!r})")
        if isinstance(responder, Nested):
            child = FakeContext(
                task.input, instance_id=task.instance_id or f"{self.instance_id}:child", now=start
            )
            self.children[child.instance_id] = child
            try:
                task.result = run(
                    orchestrator_function(responder.builder), child, responder.responders
                )
            except AssertionError:  # a mistake of the test or of the fake: stop here
                raise
            except Exception as error:  # the child failed: the parent sees the SDK's error
                task.error = TaskFailed(f"{type(error).__name__}: {error}").as_sdk_error()
                task.result = task.error  # what a failed task holds in the SDK
            return child.current_utc_datetime
        try:
            if getattr(responder, "keyed", False):  # an entity responder that needs its key
                task.result = json_round_trip(responder(task.entity_key, task.input))
            else:
                task.result = json_round_trip(responder(task.input))
        except TaskFailed as failure:
            task.error = failure.as_sdk_error()
            task.result = task.error  # what a failed task holds in the SDK
        return start


def run(
    orchestrator: Callable[[Any], Any], context: FakeContext, responders: Mapping[str, Any]
) -> Any:
    """Step ``orchestrator``'s generator to its end against ``responders``; its output.

    Each yielded task is answered at once. An exception the orchestrator lets escape
    propagates out of here, as does a task with no responder (:class:`Unscripted`). A
    generation that calls ``continue_as_new`` is followed by the next, from the top.
    """
    context._responders = responders
    generator = orchestrator(context)
    task: Task | None = None
    while True:
        try:
            if task is None:
                yielded = next(generator)
            elif task.error is not None:
                yielded = generator.throw(task.error)
            else:
                yielded = generator.send(task.result)
        except StopIteration as stop:
            context._check()
            if context._continued is not None:
                if stop.value is not None:
                    problem = "a generation that continues as new returns None"
                    raise AssertionError(problem) from None
                context._input_text, context._continued = context._continued, None
                context.generations += 1
                generator, task = orchestrator(context), None
                continue
            return json_round_trip(stop.value)
        except Exception:
            context._check()  # a mistake the orchestrator tripped over is the real cause
            raise
        context._check()
        if not isinstance(yielded, Task):
            raise AssertionError(f"the orchestrator yielded {yielded!r}, not a task")
        context.awaited.append(yielded)
        context.current_utc_datetime = context._respond(
            yielded, responders, context.current_utc_datetime
        )
        task = yielded
