"""HTTP, Event Grid and timer triggers: turning requests and clock ticks into invocations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func
from aiohttp import web
from azure.functions.eventgrid import EventGridEventInConverter
from azure.functions.meta import Datum
from azure.functions.timer import TimerRequest

from devhost.discovery import FunctionSpec, resolve_setting
from devhost.engine import Engine
from devhost.history import format_time
from devhost.ncrontab import Schedule
from devhost.store import Store

log = logging.getLogger("devhost")

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
EVENT_GRID_FIELDS = ("id", "eventType", "subject", "eventTime", "data")
CLOUD_EVENT_FIELDS = ("id", "source", "type", "specversion")


async def invoke_http(
    engine: Engine,
    spec: FunctionSpec,
    request: web.Request,
    route_params: dict[str, str],
    pool: ThreadPoolExecutor,
) -> web.StreamResponse:
    body = await request.read()
    http_request = func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=dict(request.headers),
        params=dict(request.query),
        route_params=route_params,
        body=body,
    )
    try:
        result = await engine.invoke(
            spec,
            {spec.trigger_param: http_request},
            reason=f"HTTP {request.method} {request.path}",
            pool=pool,
        )
    except Exception:
        return web.Response(status=500)
    return to_aiohttp_response(result)


def to_aiohttp_response(result: Any) -> web.StreamResponse:
    """The worker's http output conversion: HttpResponse, str/bytes, JSON values."""
    if isinstance(result, func.HttpResponse):
        headers = {k: v for k, v in result.headers.items() if k.lower() != "content-type"}
        content_type = result.headers.get("Content-Type")
        if content_type is None:
            content_type = f"{result.mimetype}; charset={result.charset}"
        headers["Content-Type"] = content_type
        return web.Response(status=result.status_code, body=result.get_body(), headers=headers)
    if result is None:
        return web.Response(status=204)
    if isinstance(result, bytes):
        return web.Response(body=result, content_type="application/octet-stream")
    if isinstance(result, str):
        return web.Response(text=result, content_type="text/plain")
    return web.json_response(result)


async def invoke_event_grid(
    engine: Engine, spec: FunctionSpec, request: web.Request, pool: ThreadPoolExecutor
) -> web.StreamResponse:
    """Event Grid webhook: the validation handshake, then one invocation per event."""
    body = await request.read()
    try:
        parsed = json.loads(body)
    except ValueError:
        return _bad_request("The request body is not JSON.")
    events = parsed if isinstance(parsed, list) else [parsed]
    if not events or not all(isinstance(e, dict) for e in events):
        return _bad_request("Expected an Event Grid event array or a CloudEvent object.")
    kind = request.headers.get("aeg-event-type", "")
    if kind == "SubscriptionValidation" or events[0].get("eventType") == VALIDATION_EVENT:
        data = events[0].get("data")
        code = data.get("validationCode") if isinstance(data, dict) else None
        if not code:
            return _bad_request("SubscriptionValidationEvent without data.validationCode.")
        log.info("Event Grid subscription validated for %s", spec.name)
        return web.json_response({"validationResponse": code})
    for index, grid_event in enumerate(events):
        required = CLOUD_EVENT_FIELDS if "specversion" in grid_event else EVENT_GRID_FIELDS
        missing = [name for name in required if name not in grid_event]
        if missing:
            return _bad_request(f"event #{index} lacks {', '.join(missing)}.")
    failures = 0
    for grid_event in events:
        decoded = EventGridEventInConverter.decode(
            Datum(type="json", value=json.dumps(grid_event)), trigger_metadata=None
        )
        try:
            await engine.invoke(
                spec,
                {spec.trigger_param: decoded},
                reason=f"EventGrid trigger fired: {grid_event.get('id')}",
                pool=pool,
            )
        except Exception:
            failures += 1
    return web.Response(status=500 if failures else 202)


def _bad_request(message: str) -> web.StreamResponse:
    return web.json_response({"error": {"code": "BadRequest", "message": message}}, status=400)


class TimerTrigger:
    """One timer function's loop on the world clock, with ``useMonitor`` catch-up."""

    def __init__(
        self, engine: Engine, store: Store, spec: FunctionSpec, pool: ThreadPoolExecutor
    ) -> None:
        self.engine = engine
        self.store = store
        self.spec = spec
        self.pool = pool
        self.schedule = Schedule(resolve_setting(str(spec.trigger["schedule"])))
        self.use_monitor = spec.trigger.get("useMonitor", True) is not False
        self.run_on_startup = bool(spec.trigger.get("runOnStartup", False))

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("timer trigger '%s' stopped", self.spec.name)

    async def _run(self) -> None:
        clock = self.engine.clock
        last, next_due, _ = self.store.get_timer_status(self.spec.name)
        if self.use_monitor and next_due is not None and next_due <= clock.time():
            log.info(
                "Timer '%s' is past due (missed %s): firing once",
                self.spec.name,
                format_time(next_due),
            )
            last = await self._fire(next_due, past_due=True)
        elif self.run_on_startup:
            last = await self._fire(clock.time(), past_due=False)
        while True:
            occurrence = self.schedule.next_after(clock.now()).timestamp()
            self.store.put_timer_status(self.spec.name, last, occurrence, clock.time())
            while (remaining := clock.real_time_of(occurrence) - time.time()) > 0:
                await asyncio.sleep(min(remaining, 60.0))
            last = await self._fire(occurrence, past_due=False)

    async def _fire(self, occurrence: float, past_due: bool) -> float:
        clock = self.engine.clock
        now = clock.time()
        following = self.schedule.next_after(clock.now()).timestamp()
        status = {
            "Last": format_time(occurrence),
            "Next": format_time(following),
            "LastUpdated": format_time(now),
        }
        # Recorded before the call: an occurrence is fired at most once, then caught up.
        if self.use_monitor:
            self.store.put_timer_status(self.spec.name, occurrence, following, now)
        request = TimerRequest(
            past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True}
        )
        # A failure is logged by invoke; the next occurrence still fires.
        with contextlib.suppress(Exception):
            await self.engine.invoke(
                self.spec,
                {self.spec.trigger_param: request},
                reason=f"Timer fired at {format_time(now)}",
                pool=self.pool,
            )
        return occurrence
