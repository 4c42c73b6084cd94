"""Start the whole offline twin with one world clock: the Compute emulator and devhost
running this repository's ``function_app.py`` with settings that point at the emulator.

    with Twin(policy_file="policies.sample.yaml", time_scale=600) as twin:
        twin.control.estate(seed)            # the emulator's control plane
        twin.http("POST", "/api/backups", {"vmIds": [...]})
        compute = twin.compute()             # the real azure-mgmt-compute client
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from azure.mgmt.compute import ComputeManagementClient

from devhost.testing import DevHost
from diskdr.azure.clients import EmulatorCredential
from emulator import EmulatorServer

REPO_ROOT = Path(__file__).resolve().parent.parent
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"


class Twin:
    """Emulator + devhost (+ this app) for one ``with`` block; stopped by PID on exit."""

    def __init__(
        self,
        *,
        policy_file: str | os.PathLike[str],
        time_scale: float = 600.0,
        throttle: bool = False,
        install_id: str = "diskdr-twin",
        subscriptions: tuple[str, ...] = (SUBSCRIPTION,),
        tick_schedule: str = "0 * * * * *",
        settings: dict[str, str] | None = None,
        state_dir: str | os.PathLike[str] | None = None,
        page_size: int | None = None,
    ) -> None:
        self.time_scale = time_scale
        self.anchor = time.time()
        self._own_state_dir = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="diskdr-twin-"))
        self.install_id = install_id
        self.subscriptions = subscriptions
        self.emulator = EmulatorServer(
            time_scale=time_scale,
            throttle=throttle,
            clock_anchor=self.anchor,
            state_dir=self.state_dir / "emulator",
            page_size=page_size,
        )
        self._policy_file = Path(policy_file).resolve()
        self._tick_schedule = tick_schedule
        self._settings = dict(settings or {})
        self.host: DevHost | None = None

    def app_settings(self) -> dict[str, str]:
        """The app settings devhost gives the app (DESIGN's table, pointed at the emulator)."""
        return {
            "DISKDR_SUBSCRIPTION_IDS": ",".join(self.subscriptions),
            "DISKDR_POLICY_FILE": str(self._policy_file),
            "DISKDR_INSTALL_ID": self.install_id,
            "DISKDR_ARM_ENDPOINT": self.emulator.url,
            "DISKDR_CA_BUNDLE": self.emulator.ca_path,
            "DISKDR_CREDENTIAL": "emulator",
            "DISKDR_TICK_SCHEDULE": self._tick_schedule,
            **self._settings,
        }

    def start(self, *, host: bool = True) -> Twin:
        self.emulator.start()
        if host:
            self.start_host()
        return self

    def start_host(self) -> DevHost:
        """Start devhost (the emulator must be running); seed the estate first if the first
        scheduler tick should see it."""
        self.host = DevHost(
            REPO_ROOT,
            time_scale=self.time_scale,
            clock_anchor=self.anchor,
            state_dir=self.state_dir / "devhost",
            env=self.app_settings(),
        )
        self.host.start()
        return self.host

    def stop(self) -> None:
        if self.host is not None:
            self.host.stop()
            self.host = None
        self.emulator.stop()
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- talking to it --------------------------------------------------------------------
    @property
    def control(self) -> Any:
        assert self.emulator.control is not None, "emulator not started"
        return self.emulator.control

    @property
    def clock(self) -> Any:
        return self.emulator.clock

    def compute(self, subscription: str = SUBSCRIPTION) -> ComputeManagementClient:
        """A real Compute client on the emulator (for seeding and checking, as a user would)."""
        return ComputeManagementClient(
            EmulatorCredential(),
            subscription,
            base_url=self.emulator.url,
            credential_scopes=[f"{self.emulator.url}/.default"],
            connection_verify=self.emulator.ca_path,
        )

    def http(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        """Call one of the app's HTTP functions with the function key."""
        assert self.host is not None, "devhost not started"
        return self.host.request(method, path, body, key=self.host.function_key, **kwargs)
