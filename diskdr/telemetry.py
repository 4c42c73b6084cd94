"""diskdr's telemetry: spans and metrics through the OpenTelemetry API, exported to Azure
Monitor when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set.

Spans are made by activities and triggers only, never by orchestrators (a replay would
repeat them). Each carries what it is about (``diskdr.policy``, ``diskdr.slot``,
``diskdr.vm``, ``diskdr.disk``, ``diskdr.point``, ``diskdr.region``), Azure's
``azure.request_id`` and ``error.type`` (Azure's error code) when Azure answered, and
``diskdr.run_id``, the run's instance id (a sub-orchestration's id starts with it), as the
key that correlates everything of one run, with ``diskdr.instance_id``, the orchestration
that called the activity. Orchestrations send their instance id in the activity's input
(:func:`with_caller`; the Python worker does not hand an activity the ``instanceId`` the
Durable extension binds, see docs/operations.md) and :func:`correlated` takes it out again.
Without a configured provider the API is a no-op, so tests install the SDK's in-memory
exporters and the app installs Azure Monitor.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, Status, StatusCode

from diskdr.naming import run_of

log = logging.getLogger(__name__)
SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
SCOPE = "diskdr"


def configure_telemetry(
    environ: Mapping[str, str] | None = None,
    configure: Callable[..., None] | None = None,
) -> bool:
    """Turn on the Azure Monitor OpenTelemetry distro if the connection string is set.

    Returns whether it was turned on. ``configure`` is the distro's
    ``configure_azure_monitor`` (a parameter so that tests need no network). Logs are not
    exported by the distro: the Functions host already sends the worker's logs to
    Application Insights, and exporting them twice would double every line. The distro
    sends diskdr's spans and metrics: one export path per signal.
    """
    env = os.environ if environ is None else environ
    connection_string = env.get(SETTING, "").strip()
    if not connection_string:
        return False
    if configure is None:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure = configure_azure_monitor
    configure(connection_string=connection_string, disable_logging=True)
    log.info("Azure Monitor export is on (spans and metrics)")
    return True


def run_id(instance_id: str | None) -> str | None:
    """The run a (sub-)orchestration belongs to (see ``naming.run_of``)."""
    return run_of(instance_id) if instance_id else None


# --- the run an activity works for ----------------------------------------------------------
CALLER = "callerInstanceId"
PAYLOAD = "activityInput"
_caller: ContextVar[str | None] = ContextVar("diskdr_caller", default=None)


def with_caller(instance_id: str, payload: Any) -> dict[str, Any]:
    """An activity's input as an orchestration sends it: the payload and its own instance id."""
    return {CALLER: instance_id, PAYLOAD: payload}


def caller_of(value: Any) -> tuple[str | None, Any]:
    """``(caller instance id, payload)`` of an activity's input (no caller: sent as is)."""
    if isinstance(value, Mapping) and set(value) == {CALLER, PAYLOAD}:
        return value[CALLER], value[PAYLOAD]
    return None, value


def _with_payload(args: tuple, kwargs: dict) -> tuple[tuple, dict, str | None]:
    """The call's arguments with its first one (the trigger's input) unwrapped."""
    if args:
        caller, payload = caller_of(args[0])
        return (payload, *args[1:]), kwargs, caller
    if kwargs:
        name = next(iter(kwargs))
        caller, payload = caller_of(kwargs[name])
        return args, {**kwargs, name: payload}, caller
    return args, kwargs, None


