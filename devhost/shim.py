"""The Durable extension's replay of an out-of-process orchestrator's actions, in Python.

On Azure the Python SDK schedules nothing itself: each episode it returns its list of
actions, and the extension's ``OutOfProcOrchestrationShim`` (.NET) replays that list against
the Durable Task Framework's orchestration context. With the SDK's schema V2/V3 the shim
invokes the actions **in order, awaiting each before invoking the next**
(``ProcessAsyncActionsV2``); a ``WhenAll`` is .NET's ``Task.WhenAll`` (waits for every
child, no fail-fast) and a ``WhenAny`` is ``Task.WhenAny``. DTFx gives each invoked task
the next sequence number at the moment it is invoked; retries (``CallActivityWithRetry``)
add their own timers and attempts when a failure is replayed; timers longer than the
storage provider's maximum are split into intervals.

:func:`replay` re-runs that .NET replay over an instance's whole history, event by event, as
DTFx does each episode, and returns what the extension would do: the tasks it invoked that
the history does not hold yet (to schedule now, with their sequence numbers), the error that
fails the orchestration (non-determinism, a timer the provider refuses), and whether it
continued as new. ``docs/devhost.md`` cites the extension and SDK lines each rule follows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from devhost.history import ActionType, EventType, completed_task_id, format_time, parse_time

# Azure Storage provider limits (AzureStorageDurabilityProvider.MaximumDelayTime and
# LongRunningTimerIntervalLength); the host sends both to the SDK as .NET TimeSpans.
MAXIMUM_SHORT_TIMER = timedelta(days=6)
LONG_TIMER_INTERVAL = timedelta(days=3)
SCHEMA_V1, SCHEMA_V2, SCHEMA_V3 = 0, 1, 2
NON_DETERMINISTIC = "Non-deterministic orchestrator"
HTTP_ACTIVITY = "BuiltIn::HttpActivity"


def timespan_text(span: timedelta) -> str:
    """A TimeSpan as Newtonsoft.Json writes it (``d.hh:mm:ss``)."""
    seconds = int(span.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}.{clock}" if days else clock


def retry_delay_seconds(options: dict, attempt: int) -> float:
    """DTFx's next delay after failed attempt ``attempt`` (1-based)."""
    first = float(options.get("firstRetryIntervalInMilliseconds", 1000))
    backoff = float(options.get("backoffCoefficient", 1.0))
    delay = first * backoff ** (attempt - 1)
    cap = options.get("maxRetryIntervalInMilliseconds")
    if cap:
        delay = min(delay, float(cap))
    return delay / 1000.0


class ReplayError(Exception):
    """Something the extension throws during its replay: the orchestration fails with it."""


@dataclass
class Leaf:
    """One DTFx task the shim invoked: it owns a sequence number (``task_id``)."""

    task_id: int
    kind: str  # activity | sub-orchestration | timer | entity call | entity signal | http call
    name: str | None
    action: dict  # the SDK action to schedule (a synthesized CreateTimer for host timers)
    fire_at: float | None = None
    canceled: bool = False
    parent: _Task | None = None
    done: bool = False
    failed: bool = False


