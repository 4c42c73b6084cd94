"""Small helpers shared by test suites."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from diskdr.settings import Settings


def poll(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Call ``predicate`` until it returns something truthy, within a generous deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what}: not reached after {timeout} s")


def emulator_settings(emulator: Any, install_id: str, *subscriptions: str) -> Settings:
    """diskdr's settings pointed at a running emulator (``EmulatorServer``)."""
    return Settings.from_env(
        {
            "DISKDR_SUBSCRIPTION_IDS": ",".join(subscriptions),
            "DISKDR_INSTALL_ID": install_id,
            "DISKDR_ARM_ENDPOINT": emulator.url,
            "DISKDR_CA_BUNDLE": emulator.ca_path,
            "DISKDR_CREDENTIAL": "emulator",
        }
    )
