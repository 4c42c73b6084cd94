"""The HTTPS server: ARM's request pipeline in front of the providers' route tables.

Every ARM request goes through the same steps, in ARM's order: request ids; bearer token
(401 without); ``api-version`` (400 without, 400 if the route does not support it); route
(404/405); injected faults; the subscription's token buckets (429); then the handler, whose
``ArmError`` becomes an ARM error body. Every response carries ``x-ms-request-id``,
``x-ms-correlation-request-id`` and the ``x-ms-ratelimit-remaining-*`` headers.

The server is a single asyncio event loop (aiohttp, keep-alive, TLS from a trustme CA);
handlers are plain synchronous functions over the in-memory world, so the world needs no
locks. A ticker advances the world clock's scheduled transitions between requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import signal
import ssl
import time
import uuid
from pathlib import Path
from typing import Any

import trustme
from aiohttp import web

from diskdr.clock import WorldClock
from emulator import compute, control, eventgrid, locks, network, resources
from emulator.compute.models.restore_points import throttled as compute_throttled
from emulator.errors import (
    ArmError,
    AuthenticationFailed,
    InternalServerError,
    InvalidApiVersion,
    InvalidResourceType,
    MethodNotAllowed,
    MissingApiVersion,
    TooManyRequests,
)
from emulator.faults import Faults, fault_error
from emulator.lro import Operations, retry_hint
from emulator.routing import ArmRequest, ArmResponse, Route, Router
from emulator.throttle import ResourceWindows, Throttle, category, compute_policy, principal_of
from emulator.world import Caller, Config, World

log = logging.getLogger("emulator")

CONTROL_PREFIX = "/_emulator/"
SUBSCRIPTION_IN_PATH = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)
WWW_AUTHENTICATE = (
    'Bearer authorization_uri="https://login.microsoftonline.com/common", '
    'error="invalid_token", error_description="The authentication failed because of '
    "missing 'Authorization' header.\""
)
TICK_SECONDS = 0.05
# How long an injected 429/503 asks the client to wait (world seconds).
FAULT_RETRY_WORLD_SECONDS = 1.0


def create_world(
    *,
    time_scale: float = 1.0,
    clock_anchor: float | None = None,
    throttle: bool = False,
    page_size: int = 100,
    seed: int | None = None,
    lro_hints: bool = False,
) -> tuple[World, Router]:
    """A world with every provider installed, and the route table that serves it."""
    config = Config(page_size=page_size, throttle=throttle, lro_hints=lro_hints)
    world = World(WorldClock(time_scale, clock_anchor), config, seed=seed)
    router = Router()
    world.register_backend("operations", Operations)
    world.register_backend("faults", lambda w: Faults())
    world.register_backend("throttle", lambda w: Throttle())
    world.register_backend("resource_windows", lambda w: ResourceWindows())
    resources.install(world, router)
    compute.install(world, router)
    network.install(world, router)
    locks.install(world, router)
    eventgrid.install(world, router)
    return world, router


class Emulator:
    """The request pipeline over one world."""

    def __init__(self, world: World, router: Router) -> None:
        self.world = world
        self.router = router

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        headers = {
            "x-ms-request-id": request_id,
            "x-ms-correlation-request-id": request.headers.get(
                "x-ms-correlation-request-id", request_id
            ),
            "Cache-Control": "no-cache",
        }
        if "x-ms-client-request-id" in request.headers:
            headers["x-ms-client-request-id"] = request.headers["x-ms-client-request-id"]
        self.world.advance()
        body = await request.read()
        if request.path.startswith(CONTROL_PREFIX):
            status, payload = control.dispatch(
                control.ControlRequest(
                    world=self.world,
                    method=request.method,
                    name=request.path[len(CONTROL_PREFIX) :].strip("/"),
                    query=request.query,
                    raw_body=body,
                    base_url=f"https://{request.host}",
                )
            )
            response = ArmResponse(status, payload)
        else:
            response = await self._arm(request, body, headers)
        response.headers.update(headers)
        self.world.stats.statuses[response.status] += 1
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s -> %s (%.1f ms)",
                request.method,
                request.path_qs,
                response.status,
                (time.perf_counter() - started) * 1000,
            )
        return _to_aiohttp(request, response)

    async def _arm(self, request: web.Request, body: bytes, headers: dict[str, str]) -> ArmResponse:
        authorization = request.headers.get("Authorization", "")
        if not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
            error = AuthenticationFailed(
                "Authentication failed. The 'Authorization' header is missing or is not a "
                "bearer token.",
            )
            return ArmResponse(401, error.body(), {"WWW-Authenticate": WWW_AUTHENTICATE})
        principal = principal_of(authorization)
        now = self.world.now()
        route, response = await self._authenticated(request, body, headers, principal)
        # Every authenticated answer reports the caller's buckets (and Compute's windows).
        match = SUBSCRIPTION_IN_PATH.match(request.path)
        if match:
            operation_id = route.operation_id if route is not None else ""
            self._rate_headers(response, match[1], principal, now, request.method, operation_id)
        return response

    async def _authenticated(
        self,
        request: web.Request,
        body: bytes,
        headers: dict[str, str],
        principal: str,
    ) -> tuple[Route | None, ArmResponse]:
        world = self.world
        method = request.method
        query = {k.lower(): v for k, v in request.query.items()}
        api_version = query.get("api-version")
        if not api_version:
            return None, _error(
                MissingApiVersion(
                    "The api-version query parameter (?api-version=) is required for all requests."
                )
            )
        route, params, path_known = self.router.match(method, request.path)
        if route is None:
            if path_known:
                return None, _error(MethodNotAllowed(f"The method '{method}' is not allowed here."))
            return None, _error(
                InvalidResourceType(
                    f"The resource type for path '{request.path}' could not be found for api "
                    f"version '{api_version}'."
                )
            )
        if api_version not in route.api_versions:
            return route, _error(
                InvalidApiVersion(
                    f"The api-version '{api_version}' is invalid. The supported versions are "
                    f"'{','.join(route.api_versions)}'."
                )
            )
        world.stats.requests[route.operation_id] += 1
        subscription = params.get("subscription", "")

        fault = world.backend("faults").match(method, request.path, world.rng)
        if fault is not None:
            world.stats.faults += 1
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
                world.advance()
            if fault.status is not None:
                response = _error(fault_error(fault, method, request.path, principal))
                if fault.status in (429, 503):
                    response.headers.update(retry_hint(world.clock, FAULT_RETRY_WORLD_SECONDS))
                return route, response

        kind = category(method)
        throttle: Throttle = world.backend("throttle")
        wait = throttle.take(world.config, subscription, principal, kind, world.now())
        if wait is not None:
            world.stats.throttled += 1
            response = _error(
                TooManyRequests(
                    f"Number of '{kind}' requests for subscription '{subscription}' actor "
                    f"'{principal}' exceeded. Please try again after '{math.ceil(wait)}' seconds "
                    "after additional tokens are available. Refer to https://aka.ms/arm-throttling"
                )
            )
            response.headers.update(retry_hint(world.clock, wait))
            return route, response

        policy = compute_policy(method, route.operation_id)
        if world.config.throttle and policy is not None and subscription:
            windows: ResourceWindows = world.backend("resource_windows")
            refusal = windows.refusal(world.config, subscription, policy, world.now())
            if refusal is not None:
                world.stats.throttled += 1
                return route, _error(
                    compute_throttled(
                        refusal.target,
                        refusal.limit,
                        refusal.window_start,
                        refusal.retry_in,
                        world.clock,
                    )
                )

        world.caller = Caller(
            principal=principal,
            correlation_id=headers["x-ms-correlation-request-id"],
            request_id=headers["x-ms-request-id"],
            method=method,
            url=str(request.url),
        )
        arm_request = ArmRequest(
            method=method,
            path=request.path,
            query=query,
            headers=request.headers,
            raw_body=body,
            params=params,
            base_url=f"https://{request.host}",
            api_version=api_version,
            operation_id=route.operation_id,
            world=world,
            principal=principal,
            request_id=headers["x-ms-request-id"],
        )
        try:
            world.check_request(method, request.path, route.operation_id)
            return route, route.handler(arm_request)
        except ArmError as err:
            return route, _error(err)
        except Exception as err:  # a bug in a handler: answer like ARM, log it
            log.exception("%s %s failed", method, request.path)
            return route, _error(InternalServerError(f"The server had an internal error: {err}"))
        finally:
            world.caller = Caller()

    def _rate_headers(
        self,
        response: ArmResponse,
        subscription: str,
        principal: str,
        now: float,
        method: str,
        operation_id: str,
    ) -> None:
        world = self.world
        if not subscription:
            return
        remaining = world.backend("throttle").remaining(world.config, subscription, principal, now)
        # Which regional ARM instance answered (its buckets are the ones reported), as ARM
        # says it: "<REGION>:<UTC yyyymmddThhmmssZ>:<guid>".
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        response.headers["x-ms-routing-request-id"] = (
            f"{world.config.arm_region.upper()}:{stamp}:{uuid.uuid4()}"
        )
        for kind, count in remaining.items():
            response.headers[f"x-ms-ratelimit-remaining-subscription-{kind}"] = str(count)
        policy = compute_policy(method, operation_id) if operation_id else None
        if policy is not None:
            windows: ResourceWindows = world.backend("resource_windows")
            response.headers["x-ms-ratelimit-remaining-resource"] = windows.hit(
                world.config, subscription, policy, now, count=response.status != 429
            )


def _error(error: ArmError) -> ArmResponse:
    return ArmResponse(error.status, error.body(), dict(error.headers))


def _to_aiohttp(request: web.Request, response: ArmResponse) -> web.Response:
    if response.body is None or request.method == "HEAD":
        return web.Response(status=response.status, headers=response.headers)
    return web.Response(
        status=response.status,
        body=json.dumps(response.body, separators=(",", ":")).encode(),
        headers=response.headers,
        content_type="application/json",
    )


def build_app(world: World, router: Router) -> web.Application:
    emulator = Emulator(world, router)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", emulator.handle)
    return app


def tls_context(state_dir: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context from the state dir's CA (created once and kept, so a restarted
    emulator is trusted by clients already configured with ``ca.pem``)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    ca_path, key_path = state_dir / "ca.pem", state_dir / "ca.key"
    if ca_path.exists() and key_path.exists():
        ca = trustme.CA.from_pem(ca_path.read_bytes(), key_path.read_bytes())
    else:
        ca = trustme.CA(organization_name="diskdr emulator")
        key_path.write_bytes(ca.private_key_pem.bytes())
        key_path.chmod(0o600)
        ca.cert_pem.write_to_path(str(ca_path))
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context, ca_path.resolve()


async def serve(
    world: World, router: Router, *, port: int, state_dir: Path, ready: Any = None
) -> None:
    """Serve until SIGTERM/SIGINT; print the ready line once listening."""
    context, ca_path = tls_context(state_dir)
    runner = web.AppRunner(
        build_app(world, router), access_log=None, handle_signals=False, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=context, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def tick() -> None:
        while not stop.is_set():
            world.advance()
            await asyncio.sleep(TICK_SECONDS)

    ticker = asyncio.create_task(tick())
    line = json.dumps({"url": f"https://127.0.0.1:{bound}", "ca": str(ca_path)})
    if ready is not None:
        ready(line)
    log.info(
        "emulator listening on https://127.0.0.1:%s (time scale %s, throttle %s)",
        bound,
        world.clock.scale,
        world.config.throttle,
    )
    await stop.wait()
    log.info("emulator stopping")
    ticker.cancel()
    await runner.cleanup()
