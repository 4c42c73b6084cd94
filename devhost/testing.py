"""Test helper: run ``python -m devhost`` as a subprocess and talk to it.

    with DevHost(app_dir, time_scale=600) as host:
        client = host.client()                      # the real DurableOrchestrationClient
        instance_id = host.run(client.start_new("hello", None, {"n": 1}))
        status = host.wait_for(instance_id, timeout=30)

``host.kill()`` sends SIGKILL and ``host.restart()`` starts it again on the same state dir,
clock and keys, for crash tests. stderr goes to ``<state_dir>/devhost.log``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from devhost.store import TERMINAL_STATES

T = TypeVar("T")


class DevHostError(RuntimeError):
    """devhost did not start, or a wait ran out."""


class _LoopThread:
    """One event loop in a daemon thread for all client calls of this test process.

    The Durable SDK keeps one aiohttp session per process; it must stay on one loop.
    """

    _instance: _LoopThread | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="devhost-client", daemon=True).start()
        atexit.register(self.close)

    def close(self) -> None:
        """Close the SDK's shared aiohttp session (else aiohttp warns at exit)."""
        from azure.durable_functions.models.utils import http_utils

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(http_utils._close_session(), self.loop).result(5)

    @classmethod
    def get(cls) -> _LoopThread:
        with cls._lock:
            if cls._instance is None:
                cls._instance = _LoopThread()
            return cls._instance


class DevHost:
    """A devhost subprocess for tests (see the module docstring)."""

    def __init__(
        self,
        app_dir: str | os.PathLike[str],
        *,
        time_scale: float = 1.0,
        clock_anchor: float | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        port: int = 0,
        startup_timeout: float = 60.0,
        fast_replay: bool = False,
    ) -> None:
        self.app_dir = Path(app_dir).resolve()
        self.time_scale = time_scale
        # Fixed once, so that a restart keeps the world clock where it was.
        self.clock_anchor = time.time() if clock_anchor is None else clock_anchor
        self.state_dir = Path(state_dir).resolve() if state_dir else None
        self.env = dict(env or {})
        self.port = port
        self.startup_timeout = startup_timeout
        self.fast_replay = fast_replay  # the opt-in, not Azure-faithful replay
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.function_key = ""
        self.master_key = ""
        self._binding: str | None = None
        self._log_file: Any = None

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> DevHost:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.process is not None, "devhost is not running"
        return self.process.pid

    @property
    def log_path(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / "devhost.log"

    def start(self) -> None:
        if self.state_dir is None:
            self.state_dir = self.app_dir / ".state" / "devhost"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "devhost",
            "--app-dir", str(self.app_dir),
            "--port", str(self.port),
            "--time-scale", repr(self.time_scale),
            "--clock-anchor", repr(self.clock_anchor),
            "--state-dir", str(self.state_dir),
        ] + (["--fast-replay"] if self.fast_replay else [])  # fmt: skip
        environment = {**os.environ, **self.env}
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._log_file, env=environment
        )
        ready = self._read_ready_line()
        self.url = ready["url"]
        self.function_key = ready["functionKey"]
        self.master_key = ready["masterKey"]
        # Later stdout (there should be none) must not block the host on a full pipe.
        threading.Thread(target=self._drain, args=(self.process,), daemon=True).start()
        self.port = int(self.url.rsplit(":", 1)[1])  # a restart keeps the same URL
        self._binding = None

    def _read_ready_line(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        result: dict[str, Any] = {}

        def read() -> None:
            assert self.process is not None and self.process.stdout is not None
            line = self.process.stdout.readline()
            if line:
                result.update(json.loads(line))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.startup_timeout)
        if not result:
            self._terminate(signal.SIGKILL)
            raise DevHostError(
                f"devhost did not become ready; see {self.log_path}:\n"
                + self.log_path.read_text()[-4000:]
            )
        return result

    @staticmethod
    def _drain(process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for _ in process.stdout:
            pass

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait for a clean exit (SIGKILL after ``timeout``); the exit code."""
        return self._terminate(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: a crash at an arbitrary moment."""
        self._terminate(signal.SIGKILL)

    def restart(self) -> None:
        """Start again on the same state dir, port, clock and keys."""
        if self.process is not None and self.process.poll() is None:
            self.stop()
        self.start()

    def _terminate(self, signum: int, timeout: float = 20.0) -> int | None:
        process, self.process = self.process, None
        code = None
        if process is not None:
            if process.poll() is None:
                os.kill(process.pid, signum)
                try:
                    code = process.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    code = process.wait()
            else:
                code = process.returncode
            if process.stdout is not None:
                process.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    # -- talking to it -----------------------------------------------------------------
    def binding_json(self) -> str:
        """The ``durableClient`` binding JSON the app's functions receive."""
        if self._binding is None:
            status, body = self.request("GET", "/admin/devhost/binding", key=self.master_key)
            assert status == 200, (status, body)
            self._binding = json.dumps(body)
        return self._binding

    def client(self) -> Any:
        """A real ``DurableOrchestrationClient`` for this host (run its calls with run())."""
        from azure.durable_functions import DurableOrchestrationClient

        return DurableOrchestrationClient(self.binding_json())

    def run(self, awaitable: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run a client coroutine on the shared client loop and return its result."""
        future = asyncio.run_coroutine_threadsafe(awaitable, _LoopThread.get().loop)
        return future.result(timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        timeout: float = 60.0,
    ) -> tuple[int, Any]:
        """One HTTP call; (status, parsed JSON body or text or None)."""
        status, answer, _ = self.request_full(
            method, path, body, key=key, headers=headers, raw=raw, timeout=timeout
        )
        return status, answer

    def request_full(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        timeout: float = 60.0,
    ) -> tuple[int, Any, Any]:
        """One HTTP call; (status, parsed JSON body or text or None, response headers)."""
        url = path if path.startswith("http") else self.url + path
        if key is not None:
            url += ("&" if "?" in url else "?") + f"code={key}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if data is not None and "Content-Type" not in (headers or {}):
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, _decode(response.read()), response.headers
        except urllib.error.HTTPError as error:
            return error.code, _decode(error.read()), error.headers

    def status(self, instance_id: str, **flags: bool) -> dict[str, Any] | None:
        query = "&".join(f"{name}=true" for name, value in flags.items() if value)
        status, body = self.request("GET", f"/durabletask/instances/{instance_id}?{query}")
        return None if status == 404 else body

    def wait_for(
        self, instance_id: str, timeout: float = 60.0, statuses: tuple[str, ...] = TERMINAL_STATES
    ) -> dict[str, Any]:
        """Poll until the instance reaches one of ``statuses``; its status JSON."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.status(instance_id)
            if last is not None and last["runtimeStatus"] in statuses:
                return last
            time.sleep(0.05)
        raise DevHostError(f"{instance_id} not in {statuses} after {timeout}s; last: {last}")

    def wait_until(self, predicate: Any, timeout: float = 60.0, what: str = "condition") -> Any:
        """Poll ``predicate()`` until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise DevHostError(f"{what} not reached after {timeout}s")


def _decode(data: bytes) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")