def correlated(function: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate an activity (sync or async) whose input may carry its caller's instance id
    (:func:`with_caller`): the function gets the payload, and every span made while it runs
    carries ``diskdr.run_id`` and ``diskdr.instance_id``. Put it under the Functions
    decorators (it keeps the signature)."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            args, kwargs, caller = _with_payload(args, kwargs)
            token = _caller.set(caller)
            try:
                return await function(*args, **kwargs)
            finally:
                _caller.reset(token)

        return run_async

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        args, kwargs, caller = _with_payload(args, kwargs)
        token = _caller.set(caller)
        try:
            return function(*args, **kwargs)
        finally:
            _caller.reset(token)

    return run


def _attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    """``diskdr.<name>`` attributes of the given values that are set (Azure's own names kept)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        key = name if "." in name else f"diskdr.{name}"
        out[key] = value if isinstance(value, bool | int | float) else str(value)
    return out


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """A span of an activity or a trigger; an exception marks it failed (and propagates).
    Inside a :func:`correlated` activity it carries the run's and the caller's instance ids."""
    caller = _caller.get()
    correlation = {"run_id": run_id(caller), "instance_id": caller}
    tracer = trace.get_tracer(SCOPE)
    with tracer.start_as_current_span(
        name, attributes=_attributes({**correlation, **attributes}), record_exception=True
    ) as current:
        yield current


def annotate(current: Span, **attributes: Any) -> None:
    """Add attributes found during the work (the point made, the request id)."""
    current.set_attributes(_attributes(attributes))


def failed(current: Span, code: str | None, request_id: str | None, message: str) -> None:
    """Mark a span failed by an Azure answer returned as a value (activities don't raise)."""
    annotate(current, **{"error.type": code or "Error", "azure.request_id": request_id})
    current.set_status(Status(StatusCode.ERROR, message))


# --- metrics -----------------------------------------------------------------------------
class _Instruments:
    """The instruments, made on first use from the meter provider in force then."""

    def __init__(self) -> None:
        meter = metrics.get_meter(SCOPE)
        self.points_created = meter.create_counter(
            "diskdr.points.created", unit="{point}", description="recovery points created"
        )
        self.points_failed = meter.create_counter(
            "diskdr.points.failed", unit="{point}", description="points Azure refused or failed"
        )
        self.points_replicated = meter.create_counter(
            "diskdr.points.replicated",
            unit="{point}",
            description="replicas seen complete in the secondary region",
        )
        self.copies_started = meter.create_counter(
            "diskdr.copies.started", unit="{point}", description="CopyStarts Azure accepted"
        )
        self.copy_duration = meter.create_histogram(
            "diskdr.copy.duration",
            unit="s",
            description="replica created (CopyStart) → first seen complete",
        )
        self.prune_deletions = meter.create_counter(
            "diskdr.prune.deletions", unit="{point}", description="points deleted by pruning"
        )
        meter.create_observable_gauge(
            "diskdr.rpo.age",
            callbacks=[_observe_rpo],
            unit="min",
            description="age of the newest usable group per VM and region (from compliance)",
        )
        meter.create_observable_gauge(
            "diskdr.throttle.remaining",
            callbacks=[_observe_throttle],
            unit="{request}",
            description="ARM's x-ms-ratelimit-remaining-subscription-* last seen",
        )


_lock = threading.Lock()
_instruments: _Instruments | None = None
_rpo: dict[tuple[str, str, str], float] = {}
_throttle: dict[tuple[str, str], int] = {}


def instruments() -> _Instruments:
    global _instruments
    with _lock:
        if _instruments is None:
            _instruments = _Instruments()
        return _instruments


def reset_instruments() -> None:
    """Forget the instruments (a test installs a new meter provider)."""
    global _instruments
    with _lock:
        _instruments = None
        _rpo.clear()
        _throttle.clear()


def record_compliance(vms: Iterable[Mapping[str, Any]]) -> None:
    """Feed the RPO gauge from a compliance report's ``vms`` (camelCase dicts)."""
    instruments()
    with _lock:
        _rpo.clear()
        for vm in vms:
            for region in vm.get("regions", []):
                if region.get("ageMinutes") is not None:
                    key = (vm["vmId"], vm.get("policy", ""), region["region"])
                    _rpo[key] = float(region["ageMinutes"])


def record_throttle(subscription: str, kind: str, remaining: int) -> None:
    """Feed the throttle gauge (``kind``: reads | writes | deletes)."""
    instruments()
    with _lock:
        _throttle[(subscription, kind)] = remaining


def _observe_rpo(options: CallbackOptions) -> list[Observation]:
    with _lock:
        return [
            Observation(age, {"diskdr.vm": vm, "diskdr.policy": policy, "diskdr.region": region})
            for (vm, policy, region), age in _rpo.items()
        ]


def _observe_throttle(options: CallbackOptions) -> list[Observation]:
    with _lock:
        return [
            Observation(left, {"diskdr.subscription": subscription, "diskdr.kind": kind})
            for (subscription, kind), left in _throttle.items()
        ]


# --- what activities report ----------------------------------------------------------------
def point_taken(current: Span, outcome: Mapping[str, Any]) -> None:
    """A ``take_point`` outcome (DiskOutcome as JSON): the span's point or error, counters."""
    point, error = outcome.get("point"), outcome.get("error")
    if point:
        annotate(current, point=point.get("id"), region=point.get("region"))
        instruments().points_created.add(1, _attributes({"region": point.get("region")}))
    if error:
        failed(current, error.get("code"), error.get("requestId"), error.get("message", ""))
        instruments().points_failed.add(1, _attributes({"error.type": error.get("code")}))


def copy_started(current: Span, result: Mapping[str, Any]) -> None:
    """A ``start_copy`` result: the replica started (counted) or the error."""
    replica, error = result.get("replica"), result.get("error")
    annotate(current, action=result.get("action"))
    if replica:
        annotate(current, replica=replica.get("id"), region=replica.get("region"))
        if result.get("action") == "start":
            instruments().copies_started.add(1, _attributes({"region": replica.get("region")}))
    if error:
        failed(current, error.get("code"), error.get("requestId"), error.get("message", ""))


def replicas_seen(usable: Iterable[tuple[Any, str]], now: Any) -> None:
    """Replicas ``(created_at, region)`` read complete: counted as replicated, with the
    copy's duration. The orchestration stops reading a replica once it is complete, so
    each is seen complete once (twice only if the activity itself is retried)."""
    for created_at, region in usable:
        attributes = _attributes({"region": region})
        instruments().points_replicated.add(1, attributes)
        if created_at is not None:
            seconds = max((now - created_at).total_seconds(), 0.0)
            instruments().copy_duration.record(seconds, attributes)


def pruned(current: Span, result: Mapping[str, Any]) -> None:
    """A ``delete_point`` result: a deletion counted, or the error."""
    error = result.get("error")
    if error:
        failed(current, error.get("code"), error.get("requestId"), error.get("message", ""))
    elif result.get("deleted"):
        instruments().prune_deletions.add(1)


# --- a span around any activity or trigger -------------------------------------------------
_INPUT_KEYS = {
    "policy": "policy",
    "vmId": "vm",
    "slot": "slot",
    "region": "region",
    "group": "group",
}


def input_attributes(value: Any, subject: str = "resource") -> dict[str, Any]:
    """What a function's input says it is about: a resource id, or a job's policy, VM, slot,
    region and group (first level, and one level down, e.g. ``{"vm": {...}}``)."""
    if isinstance(value, str):
        return {subject: value}
    if isinstance(value, list):
        return {"items": len(value)}
    found: dict[str, Any] = {}
    if isinstance(value, Mapping):
        for nested in [value, *(v for v in value.values() if isinstance(v, Mapping))]:
            for key, name in _INPUT_KEYS.items():
                item = nested.get(key)
                if name not in found and isinstance(item, str | int | float) and item != "":
                    found[name] = item
            if (
                "vm" not in found
                and str(nested.get("id", "")).lower().find("/virtualmachines/") > 0
            ):
                found["vm"] = nested["id"]
    return found


def annotate_current(**attributes: Any) -> None:
    """Add attributes to the span in force (a trigger's, once it knows the run id)."""
    annotate(trace.get_current_span(), **attributes)


def _result_attributes(current: Span, result: Any) -> None:
    status = getattr(result, "status_code", None)  # an HTTP trigger's answer
    if isinstance(status, int):
        annotate(current, **{"http.response.status_code": status})
        if status >= 500:
            current.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
    error = result.get("error") if isinstance(result, Mapping) else None
    if isinstance(error, Mapping):
        failed(current, error.get("code"), error.get("requestId"), str(error.get("message", "")))


def traced(
    name: str, subject: str = "resource"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a function (sync or async) to run in a span ``diskdr.<name>`` whose attributes
    come from its first argument (:func:`input_attributes`); an ``error`` in a dict result
    marks the span failed; ``subject`` names what a string input is (a point, a policy...).
    An activity's caller is taken out of its input (:func:`correlated`). Put it under the
    Functions decorators (it keeps the signature)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        def attributes(args: tuple, kwargs: dict) -> dict[str, Any]:
            first = args[0] if args else next(iter(kwargs.values()), None)
            return input_attributes(first, subject) if not hasattr(first, "get_body") else {}

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with span(f"diskdr.{name}", **attributes(args, kwargs)) as current:
                    result = await function(*args, **kwargs)
                    _result_attributes(current, result)
                    return result

            return correlated(run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with span(f"diskdr.{name}", **attributes(args, kwargs)) as current:
                result = function(*args, **kwargs)
                _result_attributes(current, result)
                return result

        return correlated(run)

    return decorate
