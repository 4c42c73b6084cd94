"""Run the emulator as a subprocess (``EmulatorServer``) and steer it (``ControlClient``).

    with EmulatorServer(time_scale=600, page_size=2) as emu:
        client = ComputeManagementClient(cred, sub, base_url=emu.url,
                                         connection_verify=emu.ca_path)
        emu.control.estate({...})

The server is started with an explicit ``--clock-anchor`` so ``emu.clock`` is the same
``WorldClock`` as the emulator's; it is stopped by its PID (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from diskdr.clock import WorldClock

REPO_ROOT = Path(__file__).resolve().parent.parent


class ControlError(RuntimeError):
    """The control plane refused a request."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(f"control plane answered {status}: {body}")


class ControlClient:
    """A small client of ``/_emulator/`` (JSON in, JSON out)."""

    def __init__(self, url: str, ca_path: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()
        # Passed per request: a REQUESTS_CA_BUNDLE in the environment would override
        # a session-level ``verify``.
        self.ca_path = ca_path
        self.timeout = timeout

    def _call(self, method: str, name: str, body: Any = None, **params: Any) -> Any:
        response = self.session.request(
            method,
            f"{self.url}/_emulator/{name}",
            json=body,
            params=params or None,
            timeout=self.timeout,
            verify=self.ca_path,
        )
        payload = response.json() if response.content else None
        if response.status_code >= 400:
            raise ControlError(response.status_code, payload)
        return payload

    def reset(self, seed: int | None = None) -> Any:
        return self._call("POST", "reset", {} if seed is None else {"seed": seed})

    def estate(self, seed: dict[str, Any]) -> Any:
        return self._call("POST", "estate", seed)

    def faults(self, rules: list[dict[str, Any]]) -> Any:
        return self._call("POST", "faults", {"rules": rules})

    def clear_faults(self) -> Any:
        return self._call("DELETE", "faults")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def write(
        self, id: str, blocks: int | None = None, offsets: list[int] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"id": id}
        if blocks is not None:
            body["blocks"] = blocks
        if offsets is not None:
            body["offsets"] = offsets
        return self._call("POST", "write", body)

    def content(self, id: str) -> dict[str, Any]:
        return self._call("GET", "content", id=id)

    def events(self, url: str, **options: Any) -> Any:
        """Subscribe a webhook to Event Grid events (camelCase options: ``subjectBeginsWith``)."""
        return self._call("POST", "events", {"url": url, **options})

    def event_subscriptions(self, id: str | None = None) -> list[dict[str, Any]]:
        """Event subscriptions with their state and delivery counters."""
        return self._call("GET", "events", **({"id": id} if id else {}))["subscriptions"]

    def delete_events(self, id: str | None = None) -> Any:
        return self._call("DELETE", "events", **({"id": id} if id else {}))

    def guest(self, vm_id: str) -> dict[str, Any]:
        """A VM's guest: agent, frozen state and intervals, queued writes, run commands."""
        return self._call("GET", "guest", id=vm_id)

    def set_guest(self, vm_id: str, **fields: Any) -> dict[str, Any]:
        """Change a VM's guest: ``agentReady``, ``runCommandFaults``, ``frozen``."""
        return self._call("POST", "guest", {"id": vm_id, **fields})

    def clock(self) -> dict[str, Any]:
        return self._call("GET", "clock")

    def config(self, **fields: Any) -> dict[str, Any]:
        """Read the run-time configuration, or change the given fields (camelCase keys)."""
        if not fields:
            return self._call("GET", "config")
        return self._call("POST", "config", fields)

    def close(self) -> None:
        self.session.close()


class EmulatorServer:
    """``python -m emulator`` in a subprocess, for the duration of a ``with`` block."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        throttle: bool = False,
        lro_hints: bool = False,
        page_size: int | None = None,
        clock_anchor: float | None = None,
        state_dir: str | Path | None = None,
        port: int = 0,
        seed: int | None = None,
        log_level: str = "INFO",
        startup_timeout: float = 60.0,
    ) -> None:
        self.time_scale = time_scale
        self.throttle = throttle
        self.lro_hints = lro_hints
        self.page_size = page_size
        self.clock_anchor = clock_anchor
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.port = port
        self.seed = seed
        self.log_level = log_level
        self.startup_timeout = startup_timeout
        self._own_state_dir = False
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self.url = ""
        self.ca_path = ""
        self.clock: WorldClock | None = None
        self.control: ControlClient | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None, "emulator not started"
        return self._process.pid

    @property
    def log_path(self) -> Path:
        assert self.state_dir is not None
        return self.state_dir / "emulator.log"

    def start(self) -> EmulatorServer:
        anchor = time.time() if self.clock_anchor is None else self.clock_anchor
        if self.state_dir is None:
            self.state_dir = Path(tempfile.mkdtemp(prefix="diskdr-emulator-"))
            self._own_state_dir = True
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state_dir),
            "--time-scale",
            repr(float(self.time_scale)),
            "--clock-anchor",
            repr(float(anchor)),
            "--log-level",
            self.log_level,
        ]
        if self.throttle:
            command.append("--throttle")
        if self.lro_hints:
            command.append("--lro-hints")
        if self.page_size is not None:
            command += ["--page-size", str(self.page_size)]
        if self.seed is not None:
            command += ["--seed", str(self.seed)]
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
            stdin=subprocess.DEVNULL,
            cwd=str(REPO_ROOT),
            env=env,
        )
        line = self._read_ready_line()
        ready = json.loads(line)
        self.url, self.ca_path = ready["url"], ready["ca"]
        self.clock = WorldClock(self.time_scale, anchor)
        self.control = ControlClient(self.url, self.ca_path)
        return self

    def _read_ready_line(self) -> str:
        assert self._process is not None and self._process.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self._process.stdout

        def pump() -> None:
            # Keep draining stdout after the ready line so the child never blocks on it.
            for raw in iter(stdout.readline, b""):
                lines.put(raw)
            lines.put(b"")

        threading.Thread(target=pump, name="emulator-stdout", daemon=True).start()
        try:
            raw = lines.get(timeout=self.startup_timeout)
        except queue.Empty:
            self.stop()
            raise RuntimeError(
                f"emulator not ready within {self.startup_timeout} s; see {self.log_path}"
            ) from None
        if not raw:
            code = self._process.wait()
            log = self.log_path.read_text(errors="replace")[-4000:]
            self.stop()
            raise RuntimeError(f"emulator exited with {code} before it was ready:\n{log}")
        return raw.decode().strip()

    def stop(self) -> None:
        if self.control is not None:
            self.control.close()
            self.control = None
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_state_dir and self.state_dir is not None:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