class _Task:
    """A .NET task of the replay: completes once, then tells its parent."""

    def __init__(self) -> None:
        self.parent: _Task | None = None
        self.done = False
        self.failed = False

    def finish(self, shim: _Shim, failed: bool) -> None:
        if self.done:
            return
        self.done, self.failed = True, failed
        if self.parent is not None:
            self.parent.child_done(shim, self)

    def child_done(self, shim: _Shim, child: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class _LeafTask(_Task):
    def __init__(self, leaf: Leaf) -> None:
        super().__init__()
        self.leaf = leaf


class _WhenAll(_Task):
    """``Task.WhenAll``: done when every child is done; failed if any failed."""

    def __init__(self, children: list[_Task]) -> None:
        super().__init__()
        self.children = children

    def settle(self, shim: _Shim) -> None:
        if all(child.done for child in self.children):
            self.finish(shim, any(child.failed for child in self.children))

    def child_done(self, shim: _Shim, child: Any) -> None:
        self.settle(shim)


class _WhenAny(_Task):
    """``Task.WhenAny``: done when any child is done (a child's failure does not fail it)."""

    def __init__(self, children: list[_Task]) -> None:
        super().__init__()
        self.children = children

    def settle(self, shim: _Shim) -> None:
        if not self.children or any(child.done for child in self.children):
            self.finish(shim, False)

    def child_done(self, shim: _Shim, child: Any) -> None:
        self.settle(shim)


class _Retry(_Task):
    """DTFx's RetryInterceptor: attempt; on failure a timer; when it fires, the next attempt.

    After the last failed attempt one more timer runs before the task fails (the loop
    creates the timer before checking the attempt count), as the SDK expects.
    """

    def __init__(self, action: dict) -> None:
        super().__init__()
        self.action = action
        self.options = action.get("retryOptions") or {}
        self.attempts = 0
        self.waiting_on_timer = False

    def attempt(self, shim: _Shim) -> None:
        self.attempts += 1
        self.waiting_on_timer = False
        shim.leaf(self, _kind_of(self.action), self.action.get("functionName"), self.action)

    def child_done(self, shim: _Shim, child: Any) -> None:
        if self.waiting_on_timer:
            if self.attempts >= int(self.options.get("maxNumberOfAttempts", 1)):
                self.finish(shim, True)
            else:
                self.attempt(shim)
        elif not child.failed:
            self.finish(shim, False)
        else:
            self.waiting_on_timer = True
            fire_at = shim.now + retry_delay_seconds(self.options, self.attempts)
            shim.timer(self, fire_at)


class _LongTimer(_Task):
    """DurableOrchestrationContext.CreateTimer for a timer beyond the provider's maximum.

    It waits in intervals of ``LongRunningTimerIntervalLength`` (the last one shorter) until
    the orchestration time reaches the final fire time; each interval is a DTFx timer.
    """

    def __init__(self, final: float) -> None:
        super().__init__()
        self.final = final

    def child_done(self, shim: _Shim, child: Any) -> None:
        remaining = self.final - shim.now
        if child.failed or remaining <= 0:
            self.finish(shim, child.failed)
        else:
            shim.timer(self, shim.now + min(remaining, LONG_TIMER_INTERVAL.total_seconds()))


@dataclass
class Replay:
    """What the extension does with an episode's actions (see :func:`replay`)."""

    new: list[Leaf] = field(default_factory=list)
    error: str | None = None
    continue_as_new: dict | None = None
    canceled_timers: list[int] = field(default_factory=list)
    next_id: int = 0
    blocked: bool = False  # an action is still awaited: isDone and errors wait for it


class _Shim:
    def __init__(self, orchestrator: str, schema: int) -> None:
        self.orchestrator = orchestrator
        self.schema = schema
        self.now = 0.0
        self.next_id = 0
        self.leaves: dict[int, _LeafTask] = {}
        self.requests: dict[str, _LeafTask] = {}  # entity call request id -> its task
        self.waiters: dict[str, list[_Task]] = {}  # external event name -> waiting tasks
        self.buffered: dict[str, int] = {}  # events raised before anyone waited
        self.continue_as_new: dict | None = None

    # -- invoking (InvokeAPIFromAction) -----------------------------------------------------
    def leaf(self, parent: _Task | None, kind: str, name: str | None, action: dict) -> _LeafTask:
        leaf = Leaf(self.next_id, kind, name, action)
        self.next_id += 1
        task = _LeafTask(leaf)
        task.parent = parent
        self.leaves[leaf.task_id] = task
        return task

    def timer(self, parent: _Task | None, fire_at: float) -> _LeafTask:
        text = format_time(fire_at)
        action = {"actionType": int(ActionType.CREATE_TIMER), "fireAt": text, "isCanceled": False}
        task = self.leaf(parent, "timer", None, action)
        task.leaf.fire_at = fire_at
        return task

    def invoke(self, action: dict) -> _Task:
        kind = ActionType(action["actionType"])
        if kind in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            children = [self.invoke(child) for child in action.get("compoundActions", [])]
            compound: _WhenAll | _WhenAny = (
                _WhenAll(children) if kind == ActionType.WHEN_ALL else _WhenAny(children)
            )
            for child in children:
                child.parent = compound
            compound.settle(self)
            return compound
        if kind in (
            ActionType.CALL_ACTIVITY_WITH_RETRY,
            ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
        ):
            retry = _Retry(action)
            retry.attempt(self)
            return retry
        if kind == ActionType.CREATE_TIMER:
            return self.invoke_timer(action)
        if kind == ActionType.WAIT_FOR_EXTERNAL_EVENT:
            return self.wait_for_event(action.get("externalEventName") or "")
        if kind == ActionType.CONTINUE_AS_NEW:
            self.continue_as_new = action
            return _fire_and_forget()
        task = self.leaf(None, _kind_of(action), _name_of(action), action)
        if kind == ActionType.SIGNAL_ENTITY:
            task.finish(self, False)  # the signal is sent; the shim awaits Task.CompletedTask
            return _fire_and_forget()
        return task

    def invoke_timer(self, action: dict) -> _Task:
        fire_at = parse_time(action["fireAt"])
        if self.schema < SCHEMA_V3 and fire_at - self.now > MAXIMUM_SHORT_TIMER.total_seconds():
            # ThrowIfInvalidTimerLengthForStorageProvider, outside the shim's try/catch.
            raise ReplayError(
                "The Azure Storage provider supports a maximum of "
                f"{MAXIMUM_SHORT_TIMER.days} days for time-based delays (Parameter 'fireAt')"
            )
        canceled = bool(action.get("isCanceled"))
        if fire_at - self.now > MAXIMUM_SHORT_TIMER.total_seconds():
            long_timer = _LongTimer(fire_at)
            first = self.timer(long_timer, self.now + LONG_TIMER_INTERVAL.total_seconds())
            if canceled:
                first.leaf.canceled = True
                first.finish(self, True)
            return long_timer
        task = self.leaf(None, "timer", None, action)
        task.leaf.fire_at = fire_at
        if canceled:
            # The shim cancels the token right after CreateTimer: the task ends at once,
            # but the timer was already scheduled (TimerCreated is in the history).
            task.leaf.canceled = True
            task.finish(self, True)
        return task

    def wait_for_event(self, name: str) -> _Task:
        task = _Task()
        task.child_done = lambda shim, child: None  # type: ignore[method-assign]
        if self.buffered.get(name):
            self.buffered[name] -= 1
            task.finish(self, False)
        else:
            self.waiters.setdefault(name, []).append(task)
        return task

    # -- history -----------------------------------------------------------------------------
    def deliver(self, record: dict) -> None:
        kind = EventType(record["EventType"])
        if kind == EventType.ORCHESTRATOR_STARTED:
            self.now = max(self.now, parse_time(record["Timestamp"]))
            return
        if kind == EventType.EXECUTION_STARTED and not self.now:
            self.now = parse_time(record["Timestamp"])
            return
        if kind == EventType.EVENT_SENT:
            task = self.leaves.get(record["EventId"])
            if task is not None and task.leaf.kind == "entity call":
                request = json.loads(record.get("Input") or "{}").get("id")
                if request:
                    self.requests[request] = task
            return
        if kind == EventType.EVENT_RAISED:
            name = record.get("Name") or ""
            if name in self.requests:
                self.requests.pop(name).finish(self, False)
                return
            waiting = self.waiters.get(name)
            if waiting:
                waiting.pop(0).finish(self, False)
            else:
                self.buffered[name] = self.buffered.get(name, 0) + 1
            return
        task_id = completed_task_id(record)
        if task_id is None:
            return
        leaf_task = self.leaves.get(task_id)
        if leaf_task is None or leaf_task.done:
            return  # DTFx ignores a completion with no open task (a duplicate)
        failed = kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED)
        leaf_task.finish(self, failed)


