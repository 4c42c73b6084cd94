"""The durable engine: runs orchestrations, activities and entities like the Durable Task Framework.

devhost never decides orchestration semantics. Each *episode* hands the instance's history
plus the new events to the SDK's ``Orchestrator.handle`` and reads back the actions the
replay produced. The engine then does what the Durable extension does with them: it gives
each new action the next sequence number (atomic actions depth-first through
``compoundActions``, as the SDK numbers its tasks), records the scheduling events
(``TaskScheduled``, ``TimerCreated``, ``SubOrchestrationInstanceCreated``, ``EventSent``),
runs the work and, when the work ends, queues the completion event for the next episode.
All completions that are ready when an episode starts are delivered in that one episode.

Retries are the one place where the extension itself adds history (DTFx's retry
interceptor): a failed attempt gets a timer, the fired timer a new attempt. Those events
are placed first in an episode so that their sequence numbers are given in the order the
SDK's replay gives them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import json
import logging
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from azure.functions import _durable_functions as df_serialization
from azure.functions import durable_functions as df_converters
from azure.functions import meta

from devhost import shim
from devhost.discovery import AppFunctions, FunctionSpec
from devhost.history import (
    ActionType,
    EventType,
    completed_task_id,
    event,
    format_time,
    parse_time,
)
from devhost.shim import HTTP_ACTIVITY, NON_DETERMINISTIC, retry_delay_seconds
from devhost.store import Instance, Store, WorkItem

log = logging.getLogger("devhost")

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"
# The extension refuses a custom status over 16 KB of UTF-16 JSON (MessagePayloadDataConverter).
MAX_CUSTOM_STATUS_KB = 16


class FunctionTimeoutError(Exception):
    """An activity ran past host.json ``functionTimeout`` (the host's FunctionTimeoutException)."""


def activity_trigger_metadata(item: WorkItem, parameter: str) -> dict[str, meta.Datum]:
    """The binding data the Durable extension gives an activity trigger
    (``ActivityTriggerAttributeBindingProvider.cs``, ``BindAsync``: ``instanceId``, the
    parameter's name, ``data``), as the worker passes it: to the trigger's converter only,
    which ignores it (docs/devhost.md, "Triggers")."""
    data = meta.Datum(type="json", value=item.input or "null")
    return {
        "instanceId": meta.Datum(type="string", value=item.instance_id),
        parameter: data,
        "data": data,
    }


class ManagementError(Exception):
    """A management call the host refuses; carries the HTTP status it answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class InvocationContext:
    """The ``context`` argument the Python worker passes to functions that ask for it."""

    function_name: str
    function_directory: str = ""
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: Any = None


@dataclass
class Plan:
    """What one episode's actions ask for, before it is written."""

    scheduling: list[tuple[int, dict]] = field(default_factory=list)
    work: list[tuple[int, str, str | None]] = field(default_factory=list)
    timers: list[tuple[float, dict]] = field(default_factory=list)  # (fire at, TimerFired)
    children: list[tuple[int, str, str, str | None]] = field(default_factory=list)
    entity_ops: list[tuple[str, str, str | None, bool, str | None]] = field(default_factory=list)
    immediate: list[dict] = field(default_factory=list)
    log_entries: list[tuple[int | None, str, str | None]] = field(default_factory=list)
    chains: dict[int, dict] = field(default_factory=dict)
    canceled_timers: list[int] = field(default_factory=list)
    continue_as_new: str | None = None
    continued: bool = False
    next_id: int = 0


def json_text_of_body(body: bytes) -> str | None:
    """The JSON text a client meant by a request body.

    The Durable SDK's client JSON-encodes a payload it already JSON-encoded (``json=``
    over ``df_dumps``), so a body that is a JSON string holding valid JSON is unwrapped
    once; any other JSON body is taken as it is. Raises ValueError for a non-JSON body.
    """
    if not body or not body.strip():
        return None
    parsed = json.loads(body)
    if isinstance(parsed, str):
        try:
            json.loads(parsed)
            return parsed
        except ValueError:
            pass
    return json.dumps(parsed)


def describe_action(action: dict) -> tuple[str, str | None]:
    """(kind, name) of an atomic action, used to detect non-determinism."""
    kind = ActionType(action["actionType"])
    if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
        return "activity", action.get("functionName")
    if kind in (ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
        return "sub-orchestration", action.get("functionName")
    if kind == ActionType.CREATE_TIMER:
        return "timer", None
    if kind == ActionType.WAIT_FOR_EXTERNAL_EVENT:
        return "external event", action.get("externalEventName")
    if kind == ActionType.CALL_ENTITY:
        return "entity call", f"{action.get('instanceId')}:{action.get('operation')}"
    if kind == ActionType.SIGNAL_ENTITY:
        return "entity signal", f"{action.get('instanceId')}:{action.get('operation')}"
    if kind == ActionType.CALL_HTTP:
        return "http call", None
    return "continue-as-new", None


def flatten_actions(actions: list) -> list[dict]:
    """Atomic actions in the order the SDK numbers them (depth-first through compounds)."""
    atomic: list[dict] = []

    def walk(action: dict) -> None:
        if action.get("actionType") in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            for child in action.get("compoundActions", []):
                walk(child)
        else:
            atomic.append(action)

    for group in actions:
        for action in group if isinstance(group, list) else [group]:
            walk(action)
    return atomic


def custom_status_error(custom: Any) -> str | None:
    """The extension's refusal of a custom status over 16 KB (UTF-16 JSON), or None."""
    if custom is None:
        return None
    text = json.dumps(custom, separators=(",", ":"), ensure_ascii=False)
    size_kb = int(len(text.encode("utf-16-le")) / 1024.0)
    if size_kb <= MAX_CUSTOM_STATUS_KB:
        return None
    return (
        "The UTF-16 size of the JSON-serialized payload must not exceed "
        f"{MAX_CUSTOM_STATUS_KB} KB. The current payload size is {size_kb:,} KB."
    )


def parse_function_timeout(text: Any) -> float | None:
    """host.json ``functionTimeout`` (``hh:mm:ss`` or ``d.hh:mm:ss``) in seconds; -1 is none."""
    if text is None or str(text).strip() in ("", "-1"):
        return None
    days = 0
    clock = str(text).strip()
    if "." in clock.split(":")[0]:
        day_text, clock = clock.split(".", 1)
        days = int(day_text)
    hours, minutes, seconds = (float(part) for part in clock.split(":"))
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def invoke_orchestrator(func: Callable[[str], str], payload: str) -> tuple[dict | None, str | None]:
    """Call the SDK's orchestrator handle; (state, error) as the extension reads them."""
    try:
        return json.loads(func(payload)), None
    except Exception as exc:  # the SDK reports orchestrator failures as exceptions
        message = str(exc)
        if OUT_OF_PROC_MARKER in message:
            error, _, state_text = message.partition(OUT_OF_PROC_MARKER)
            try:
                state = json.loads(state_text)
            except ValueError:
                return None, error
            return state, state.get("error") or error
        return None, f"{type(exc).__name__}: {message}"


def user_traceback(exc: BaseException) -> str:
    """The traceback of an app function's exception without devhost's and asyncio's frames."""
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not any(part in frame.filename for part in _HOST_FRAMES)
    ]
    lines = traceback.format_list(frames) + traceback.format_exception_only(exc)
    return "Traceback (most recent call last):\n" + "".join(lines)


_HOST_FRAMES = ("/devhost/", "/asyncio/", "/concurrent/futures/")


class Engine:
    """Schedules episodes, activities, entity batches and durable timers."""

    def __init__(
        self,
        store: Store,
        app: AppFunctions,
        clock: Any,
        max_activities: int,
        max_orchestrators: int,
        binding_text: str,
        *,
        faithful: bool = True,
        function_timeout: float | None = None,
    ) -> None:
        self.store = store
        # faithful: replay actions as the extension does (devhost.shim); False is the
        # opt-in fast path that schedules every new action at once (not Azure-faithful).
        self.faithful = faithful
        self.function_timeout = function_timeout  # real seconds, host.json functionTimeout
        self.app = app
        self.clock = clock
        self.binding_text = binding_text  # the durableClient binding JSON
        self.max_activities = max_activities
        self.max_orchestrators = max_orchestrators
        self.activity_pool = ThreadPoolExecutor(max_activities, thread_name_prefix="activity")
        self.orchestrator_pool = ThreadPoolExecutor(
            max_orchestrators, thread_name_prefix="orchestrator"
        )
        self._activity_slots = asyncio.Semaphore(max_activities)
        self._orchestrations = _SerialQueue()
        self._entities = _SerialQueue()
        self._history_cache: dict[str, list[dict]] = {}
        self._timers: list[tuple[float, str]] = []
        self._timer_changed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._work_tasks: set[asyncio.Task] = set()
        # Batching: activities in flight per instance, and the cost and end of its last episode.
        self._outstanding: dict[str, int] = {}
        self._episode_cost: dict[str, tuple[float, float]] = {}
        self._deferred: set[str] = set()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Resume everything the state holds: inboxes, timers, work items, entity queues."""
        for _ in range(self.max_orchestrators):
            self._tasks.append(
                asyncio.create_task(self._worker(self._orchestrations, self._run_episode))
            )
            self._tasks.append(
                asyncio.create_task(self._worker(self._entities, self._run_entity_batch))
            )
        self._tasks.append(asyncio.create_task(self._timer_loop()))
        now = self.clock.time()
        for visible_at, instance_id in self.store.pending_timers():
            if visible_at > now:
                heapq.heappush(self._timers, (visible_at, instance_id))
        for instance_id in self.store.instances_with_inbox():
            self.notify(instance_id)
        for item in self.store.all_work():
            log.info(
                "resuming activity %s (task %s) of %s", item.name, item.task_id, item.instance_id
            )
            self._dispatch(item)
        for scheduler_id in self.store.entities_with_ops():
            self._entities.notify(scheduler_id)

    async def stop(self) -> None:
        for task in [*self._tasks, *self._work_tasks]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._work_tasks, return_exceptions=True)
        self.activity_pool.shutdown(wait=False, cancel_futures=True)
        self.orchestrator_pool.shutdown(wait=False, cancel_futures=True)

    def notify(self, instance_id: str) -> None:
        """Ask for an episode of ``instance_id`` (coalesced; one at a time per instance)."""
        self._orchestrations.notify(instance_id)

    async def _worker(self, queue: _SerialQueue, run: Callable[[str], Awaitable[None]]) -> None:
        while True:
            key = await queue.take()
            try:
                await run(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("devhost internal error while running %s", key)
            finally:
                queue.done(key)

    async def _timer_loop(self) -> None:
        while True:
            now = self.clock.time()
            while self._timers and self._timers[0][0] <= now:
                _, instance_id = heapq.heappop(self._timers)
                self.notify(instance_id)
            timeout = None
            if self._timers:
                timeout = max(self.clock.real_seconds(self._timers[0][0] - now), 0.0) + 0.001
            self._timer_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._timer_changed.wait(), timeout)

    def _add_timer(self, fire_at: float, instance_id: str) -> None:
        heapq.heappush(self._timers, (fire_at, instance_id))
        self._timer_changed.set()

    # -- management --------------------------------------------------------------------
    def start_new(self, name: str, instance_id: str | None, input_text: str | None) -> str:
        if name not in self.app.orchestrators:
            raise ManagementError(
                400,
                f"The function '{name}' doesn't exist, is disabled, or is not an "
                "orchestrator function.",
            )
        instance_id = instance_id or uuid.uuid4().hex
        existing = self.store.get_instance(instance_id)
        if existing is not None and existing.is_running:
            raise ManagementError(
                409,
                f"An Orchestration instance with the status {existing.status} already exists.",
            )
        now = self.clock.time()
        with self.store.transaction() as db:
            if existing is not None:
                Store.delete_instance(db, instance_id)
            self._create_instance(db, instance_id, name, input_text, now, None, None)
        self._history_cache.pop(instance_id, None)
        log.info("%s: Function '%s (Orchestrator)' scheduled.", instance_id, name)
        self.notify(instance_id)
        return instance_id

    def _create_instance(
        self,
        db: Any,
        instance_id: str,
        name: str,
        input_text: str | None,
        now: float,
        parent_id: str | None,
        parent_task_id: int | None,
    ) -> None:
        execution_id = uuid.uuid4().hex
        Store.put_instance(
            db,
            Instance(
                instance_id,
                name,
                execution_id,
                "Pending",
                input_text,
                None,
                None,
                now,
                now,
                parent_id,
                parent_task_id,
                0,
                0,
            ),
        )
        Store.add_inbox(
            db,
            instance_id,
            execution_id,
            self._execution_started(instance_id, execution_id, name, input_text, now, parent_id),
        )

    @staticmethod
    def _execution_started(
        instance_id: str,
        execution_id: str,
        name: str,
        input_text: str | None,
        now: float,
        parent_id: str | None,
    ) -> dict:
        return event(
            EventType.EXECUTION_STARTED,
            now,
            Name=name,
            Input=input_text,
            Version="",
            OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
            ParentInstance=(
                {"OrchestrationInstance": {"InstanceId": parent_id}} if parent_id else None
            ),
        )

    def raise_event(self, instance_id: str, name: str, input_text: str | None) -> None:
        record = event(EventType.EVENT_RAISED, self.clock.time(), Name=name, Input=input_text)
        instance = self._send(instance_id, record)
        log.info(
            "%s: Function '%s (Orchestrator)' received a '%s' event.",
            instance_id,
            instance.name,
            name,
        )

    def terminate(self, instance_id: str, reason: str) -> None:
        record = event(EventType.EXECUTION_TERMINATED, self.clock.time(), Input=json.dumps(reason))
        self._send(instance_id, record)

    def _send(self, instance_id: str, record: dict) -> Instance:
        """Queue ``record`` for a running instance (404 if unknown, 410 if it has ended)."""
        instance = self._existing(instance_id)
        if not instance.is_running:
            raise ManagementError(410, f"Instance {instance_id} is {instance.status}.")
        with self.store.transaction() as db:
            Store.add_inbox(db, instance_id, None, record)
        self.notify(instance_id)
        return instance

    def purge(self, instances: list[Instance]) -> int:
        """Delete terminal instances with their history; running ones are left alone."""
        purged = [i for i in instances if not i.is_running]
        with self.store.transaction() as db:
            for instance in purged:
                Store.delete_instance(db, instance.instance_id)
        for instance in purged:
            self._history_cache.pop(instance.instance_id, None)
        return len(purged)

    def history(self, instance_id: str) -> list[dict]:
        return self._history(instance_id)

    def signal_entity(self, scheduler_id: str, operation: str, input_text: str | None) -> None:
        with self.store.transaction() as db:
            Store.add_entity_op(db, scheduler_id, operation, input_text, True, None, None)
        self._entities.notify(scheduler_id)

    def _existing(self, instance_id: str) -> Instance:
        instance = self.store.get_instance(instance_id)
        if instance is None:
            raise ManagementError(404, f"No instance with ID '{instance_id}' found.")
        return instance

    def _history(self, instance_id: str) -> list[dict]:
        cached = self._history_cache.get(instance_id)
        if cached is None:
            cached = self.store.load_history(instance_id)
            for record in cached:
                record["IsPlayed"] = True
            self._history_cache[instance_id] = cached
        return cached

    # -- orchestration episodes --------------------------------------------------------
    def _defer_episode(self, instance_id: str) -> bool:
        """Wait for more results of an instance whose activities are still running.

        A replay costs time linear in the history, so running one per result of a large
        fan-out is quadratic. While activities of the instance are in flight, the next
        episode waits as long as the last one took (at most a second), so that each
        replay takes in a batch of results and replays use at most about half the time.
        """
        last = self._episode_cost.get(instance_id)
        if last is None or not self._outstanding.get(instance_id):
            return False
        cost, ended = last
        wait = ended + min(cost, 1.0) - time.monotonic()
        if wait <= 0.001:
            return False
        if instance_id not in self._deferred:
            self._deferred.add(instance_id)

            def wake() -> None:
                self._deferred.discard(instance_id)
                self.notify(instance_id)

            asyncio.get_running_loop().call_later(wait, wake)
        return True

    async def _run_episode(self, instance_id: str) -> None:
        if self._defer_episode(instance_id):
            return
        started = time.monotonic()
        try:
            await self._episode(instance_id)
        finally:
            ended = time.monotonic()
            self._episode_cost[instance_id] = (ended - started, ended)

    async def _episode(self, instance_id: str) -> None:
        now = self.clock.time()
        messages = self.store.visible_inbox(instance_id, now)
        if not messages:
            return
        instance = self.store.get_instance(instance_id)
        if instance is None or not instance.is_running:
            # Late results for a finished or purged instance are dropped, as DTFx does.
            with self.store.transaction() as db:
                Store.delete_inbox(db, [m.id for m in messages])
            return
        consumed = [m.id for m in messages]
        fresh = [
            m.event
            for m in messages
            if m.execution_id is None or m.execution_id == instance.execution_id
        ]
        terminate = next(
            (e for e in fresh if e["EventType"] == EventType.EXECUTION_TERMINATED), None
        )
        if terminate is not None:
            self._finish_terminated(instance, terminate, consumed, now)
            return
        history = self._history(instance_id)
        started = [e for e in fresh if e["EventType"] == EventType.EXECUTION_STARTED]
        if not history and not started:
            with self.store.transaction() as db:  # nothing to start from; drop
                Store.delete_inbox(db, consumed)
            return
        chains = {} if self.faithful else self.store.load_retry_chains(instance_id)
        delivered = self._deliverable(history, fresh, chains)
        if not delivered and not started:
            with self.store.transaction() as db:
                Store.delete_inbox(db, consumed)
            return
        new_events = [event(EventType.ORCHESTRATOR_STARTED, now)]
        new_events += started[:1] if not history else []
        new_events += delivered
        spec = self.app.orchestrators.get(instance.name)
        state: dict | None
        error: str | None
        if spec is None:
            state, error = None, f"The orchestrator function '{instance.name}' does not exist."
        else:
            payload = json.dumps(
                self.orchestration_context(
                    history + new_events,
                    instance_id,
                    instance.parent_instance_id,
                    instance.input,
                    is_replaying=bool(history),
                )
            )
            loop = asyncio.get_running_loop()
            state, error = await loop.run_in_executor(
                self.orchestrator_pool, invoke_orchestrator, spec.func, payload
            )
        self._commit_episode(instance, history, new_events, consumed, chains, state, error, now)

    def orchestration_context(
        self,
        history: list[dict],
        instance_id: str,
        parent_instance_id: str | None,
        input_text: str | None,
        is_replaying: bool,
    ) -> dict:
        """The orchestration trigger's JSON, as OrchestrationContextToString writes it."""
        context = {
            "history": history,
            "input": input_text,
            "instanceId": instance_id,
            "isReplaying": is_replaying,
            "parentInstanceId": parent_instance_id,
        }
        if self.faithful:
            context.update(
                {
                    "upperSchemaVersion": shim.SCHEMA_V2,
                    "upperSchemaVersionNew": shim.SCHEMA_V3,
                    "longRunningTimerIntervalDuration": shim.timespan_text(
                        shim.LONG_TIMER_INTERVAL
                    ),
                    "maximumShortTimerDuration": shim.timespan_text(shim.MAXIMUM_SHORT_TIMER),
                }
            )
        else:  # the fast path stays on schema V2 without long timers, as it always was
            context.update({"upperSchemaVersion": 1, "upperSchemaVersionNew": 1})
        return context

    def _deliverable(self, history: list[dict], fresh: list[dict], chains: dict) -> list[dict]:
        """New events of this episode: retry-chain events first, duplicates dropped."""
        scheduled: set[int] = set()
        done: set[int] = set()
        for record in history:
            kind = record["EventType"]
            if kind in (
                EventType.TASK_SCHEDULED,
                EventType.SUB_ORCHESTRATION_CREATED,
                EventType.TIMER_CREATED,
            ):
                scheduled.add(record["EventId"])
            task_id = completed_task_id(record)
            if task_id is not None:
                done.add(task_id)
        retry_ids = {chain["ids"][-1] for chain in chains.values()}
        first: list[dict] = []
        rest: list[dict] = []
        for record in fresh:
            kind = record["EventType"]
            if kind == EventType.EXECUTION_STARTED:
                continue
            task_id = completed_task_id(record)
            if task_id is not None:
                if task_id in done or task_id not in scheduled:
                    continue  # a duplicate (at-least-once) or a result of another execution
                done.add(task_id)
                if (
                    task_id in retry_ids
                    and kind != EventType.TASK_COMPLETED
                    and (kind != EventType.SUB_ORCHESTRATION_COMPLETED)
                ):
                    first.append(record)
                    continue
            rest.append(record)
        return first + rest

    def _commit_episode(
        self,
        instance: Instance,
        history: list[dict],
        new_events: list[dict],
        consumed: list[int],
        chains: dict[int, dict],
        state: dict | None,
        error: str | None,
        now: float,
    ) -> None:
        instance_id = instance.instance_id
        output_text: str | None = None
        if self.faithful:
            plan, status, error = self._plan_as_the_extension(
                instance, history + new_events, state, error, now
            )
        else:
            plan, status, error = self._plan_in_parallel(
                instance, new_events, chains, state, error, now
            )
        if status == "Completed" and state is not None:
            output_text = json.dumps(state.get("output"))
        if error is not None:
            status = "Failed"
            if not error.startswith(NON_DETERMINISTIC):
                error = f"Orchestrator function '{instance.name}' failed: {error}"
            output_text = json.dumps(error)
            plan = Plan(next_id=instance.next_id)

        custom = state.get("customStatus") if state and status != "Failed" else None
        events = list(new_events)
        events += [record for _, record in sorted(plan.scheduling, key=lambda item: item[0])]
        events.append(event(EventType.ORCHESTRATOR_COMPLETED, now))
        if status in ("Completed", "Failed"):
            events.append(
                event(
                    EventType.EXECUTION_COMPLETED,
                    now,
                    OrchestrationStatus=status,
                    Result=output_text,
                )
            )
        work_ids: list[int] = []
        with self.store.transaction() as db:
            Store.delete_inbox(db, consumed)
            if status == "ContinuedAsNew":
                self._continue_as_new(db, instance, plan.continue_as_new, now)
            else:
                Store.append_history(db, instance_id, len(history), events)
                Store.append_action_log(db, instance_id, instance.actions_seen, plan.log_entries)
                for position, chain in plan.chains.items():
                    Store.put_retry_chain(db, instance_id, position, chain)
                for timer_id in plan.canceled_timers:
                    Store.delete_timer_message(db, instance_id, timer_id)
                instance.status = status
                instance.output = output_text
                instance.custom_status = None if custom is None else json.dumps(custom)
                instance.last_updated = now
                instance.next_id = plan.next_id
                instance.actions_seen += len(plan.log_entries)
                Store.put_instance(db, instance)
            for task_id, name, input_text in plan.work:
                work_ids.append(
                    Store.add_work(
                        db, instance_id, instance.execution_id, task_id, name, input_text
                    )
                )
            for fire_at, record in plan.timers:
                Store.add_inbox(db, instance_id, instance.execution_id, record, fire_at)
            for record in plan.immediate:
                Store.add_inbox(db, instance_id, instance.execution_id, record)
            started_children = self._create_children(db, instance, plan, now)
            for scheduler_id, operation, input_text, signal, request_id in plan.entity_ops:
                Store.add_entity_op(
                    db, scheduler_id, operation, input_text, signal, instance_id, request_id
                )
            if status in ("Completed", "Failed"):
                self._notify_parent(db, instance, status, output_text, error, now)
        # Written: now act on it.
        if status in ("ContinuedAsNew", "Completed", "Failed"):
            # Ended instances rarely replay again; their history is read from SQLite if asked.
            self._history_cache.pop(instance_id, None)
            self._episode_cost.pop(instance_id, None)
        else:
            for record in events:
                record["IsPlayed"] = True
            history.extend(events)
        for work_id in work_ids:
            item = self.store.get_work(work_id)
            if item is not None:
                self._dispatch(item)
        for fire_at, _record in plan.timers:
            self._add_timer(fire_at, instance_id)
        for child_id in started_children:
            self.notify(child_id)
        for scheduler_id, *_ in plan.entity_ops:
            self._entities.notify(scheduler_id)
        if plan.immediate or status == "ContinuedAsNew":
            self.notify(instance_id)
        if status in ("Completed", "Failed") and instance.parent_instance_id:
            self.notify(instance.parent_instance_id)
        self._log_episode(instance, status, error, len(new_events) - 1)

    def _plan_as_the_extension(
        self,
        instance: Instance,
        history: list[dict],
        state: dict | None,
        error: str | None,
        now: float,
    ) -> tuple[Plan, str, str | None]:
        """Plan an episode as OutOfProcOrchestrationShim replays the SDK's actions.

        The custom status is set first (and refused over 16 KB), then the actions are
        replayed in order, each awaited before the next (:mod:`devhost.shim`); the SDK's
        ``isDone`` and error count only once every action has completed.
        """
        plan = Plan(next_id=instance.next_id)
        if state is None:
            return plan, "Failed", error
        too_large = custom_status_error(state.get("customStatus"))
        if too_large is not None:
            return plan, "Failed", too_large
        replay = shim.replay(history, state, instance.name)
        if replay.error is not None:
            return plan, "Failed", replay.error
        for leaf in replay.new:
            self._plan_action(instance, plan, leaf.task_id, leaf.action, now)
        plan.canceled_timers = replay.canceled_timers
        plan.next_id = replay.next_id
        if replay.blocked:
            return plan, "Running", None
        if error is not None:
            return plan, "Failed", error
        if replay.continue_as_new is not None:
            plan.continued = True
            plan.continue_as_new = replay.continue_as_new.get("input")
            return plan, "ContinuedAsNew", None
        return plan, ("Completed" if state.get("isDone") else "Running"), None

    def _plan_in_parallel(
        self,
        instance: Instance,
        new_events: list[dict],
        chains: dict[int, dict],
        state: dict | None,
        error: str | None,
        now: float,
    ) -> tuple[Plan, str, str | None]:
        """The opt-in fast path (not Azure-faithful): every new action is scheduled at once."""
        action_log = self.store.load_action_log(instance.instance_id)
        plan = Plan(next_id=instance.next_id)
        atomic = flatten_actions(state.get("actions", [])) if state else []
        nondeterminism = self._check_determinism(instance, action_log, atomic) if state else None
        if nondeterminism:
            return plan, "Failed", nondeterminism
        if error is not None or state is None:
            return plan, "Failed", error
        self._expand_retries(instance, new_events, chains, plan, now)
        self._plan_new_actions(instance, atomic, len(action_log), plan, chains, now)
        for position, (event_id, kind, _name) in enumerate(action_log):
            action = atomic[position]
            if kind == "timer" and action.get("isCanceled") and event_id is not None:
                plan.canceled_timers.append(event_id)
        if plan.continued:
            return plan, "ContinuedAsNew", None
        return plan, ("Completed" if state.get("isDone") else "Running"), None

    def _log_episode(self, instance: Instance, status: str, error: str | None, events: int) -> None:
        if status == "Completed":
            log.info(
                "%s: Function '%s (Orchestrator)' completed. Output: %s",
                instance.instance_id,
                instance.name,
                _short(instance.output),
            )
        elif status == "Failed":
            log.error(
                "%s: Function '%s (Orchestrator)' failed: %s",
                instance.instance_id,
                instance.name,
                error,
            )
        elif status == "ContinuedAsNew":
            log.info(
                "%s: Function '%s (Orchestrator)' continued as new.",
                instance.instance_id,
                instance.name,
            )
        else:
            log.info(
                "%s: Function '%s (Orchestrator)' awaited (%d new events).",
                instance.instance_id,
                instance.name,
                events,
            )

    def _check_determinism(
        self, instance: Instance, action_log: list, atomic: list[dict]
    ) -> str | None:
        """DTFx's check: replayed actions must match what the history scheduled."""
        for position, (event_id, kind, name) in enumerate(action_log):
            if position >= len(atomic):
                return (
                    f"{NON_DETERMINISTIC}: a previous execution of '{instance.name}' scheduled "
                    f"{_what(kind, name)} as action #{position}"
                    + (f" (sequence id {event_id})" if event_id is not None else "")
                    + ", but the replay did not schedule it. Was the orchestrator code "
                    "changed while this instance was running?"
                )
            replayed_kind, replayed_name = describe_action(atomic[position])
            if (replayed_kind, replayed_name) != (kind, name):
                return (
                    f"{NON_DETERMINISTIC}: action #{position} of '{instance.name}' is "
                    f"{_what(replayed_kind, replayed_name)} in the replay, but the history "
                    f"has {_what(kind, name)}"
                    + (f" (sequence id {event_id})" if event_id is not None else "")
                    + ". Was the orchestrator code changed while this instance was running?"
                )
        return None

    def _expand_retries(
        self,
        instance: Instance,
        new_events: list[dict],
        chains: dict[int, dict],
        plan: Plan,
        now: float,
    ) -> None:
        """DTFx's retry interceptor: failed attempt -> timer; fired timer -> next attempt."""
        for record in new_events:
            task_id = completed_task_id(record)
            if task_id is None:
                continue
            for position, chain in chains.items():
                if chain["ids"][-1] != task_id:
                    continue
                kind = record["EventType"]
                if kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
                    timer_id = plan.next_id
                    plan.next_id += 1
                    fire_at = now + retry_delay_seconds(chain["options"], chain["attempts"])
                    self._plan_timer(plan, timer_id, fire_at, format_time(fire_at), now)
                    chain["ids"].append(timer_id)
                    plan.chains[position] = chain
                elif kind == EventType.TIMER_FIRED and chain["attempts"] < int(
                    chain["options"].get("maxNumberOfAttempts", 1)
                ):
                    attempt_id = plan.next_id
                    plan.next_id += 1
                    chain["attempts"] += 1
                    chain["ids"].append(attempt_id)
                    plan.chains[position] = chain
                    self._plan_call(instance, plan, attempt_id, chain["action"], now)
                break

    def _plan_new_actions(
        self,
        instance: Instance,
        atomic: list[dict],
        first_new: int,
        plan: Plan,
        chains: dict[int, dict],
        now: float,
    ) -> None:
        for position in range(first_new, len(atomic)):
            action = atomic[position]
            kind, name = describe_action(action)
            action_type = ActionType(action["actionType"])
            if action_type == ActionType.WAIT_FOR_EXTERNAL_EVENT:
                plan.log_entries.append((None, kind, name))  # waits take no sequence number
                continue
            task_id = plan.next_id
            plan.next_id += 1
            plan.log_entries.append((task_id, kind, name))
            if action_type == ActionType.CONTINUE_AS_NEW:
                plan.continued = True
                plan.continue_as_new = action.get("input")
                continue
            if action_type in (
                ActionType.CALL_ACTIVITY_WITH_RETRY,
                ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
            ):
                chain = {
                    "action": action,
                    "options": action.get("retryOptions", {}),
                    "attempts": 1,
                    "ids": [task_id],
                }
                chains[position] = chain
                plan.chains[position] = chain
            self._plan_action(instance, plan, task_id, action, now)

    def _plan_action(
        self, instance: Instance, plan: Plan, task_id: int, action: dict, now: float
    ) -> None:
        """Record and start the work of one atomic action with sequence number ``task_id``."""
        action_type = ActionType(action["actionType"])
        if action_type == ActionType.CREATE_TIMER:
            fire_at = parse_time(action["fireAt"])
            self._plan_timer(
                plan,
                task_id,
                fire_at,
                action["fireAt"],
                now,
                canceled=bool(action.get("isCanceled")),
            )
        elif action_type in (ActionType.CALL_ENTITY, ActionType.SIGNAL_ENTITY):
            signal = action_type == ActionType.SIGNAL_ENTITY
            request_id = str(uuid.uuid4())
            target = action["instanceId"]
            message = {
                "id": request_id,
                "op": action.get("operation"),
                "signal": signal,
                "input": action.get("input"),
                "parent": instance.instance_id,
            }
            plan.scheduling.append(
                (
                    task_id,
                    event(
                        EventType.EVENT_SENT,
                        now,
                        task_id,
                        InstanceId=target,
                        Name="op",
                        Input=json.dumps(message),
                    ),
                )
            )
            plan.entity_ops.append(
                (
                    target,
                    action.get("operation") or "",
                    action.get("input"),
                    signal,
                    None if signal else request_id,
                )
            )
        elif action_type == ActionType.CALL_HTTP:
            plan.scheduling.append(
                (task_id, event(EventType.TASK_SCHEDULED, now, task_id, Name=HTTP_ACTIVITY))
            )
            plan.immediate.append(
                event(
                    EventType.TASK_FAILED,
                    now,
                    TaskScheduledId=task_id,
                    Reason="Durable HTTP (call_http) is not supported by devhost.",
                    Details="Call the endpoint from an activity instead.",
                )
            )
        else:
            self._plan_call(instance, plan, task_id, action, now)

    def _plan_call(
        self, instance: Instance, plan: Plan, task_id: int, action: dict, now: float
    ) -> None:
        """Schedule an activity or a sub-orchestration with sequence number ``task_id``."""
        action_type = ActionType(action["actionType"])
        name = action["functionName"]
        if action_type in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
            plan.scheduling.append(
                (
                    task_id,
                    event(
                        EventType.TASK_SCHEDULED,
                        now,
                        task_id,
                        Name=name,
                        Input=action.get("input"),
                        Version="",
                    ),
                )
            )
            plan.work.append((task_id, name, action.get("input")))
            return
        child_id = action.get("instanceId") or f"{instance.instance_id}:{task_id:04d}"
        plan.scheduling.append(
            (
                task_id,
                event(
                    EventType.SUB_ORCHESTRATION_CREATED,
                    now,
                    task_id,
                    Name=name,
                    InstanceId=child_id,
                    Input=action.get("input"),
                    Version="",
                ),
            )
        )
        plan.children.append((task_id, name, child_id, action.get("input")))

    def _plan_timer(
        self,
        plan: Plan,
        timer_id: int,
        fire_at: float,
        fire_text: str,
        now: float,
        canceled: bool = False,
    ) -> None:
        plan.scheduling.append(
            (timer_id, event(EventType.TIMER_CREATED, now, timer_id, FireAt=fire_text))
        )
        if not canceled:
            plan.timers.append(
                (fire_at, event(EventType.TIMER_FIRED, fire_at, TimerId=timer_id, FireAt=fire_text))
            )

    def _create_children(self, db: Any, parent: Instance, plan: Plan, now: float) -> list[str]:
        started: list[str] = []
        for task_id, name, child_id, input_text in plan.children:
            existing = self.store.get_instance(child_id)
            reason = None
            if name not in self.app.orchestrators:
                reason = f"The orchestrator function '{name}' does not exist."
            elif existing is not None and existing.is_running:
                reason = (
                    f"An orchestration instance with the ID '{child_id}' already exists "
                    f"and is {existing.status}."
                )
            if reason is not None:
                Store.add_inbox(
                    db,
                    parent.instance_id,
                    parent.execution_id,
                    event(
                        EventType.SUB_ORCHESTRATION_FAILED,
                        now,
                        TaskScheduledId=task_id,
                        Reason=reason,
                        Details="",
                    ),
                )
                started.append(parent.instance_id)
                continue
            if existing is not None:
                Store.delete_instance(db, child_id)
                self._history_cache.pop(child_id, None)
            self._create_instance(db, child_id, name, input_text, now, parent.instance_id, task_id)
            started.append(child_id)
        return started

    def _continue_as_new(
        self, db: Any, instance: Instance, input_text: str | None, now: float
    ) -> None:
        Store.clear_execution(db, instance.instance_id)
        instance.execution_id = uuid.uuid4().hex
        instance.status = "Running"
        instance.input = input_text
        instance.output = None
        instance.last_updated = now
        instance.next_id = 0
        instance.actions_seen = 0
        Store.put_instance(db, instance)
        Store.add_inbox(
            db,
            instance.instance_id,
            instance.execution_id,
            self._execution_started(
                instance.instance_id,
                instance.execution_id,
                instance.name,
                input_text,
                now,
                instance.parent_instance_id,
            ),
        )

    def _notify_parent(
        self,
        db: Any,
        instance: Instance,
        status: str,
        output_text: str | None,
        error: str | None,
        now: float,
    ) -> None:
        if not instance.parent_instance_id or instance.parent_task_id is None:
            return
        if status == "Completed":
            record = event(
                EventType.SUB_ORCHESTRATION_COMPLETED,
                now,
                TaskScheduledId=instance.parent_task_id,
                Result=output_text,
            )
        else:
            record = event(
                EventType.SUB_ORCHESTRATION_FAILED,
                now,
                TaskScheduledId=instance.parent_task_id,
                Reason=error or f"Instance {instance.instance_id} {status.lower()}",
                Details="",
            )
        Store.add_inbox(db, instance.parent_instance_id, None, record)

    def _finish_terminated(
        self, instance: Instance, terminate: dict, consumed: list[int], now: float
    ) -> None:
        history = self._history(instance.instance_id)
        reason_text = terminate.get("Input")
        events = [
            event(EventType.ORCHESTRATOR_STARTED, now),
            event(EventType.EXECUTION_TERMINATED, now, Input=reason_text),
            event(EventType.ORCHESTRATOR_COMPLETED, now),
            event(
                EventType.EXECUTION_COMPLETED,
                now,
                OrchestrationStatus="Terminated",
                Result=reason_text,
            ),
        ]
        with self.store.transaction() as db:
            Store.delete_inbox(db, consumed)
            Store.delete_work_of(db, instance.instance_id)
            Store.append_history(db, instance.instance_id, len(history), events)
            instance.status = "Terminated"
            instance.output = reason_text
            instance.last_updated = now
            Store.put_instance(db, instance)
            reason = json.loads(reason_text) if reason_text else ""
            # Azure leaves the parent of a terminated sub-orchestration waiting (DTFx sends
            # the parent a result only for Completed and Failed); the fast path fails it.
            if not self.faithful:
                self._notify_parent(
                    db,
                    instance,
                    "Terminated",
                    None,
                    f"Instance {instance.instance_id} was terminated: {reason}",
                    now,
                )
        self._history_cache.pop(instance.instance_id, None)
        log.info(
            "%s: Function '%s (Orchestrator)' was terminated. Reason: %s",
            instance.instance_id,
            instance.name,
            reason_text,
        )
        if instance.parent_instance_id and not self.faithful:
            self.notify(instance.parent_instance_id)

    # -- activities --------------------------------------------------------------------
    def _dispatch(self, item: WorkItem) -> None:
        self._outstanding[item.instance_id] = self._outstanding.get(item.instance_id, 0) + 1
        task = asyncio.create_task(self._run_activity(item))
        self._work_tasks.add(task)
        task.add_done_callback(self._work_tasks.discard)

    async def _run_activity(self, item: WorkItem) -> None:
        async with self._activity_slots:
            spec = self.app.activities.get(item.name)
            now_record: dict
            try:
                if spec is None:
                    raise LookupError(f"The activity function '{item.name}' does not exist.")
                value = df_converters.ActivityTriggerConverter.decode(
                    meta.Datum(type="json", value=item.input or "null"),
                    trigger_metadata=activity_trigger_metadata(item, spec.trigger_param),
                )
                result = await self._invoke_activity(spec, value, item)
                now_record = event(
                    EventType.TASK_COMPLETED,
                    self.clock.time(),
                    TaskScheduledId=item.task_id,
                    Result=df_serialization.df_dumps(result),
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                now_record = event(
                    EventType.TASK_FAILED,
                    self.clock.time(),
                    TaskScheduledId=item.task_id,
                    Reason=f"Activity function '{item.name}' failed: {_failure_text(exc)}",
                    Details=user_traceback(exc),
                )
        with self.store.transaction() as db:
            Store.delete_work(db, item.id)
            Store.add_inbox(db, item.instance_id, item.execution_id, now_record)
        left = self._outstanding.get(item.instance_id, 1) - 1
        if left > 0:
            self._outstanding[item.instance_id] = left
        else:
            self._outstanding.pop(item.instance_id, None)
        self.notify(item.instance_id)

    async def _invoke_activity(self, spec: FunctionSpec, value: Any, item: WorkItem) -> Any:
        """Run an activity; past host.json ``functionTimeout`` it fails, as on the host.

        The timeout counts real seconds: an activity's own code runs at real speed, only
        durable waits follow the world clock. Python cannot stop the thread of a sync
        function, so it runs on and its result is dropped (the host recycles the worker).
        """
        call = self.invoke(
            spec,
            {spec.trigger_param: value},
            reason=f"instance {item.instance_id}",
            pool=self.activity_pool,
        )
        if not self.faithful or self.function_timeout is None:
            return await call
        try:
            return await asyncio.wait_for(call, self.function_timeout)
        except TimeoutError:
            limit = shim.timespan_text(timedelta(seconds=self.function_timeout))
            raise FunctionTimeoutError(
                f"Timeout value of {limit} was exceeded by function: {spec.name}"
            ) from None

    async def invoke(
        self,
        spec: FunctionSpec,
        kwargs: dict[str, Any],
        reason: str,
        pool: ThreadPoolExecutor,
    ) -> Any:
        """Call an app function as the worker does: async on the loop, sync in a thread."""
        context = InvocationContext(spec.name)
        if spec.wants_context:
            kwargs["context"] = context
        for client_param in spec.client_params:
            kwargs[client_param] = self.binding_text
        started = time.monotonic()
        log.info(
            "Executing 'Functions.%s' (Reason='%s', Id=%s)",
            spec.name,
            reason,
            context.invocation_id,
        )
        outcome = "Failed"
        try:
            if spec.is_async:
                result = await spec.func(**kwargs)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(pool, functools.partial(spec.func, **kwargs))
            outcome = "Succeeded"
            return result
        except Exception as exc:
            log.error("Function '%s' failed: %s: %s", spec.name, type(exc).__name__, exc)
            raise
        finally:
            log.info(
                "Executed 'Functions.%s' (%s, Id=%s, Duration=%dms)",
                spec.name,
                outcome,
                context.invocation_id,
                (time.monotonic() - started) * 1000,
            )

    # -- entities ----------------------------------------------------------------------
    async def _run_entity_batch(self, scheduler_id: str) -> None:
        operations = self.store.entity_ops(scheduler_id)
        if not operations:
            return
        _, name, key = scheduler_id.split("@", 2)
        state_text, exists = self.store.get_entity(scheduler_id)
        spec = self.app.entities.get(name.lower())
        batch = [
            {"name": op.operation, "input": json.dumps(op.input if op.input else "null")}
            for op in operations
        ]
        payload = json.dumps(
            {
                "self": {"name": name, "key": key},
                "exists": exists,
                "state": state_text,
                "batch": batch,
            }
        )
        results: list[tuple[bool, str]]
        try:
            if spec is None:
                raise LookupError(f"The entity function '{name}' does not exist.")
            loop = asyncio.get_running_loop()
            log.info(
                "Executing 'Functions.%s' (Reason='entity %s, %d operations')",
                spec.name,
                scheduler_id,
                len(operations),
            )
            answer = json.loads(
                await loop.run_in_executor(self.orchestrator_pool, spec.func, payload)
            )
            results = [
                (bool(r.get("isError")), r.get("result") or "null")
                for r in answer.get("results", [])
            ]
            exists = bool(answer.get("entityExists"))
            state_text = answer.get("entityState") if exists else None
        except Exception as exc:
            log.error("entity %s failed: %s: %s", scheduler_id, type(exc).__name__, exc)
            results = [(True, json.dumps(f"{type(exc).__name__}: {exc}"))] * len(operations)
        now = self.clock.time()
        parents: set[str] = set()
        with self.store.transaction() as db:
            Store.put_entity(db, scheduler_id, name, key, state_text, exists, now)
            Store.delete_entity_ops(db, [op.id for op in operations])
            for op, (is_error, result_text) in zip(operations, results, strict=False):
                if op.signal or not op.parent_instance_id or not op.request_id:
                    continue
                response: dict[str, Any] = {"result": result_text}
                if is_error:
                    response["exceptionType"] = "System.Exception"
                Store.add_inbox(
                    db,
                    op.parent_instance_id,
                    None,
                    event(
                        EventType.EVENT_RAISED, now, Name=op.request_id, Input=json.dumps(response)
                    ),
                )
                parents.add(op.parent_instance_id)
        for parent in parents:
            self.notify(parent)


class _SerialQueue:
    """Keys waiting to be processed, each at most once at a time; repeats coalesce."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._again: set[str] = set()

    def notify(self, key: str) -> None:
        if key in self._running:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    async def take(self) -> str:
        key = await self._queue.get()
        self._queued.discard(key)
        self._running.add(key)
        return key

    def done(self, key: str) -> None:
        self._running.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.notify(key)


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, FunctionTimeoutError):
        return str(exc)  # the host's own message, no Python exception type
    return f"{type(exc).__name__}: {exc}"


def _what(kind: str, name: str | None) -> str:
    return f"{kind} '{name}'" if name else kind


def _short(text: str | None, limit: int = 200) -> str:
    if text is None:
        return "(null)"
    return text if len(text) <= limit else text[:limit] + "..."
