"""devhost's process: configuration, the HTTP front door, auth, and a clean lifecycle.

Routes (as on the Functions host):
  /{routePrefix}/...                         HTTP-triggered functions (auth per function)
  POST /runtime/webhooks/eventgrid           Event Grid trigger (eventgrid key or master key)
  /runtime/webhooks/durabletask/...          Durable management API (durabletask or master key)
  /durabletask/...                           the same API for rpcBaseUrl (no key; loopback)
  GET /admin/functions, /admin/host/status   (master key)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from devhost.config import HostSettings, Keys, load_local_settings
from devhost.discovery import AppFunctions, load_app
from devhost.engine import Engine, parse_function_timeout
from devhost.management import ManagementApi, client_binding
from devhost.store import Store
from devhost.triggers import TimerTrigger, invoke_event_grid, invoke_http
from diskdr.clock import WorldClock

log = logging.getLogger("devhost")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description="Local Azure Functions + Durable Functions host for function_app.py.",
    )
    parser.add_argument("--app-dir", type=Path, default=Path("."), help="folder of function_app.py")
    parser.add_argument("--port", type=int, default=7071, help="HTTP port; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="world clock runs N times faster (default: DISKDR_TIME_SCALE or 1)",
    )
    parser.add_argument(
        "--clock-anchor",
        type=float,
        default=None,
        help="Unix seconds where world and real time agree (default: start)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="durable state (default: <app-dir>/.state/devhost)",
    )
    parser.add_argument(
        "--fast-replay",
        action="store_true",
        default=os.environ.get("DEVHOST_FAST_REPLAY", "") not in ("", "0", "false"),
        help="NOT Azure-faithful: schedule every new action of an orchestrator at once "
        "instead of replaying them in order as the Durable extension does "
        "(default: DEVHOST_FAST_REPLAY or off)",
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("DEVHOST_LOG_LEVEL", "INFO"),
        help="stderr log level (default INFO)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level.upper(), format="[%(asctime)s] %(message)s"
    )
    logging.captureWarnings(True)
    for noisy in ("aiohttp.access", "azure", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.host == "localhost":
        args.host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        log.error("devhost binds loopback addresses only, not %s", args.host)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))
    # Activities still running in pool threads are not waited for: the state is closed and
    # their work items run again after a restart (at least once, as on Azure).
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


async def serve(args: argparse.Namespace) -> None:
    app_dir = args.app_dir.resolve()
    state_dir = (args.state_dir or app_dir / ".state" / "devhost").resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    settings_file = load_local_settings(app_dir)
    clock = _world_clock(args)
    os.environ.update(clock.env())  # the app's diskdr.clock.utc_now() agrees with ours
    keys = Keys.load(state_dir)
    host_settings = HostSettings.load(app_dir)
    os.chdir(app_dir)  # as func start: the app's relative paths are from its root
    try:
        functions = load_app(app_dir, host_settings.route_prefix)
    except Exception:
        log.exception("devhost could not load %s", app_dir / "function_app.py")
        raise SystemExit(1) from None
    log.info(
        "loaded %d functions from %s (settings: %s)",
        len(functions.functions),
        app_dir / "function_app.py",
        settings_file.name if settings_file else "none",
    )

    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    port = sock.getsockname()[1]
    host_text = f"[{args.host}]" if ":" in args.host else args.host
    base_url = f"http://{host_text}:{port}"
    binding = client_binding(base_url, host_settings.hub_name, keys.durabletask_key)

    store = Store(state_dir / "durable.sqlite")
    engine = Engine(
        store,
        functions,
        clock,
        host_settings.max_activities,
        host_settings.max_orchestrators,
        json.dumps(binding),
        faithful=not args.fast_replay,
        function_timeout=parse_function_timeout(host_settings.function_timeout),
    )
    if args.fast_replay:
        log.warning("--fast-replay: orchestrator actions all run at once (not Azure-faithful)")
    function_pool = ThreadPoolExecutor(16, thread_name_prefix="function")
    front = FrontDoor(
        engine, functions, keys, ManagementApi(engine, binding), function_pool, binding
    )
    runner = web.AppRunner(front.build(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    await engine.start()
    timer_tasks = [
        asyncio.create_task(TimerTrigger(engine, store, spec, function_pool).run())
        for spec in functions.timers
    ]

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ready = {
        "url": base_url,
        "functionKey": keys.function_key,
        "masterKey": keys.master_key,
        "stateDir": str(state_dir),
    }
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    # App code that prints must not fill a stdout pipe nobody reads after the ready line.
    sys.stdout = sys.stderr
    log.info(
        "devhost ready on %s (time scale %g, task hub %s)",
        base_url,
        clock.scale,
        host_settings.hub_name,
    )
    await stop.wait()
    log.info("devhost stopping")
    for task in timer_tasks:
        task.cancel()
    await asyncio.gather(*timer_tasks, return_exceptions=True)
    await engine.stop()
    await _close_sdk_session()
    await runner.cleanup()
    function_pool.shutdown(wait=False, cancel_futures=True)
    store.close()
    log.info("devhost stopped")


async def _close_sdk_session() -> None:
    """Close the Durable SDK's shared aiohttp session the app's clients opened."""
    try:
        from azure.durable_functions.models.utils import http_utils

        await http_utils._close_session()
    except Exception as error:  # an SDK without that helper: nothing to close
        log.debug("could not close the Durable SDK session: %s", error)


def _world_clock(args: argparse.Namespace) -> WorldClock:
    """The command line's clock; what it leaves out comes from the environment, else now."""
    from_env = WorldClock.from_env()
    scale = from_env.scale if args.time_scale is None else args.time_scale
    anchor = from_env.anchor if args.clock_anchor is None else args.clock_anchor
    return WorldClock(scale, anchor)


