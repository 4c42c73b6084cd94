"""ARM request throttling: regional token buckets per subscription and principal.

ARM (since 2024) limits each subscription + principal per regional ARM instance with token
buckets: writes 200 burst refilled at 10/s, deletes the same, reads 250 at 25/s. A request
takes one token of its category; an empty bucket answers 429 ``TooManyRequests`` with
``Retry-After``. The refill runs on the world clock, so a time scale speeds it up like
everything else. ``x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}`` report
the buckets on every response.

Compute also keeps its own per-resource-type policies, reported in
``x-ms-ratelimit-remaining-resource`` (``<policy>;<count>`` pairs over 3- and 30-minute
windows). With throttling on, a request that would exceed one is refused with Compute's
429 naming the policy (Learn "Troubleshooting API throttling errors"); the limits are the
config's ``resourceLimits`` (defaults below).
"""

from __future__ import annotations

import hashlib
import json
import math
from base64 import urlsafe_b64decode
from collections import deque
from dataclasses import dataclass

from emulator.world import Bucket, Config

CATEGORIES = ("reads", "writes", "deletes")


def category(method: str) -> str:
    if method in ("GET", "HEAD"):
        return "reads"
    if method == "DELETE":
        return "deletes"
    return "writes"


def principal_of(authorization: str) -> str:
    """The token's ``oid`` claim if it is a readable JWT, else a hash of the token."""
    token = authorization.split(" ", 1)[1] if " " in authorization else authorization
    parts = token.split(".")
    if len(parts) == 3:
        try:
            payload = json.loads(urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
            if isinstance(payload, dict) and payload.get("oid"):
                return str(payload["oid"])
        except (ValueError, UnicodeDecodeError):
            pass
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass
class TokenBucket:
    tokens: float
    updated: float

    def refill(self, spec: Bucket, now: float) -> None:
        if now > self.updated:
            self.tokens = min(spec.burst, self.tokens + (now - self.updated) * spec.rate)
            self.updated = now


class Throttle:
    """Token buckets keyed by (subscription, principal, ARM region, category)."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str, str, str], TokenBucket] = {}

    def _bucket(self, config: Config, key: tuple[str, str, str, str], now: float) -> TokenBucket:
        spec = config.buckets[key[3]]
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(spec.burst, now)
        bucket.refill(spec, now)
        return bucket

    def take(
        self, config: Config, subscription: str, principal: str, kind: str, now: float
    ) -> float | None:
        """Take a token; ``None`` if granted, else world seconds until one is available.

        When throttling is off the bucket still counts (so the headers are meaningful) but
        never refuses.
        """
        key = (subscription.lower(), principal, config.arm_region, kind)
        bucket = self._bucket(config, key, now)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        if not config.throttle:
            return None
        return (1 - bucket.tokens) / config.buckets[kind].rate

    def remaining(
        self, config: Config, subscription: str, principal: str, now: float
    ) -> dict[str, int]:
        out = {}
        for kind in CATEGORIES:
            key = (subscription.lower(), principal, config.arm_region, kind)
            out[kind] = math.floor(self._bucket(config, key, now).tokens)
        return out


# Compute's resource-level policies: (name, 3-minute limit, 30-minute limit).
_POLICIES: dict[str, tuple[str, int, int]] = {
    "get": ("LowCostGet", 4000, 32000),
    "list": ("HighCostGet", 160, 800),
    "disk-write": ("CreateUpdateDisks", 3000, 25000),
    "disk-delete": ("DeleteDisks", 3000, 25000),
    "snapshot-write": ("HighCostSnapshotCreateHydrate", 240, 1920),
    "vm-write": ("PutVM", 240, 1200),
    "vm-delete": ("DeleteVM", 240, 1200),
}


def compute_policy(method: str, operation_id: str) -> str | None:
    """Which Compute policy a request counts against (None outside Microsoft.Compute)."""
    group, _, action = operation_id.partition("_")
    if group not in ("Disks", "Snapshots", "VirtualMachines"):
        return None
    if method == "GET":
        return "list" if action.startswith("List") else "get"
    if group == "VirtualMachines":
        return "vm-delete" if method == "DELETE" else "vm-write"
    if group == "Snapshots":
        return "snapshot-write"
    return "disk-delete" if method == "DELETE" else "disk-write"


def default_resource_limits() -> dict[str, tuple[int, int]]:
    """Compute's policies by name: (3-minute limit, 30-minute limit)."""
    return {name: (limit3, limit30) for name, limit3, limit30 in _POLICIES.values()}


@dataclass(frozen=True)
class ResourceRefusal:
    """A request over one of Compute's policies: which window, and when it frees a slot."""

    target: str  # e.g. HighCostSnapshotCreateHydrate3Min
    limit: int
    window_start: float
    retry_in: float  # world seconds


class ResourceWindows:
    """Sliding 3- and 30-minute counters behind ``x-ms-ratelimit-remaining-resource``."""

    def __init__(self) -> None:
        # Per (subscription, policy): hit times within the last 3 and the last 30 minutes.
        self._hits: dict[tuple[str, str], tuple[deque[float], deque[float]]] = {}

    def _windows(self, subscription: str, policy: str, now: float) -> tuple[deque[float], ...]:
        short, long = self._hits.setdefault((subscription.lower(), policy), (deque(), deque()))
        for window, seconds in ((short, 180), (long, 1800)):
            while window and window[0] <= now - seconds:
                window.popleft()
        return short, long

    def refusal(
        self, config: Config, subscription: str, policy: str, now: float
    ) -> ResourceRefusal | None:
        """Why a request of ``policy`` would exceed a window now (None: it fits)."""
        name = _POLICIES[policy][0]
        limits = config.resource_limits.get(name) or default_resource_limits()[name]
        for window, seconds, limit, suffix in zip(
            self._windows(subscription, policy, now), (180, 1800), limits, ("3Min", "30Min"),
            strict=True,
        ):  # fmt: skip
            if len(window) >= limit:
                # The window frees a slot when its oldest request leaves it.
                retry_in = window[len(window) - limit] + seconds - now
                return ResourceRefusal(name + suffix, limit, now - seconds, max(retry_in, 0.0))
        return None

    def hit(
        self, config: Config, subscription: str, policy: str, now: float, count: bool = True
    ) -> str:
        """Count a request (unless ``count`` is false: a refused one) and report what is
        left in both windows."""
        name = _POLICIES[policy][0]
        limit3, limit30 = config.resource_limits.get(name) or default_resource_limits()[name]
        short, long = self._windows(subscription, policy, now)
        if count:
            short.append(now)
            long.append(now)
        return (
            f"Microsoft.Compute/{name}3Min;{max(0, limit3 - len(short))},"
            f"Microsoft.Compute/{name}30Min;{max(0, limit30 - len(long))}"
        )
