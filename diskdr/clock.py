"""The world clock shared by the offline twin (emulator, devhost) and the app.

In Azure the world clock is the real clock. On the twin, every process is given the same
``scale`` and ``anchor`` so that their clocks agree: world time runs ``scale`` times faster
than real time from the real instant ``anchor`` (Unix seconds), at which both are equal.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

ENV_SCALE = "DISKDR_TIME_SCALE"
ENV_ANCHOR = "DISKDR_CLOCK_ANCHOR"


class WorldClock:
    """World time = anchor + (real time - anchor) * scale."""

    def __init__(self, scale: float = 1.0, anchor: float | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"time scale must be > 0, got {scale}")
        self.scale = float(scale)
        self.anchor = time.time() if anchor is None else float(anchor)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> WorldClock:
        """The clock of ``DISKDR_TIME_SCALE`` and ``DISKDR_CLOCK_ANCHOR`` (real if unset)."""
        env = os.environ if environ is None else environ
        scale = float(env.get(ENV_SCALE) or 1.0)
        anchor_text = env.get(ENV_ANCHOR)
        return cls(scale, float(anchor_text) if anchor_text else None)

    def time(self) -> float:
        """World time in Unix seconds."""
        return self.anchor + (time.time() - self.anchor) * self.scale

    def now(self) -> datetime:
        """World time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def real_seconds(self, world_seconds: float) -> float:
        """How long ``world_seconds`` of world time last in real time."""
        return world_seconds / self.scale

    def world_seconds(self, real_seconds: float) -> float:
        """How much world time passes in ``real_seconds`` of real time."""
        return real_seconds * self.scale

    def real_time_of(self, world_unix: float) -> float:
        """The real Unix time at which the world clock shows ``world_unix``."""
        return self.anchor + (world_unix - self.anchor) / self.scale

    def sleep(self, world_seconds: float) -> None:
        """Sleep for ``world_seconds`` of world time."""
        if world_seconds > 0:
            time.sleep(self.real_seconds(world_seconds))

    def env(self) -> dict[str, str]:
        """Environment variables that give a child process this same clock."""
        return {ENV_SCALE: repr(self.scale), ENV_ANCHOR: repr(self.anchor)}


_default: WorldClock | None = None


def default_clock() -> WorldClock:
    """The process-wide clock, read from the environment once."""
    global _default
    if _default is None:
        _default = WorldClock.from_env()
    return _default


def utc_now() -> datetime:
    """Current world time (real time in Azure). Activities use this, never datetime.now()."""
    return default_clock().now()