class FrontDoor:
    """aiohttp handlers: authentication and dispatch to functions and the durable API."""

    def __init__(
        self,
        engine: Engine,
        functions: AppFunctions,
        keys: Keys,
        management: ManagementApi,
        pool: ThreadPoolExecutor,
        binding: dict,
    ) -> None:
        self.engine = engine
        self.functions = functions
        self.keys = keys
        self.management = management
        self.pool = pool
        self.binding = binding

    def build(self) -> web.Application:
        app = web.Application(client_max_size=100 * 1024 * 1024)
        app.router.add_route("*", "/runtime/webhooks/durabletask/{tail:.*}", self.webhook_durable)
        app.router.add_route("*", "/durabletask/{tail:.*}", self.rpc_durable)
        app.router.add_route("*", "/runtime/webhooks/eventgrid", self.eventgrid)
        app.router.add_get("/admin/functions", self.admin_functions)
        app.router.add_get("/admin/host/status", self.admin_status)
        app.router.add_get("/admin/devhost/binding", self.admin_binding)
        # Any path, control characters included (``.`` stops at a newline): the host routes
        # the decoded path, so /api/backups/a%0Ab reaches the function (docs/devhost.md).
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.http_function)
        return app

    def _key(self, request: web.Request) -> str | None:
        return request.query.get("code") or request.headers.get("x-functions-key")

    def _is_master(self, request: web.Request) -> bool:
        return self._key(request) == self.keys.master_key

    async def webhook_durable(self, request: web.Request) -> web.StreamResponse:
        if self._key(request) not in (self.keys.durabletask_key, self.keys.master_key):
            return web.Response(status=401)
        return await self.management.handle(request, "/runtime/webhooks/durabletask")

    async def rpc_durable(self, request: web.Request) -> web.StreamResponse:
        return await self.management.handle(request, "/durabletask")

    async def eventgrid(self, request: web.Request) -> web.StreamResponse:
        if self._key(request) not in (self.keys.eventgrid_key, self.keys.master_key):
            return web.Response(status=401)
        if request.method == "OPTIONS":  # CloudEvents webhook validation (abuse protection)
            origin = request.headers.get("WebHook-Request-Origin", "*")
            return web.Response(
                headers={"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"}
            )
        if request.method != "POST":
            return web.Response(status=405)
        name = request.query.get("functionName", "")
        spec = self.functions.eventgrid.get(name)
        if spec is None:
            return web.json_response(
                {
                    "error": {
                        "code": "NotFound",
                        "message": f"No Event Grid function named '{name}'.",
                    }
                },
                status=404,
            )
        return await invoke_event_grid(self.engine, spec, request, self.pool)

    async def admin_functions(self, request: web.Request) -> web.StreamResponse:
        if not self._is_master(request):
            return web.Response(status=401)
        listing = []
        for spec in self.functions.functions.values():
            entry = {
                "name": spec.name,
                "language": "python",
                "isDisabled": False,
                "config": {"bindings": spec.bindings},
            }
            if spec.route is not None:
                entry["invoke_url_template"] = f"{request.url.origin()}/{spec.route.template}"
            listing.append(entry)
        return web.json_response(listing)

    async def admin_status(self, request: web.Request) -> web.StreamResponse:
        if not self._is_master(request):
            return web.Response(status=401)
        return web.json_response(
            {
                "state": "Running",
                "version": "devhost",
                "processUptime": int(time.monotonic() * 1000),
            }
        )

    async def admin_binding(self, request: web.Request) -> web.StreamResponse:
        if not self._is_master(request):
            return web.Response(status=401)
        return web.json_response(self.binding)

    async def http_function(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        route_matched = False
        for spec in self.functions.http:
            assert spec.route is not None
            params = spec.route.match(path)
            if params is None:
                continue
            route_matched = True
            if spec.methods is not None and request.method not in spec.methods:
                continue
            if not self._authorized(request, spec.auth_level):
                return web.Response(status=401)
            return await invoke_http(self.engine, spec, request, params, self.pool)
        if path == "/" and request.method == "GET":
            return web.Response(text="devhost is running.\n")
        return web.Response(status=405 if route_matched else 404)

    def _authorized(self, request: web.Request, level: str) -> bool:
        if level == "anonymous":
            return True
        key = self._key(request)
        if level == "admin":
            return key == self.keys.master_key
        return key in (self.keys.function_key, self.keys.master_key)