def _fire_and_forget() -> _Task:
    """``Task.CompletedTask``, what the shim awaits for signals and continue-as-new."""
    task = _Task()
    task.done = True
    task.fire_and_forget = True  # type: ignore[attr-defined]
    return task


def _kind_of(action: dict) -> str:
    kind = ActionType(action["actionType"])
    if kind in (ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY):
        return "activity"
    if kind in (ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY):
        return "sub-orchestration"
    if kind == ActionType.CALL_ENTITY:
        return "entity call"
    if kind == ActionType.SIGNAL_ENTITY:
        return "entity signal"
    if kind == ActionType.CALL_HTTP:
        return "http call"
    return "timer"


def _name_of(action: dict) -> str | None:
    if ActionType(action["actionType"]) == ActionType.CALL_HTTP:
        return HTTP_ACTIVITY
    if action.get("functionName"):
        return str(action["functionName"])
    if action.get("instanceId") and action.get("operation") is not None:
        return f"{action['instanceId']}:{action['operation']}"
    return None


_SCHEDULED_KIND = {
    EventType.TASK_SCHEDULED: ("activity", "http call"),
    EventType.SUB_ORCHESTRATION_CREATED: ("sub-orchestration",),
    EventType.TIMER_CREATED: ("timer",),
    EventType.EVENT_SENT: ("entity call", "entity signal"),
}


def replay(history: list[dict], state: dict, orchestrator: str) -> Replay:
    """Run the extension's replay of ``state["actions"]`` over ``history``.

    ``history`` is the instance's whole history including this episode's new events.
    """
    schema = int(state.get("schemaVersion", SCHEMA_V1))
    shim = _Shim(orchestrator, schema)
    actions = state.get("actions") or []
    result = Replay()
    try:
        if schema >= SCHEMA_V2 and len(actions) != 1:
            raise ReplayError(
                f"With OOProc schema {schema}, expected actions array to be of length 1 in "
                f"outer layer but got size: {len(actions)}"
            )
        steps = _steps(actions, schema)
        cursor = 0
        current: _Task | None = None

        def advance() -> None:
            # ProcessAsyncActionsV2: invoke the next action only when the one before is done.
            nonlocal cursor, current
            while cursor < len(steps):
                if current is None:
                    current = steps[cursor](shim)
                if not current.done:
                    return
                cursor += 1
                current = None

        for record in history:
            kind = EventType(record["EventType"])
            if kind in (EventType.ORCHESTRATOR_STARTED, EventType.EXECUTION_STARTED):
                shim.deliver(record)
                if kind == EventType.EXECUTION_STARTED:
                    advance()
                continue
            shim.deliver(record)
            advance()
        advance()
        result.blocked = cursor < len(steps)
    except ReplayError as exc:
        result.error = str(exc)
        return result
    recorded: dict[int, dict] = {
        record["EventId"]: record
        for record in history
        if EventType(record["EventType"]) in _SCHEDULED_KIND
    }
    result.error = _nondeterminism(orchestrator, recorded, shim.leaves)
    result.new = [
        task.leaf for task_id, task in sorted(shim.leaves.items()) if task_id not in recorded
    ]
    result.canceled_timers = [
        task_id
        for task_id, task in shim.leaves.items()
        if task.leaf.canceled and task_id in recorded
    ]
    result.continue_as_new = shim.continue_as_new
    result.next_id = shim.next_id
    return result


def _steps(actions: list, schema: int) -> list[Any]:
    """The awaits of the shim: one per action (V2/V3), one WhenAny per action set (V1)."""
    if schema >= SCHEMA_V2:
        return [lambda shim, action=action: shim.invoke(action) for action in actions[0]]

    def action_set(shim: _Shim, group: list[dict]) -> _Task:
        # ProcessAsyncActionsV1: invoke the whole set, then await any of its real tasks.
        tasks = [shim.invoke(action) for action in group]
        waiting = [task for task in tasks if not getattr(task, "fire_and_forget", False)]
        any_task = _WhenAny(waiting)
        for task in waiting:
            task.parent = any_task
        any_task.settle(shim)
        return any_task

    return [lambda shim, group=group: action_set(shim, group) for group in actions]


def _nondeterminism(orchestrator: str, recorded: dict[int, dict], leaves: dict) -> str | None:
    """DTFx's check: every task the history scheduled must be replayed, the same kind."""
    for task_id, record in sorted(recorded.items()):
        kind = EventType(record["EventType"])
        name = record.get("Name") if kind != EventType.TIMER_CREATED else None
        history_kind = _SCHEDULED_KIND[kind][0]
        if kind == EventType.EVENT_SENT:
            name = None
        task = leaves.get(task_id)
        if task is None:
            return (
                f"{NON_DETERMINISTIC}: a previous execution of '{orchestrator}' scheduled "
                f"{_what(history_kind, name)} with sequence id {task_id}, but the replay did "
                "not schedule it. Was the orchestrator code changed while this instance was "
                "running?"
            )
        leaf = task.leaf
        replayed_name = (
            leaf.name
            if kind
            in (
                EventType.TASK_SCHEDULED,
                EventType.SUB_ORCHESTRATION_CREATED,
            )
            else None
        )
        if leaf.kind not in _SCHEDULED_KIND[kind] or replayed_name != name:
            return (
                f"{NON_DETERMINISTIC}: sequence id {task_id} of '{orchestrator}' is "
                f"{_what(leaf.kind, replayed_name)} in the replay, but the history has "
                f"{_what(history_kind, name)}. Was the orchestrator code changed while this "
                "instance was running?"
            )
    return None


def _what(kind: str, name: str | None) -> str:
    return f"{kind} '{name}'" if name else kind
