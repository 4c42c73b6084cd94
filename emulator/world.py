"""The emulator's world: clock, configuration, scheduled transitions, stats and backends.

Everything stateful hangs off one ``World``. Backends (moto-style, one per provider) are
registered by name with a factory, so ``reset()`` rebuilds them from scratch. Time-driven
state changes (an LRO ending, a copy finishing, a SAS expiring) are events in a scheduler
keyed by *world* time; ``advance()`` runs every event that is due, in time order, before
each request and from a background ticker, so what a client sees depends only on the world
clock, never on when it happens to ask.

Models announce resource writes and deletes through ``announce()``; subscribers (Event
Grid delivery) register with ``on_change()``.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import logging
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from diskdr.clock import WorldClock
from emulator.arm import iso

log = logging.getLogger("emulator")

MIB = 1024 * 1024

# Default LRO durations in world seconds, by the spec's operationId: small but not zero, so
# clients really poll. Configurable per operation through POST /_emulator/config.
DEFAULT_LRO_SECONDS: dict[str, float] = {
    "Disks_CreateOrUpdate": 3.0,
    "Disks_Update": 2.0,
    "Disks_Delete": 2.0,
    "Disks_GrantAccess": 2.0,
    "Disks_RevokeAccess": 1.0,
    "Snapshots_CreateOrUpdate": 4.0,
    "Snapshots_Update": 2.0,
    "Snapshots_Delete": 2.0,
    "Snapshots_GrantAccess": 2.0,
    "Snapshots_RevokeAccess": 1.0,
    "VirtualMachines_CreateOrUpdate": 30.0,
    "VirtualMachines_Update": 10.0,
    "VirtualMachines_Delete": 20.0,
    "VirtualMachines_AttachDetachDataDisks": 10.0,
    "VirtualMachines_Start": 15.0,
    "VirtualMachines_PowerOff": 10.0,
    "VirtualMachines_Deallocate": 20.0,
    "VirtualMachines_Restart": 15.0,
    "ResourceGroups_Delete": 5.0,
    "RestorePoints_Create": 20.0,
    "RestorePoints_Delete": 5.0,
    "RestorePointCollections_Delete": 5.0,
    "DiskRestorePoint_GrantAccess": 2.0,
    "DiskRestorePoint_RevokeAccess": 1.0,
    "VirtualMachines_RunCommand": 20.0,
}


@dataclass
class Limits:
    """Platform limits (see docs/emulator.md for their sources)."""

    incremental_snapshots_per_disk: int = 500
    snapshots_per_disk_per_window: int = 7
    # Premium SSD v2 / Ultra: snapshots of a disk still in their background copy.
    pending_snapshots_per_disk: int = 3
    snapshot_window_seconds: float = 300.0
    copies_in_flight_per_region: int = 100
    # VM restore points (Learn "Overview of VM restore points", "Support matrix for VM
    # restore points"): creates per VM per hour per consistency mode, copies into one target
    # collection per hour, points retained per VM, minimum spacing per consistency mode.
    restore_points_per_vm_per_hour: int = 3
    restore_point_copies_per_collection_per_hour: int = 3
    restore_points_per_vm: int = 500
    crash_consistent_spacing_seconds: float = 3600.0
    app_consistent_spacing_seconds: float = 3 * 3600.0
    # Run command: the longest a script may run (Learn "Run scripts in your VM": 90 minutes).
    run_command_timeout_seconds: float = 90 * 60.0


@dataclass
class Transfer:
    """How long a background copy takes: ``base_seconds + bytes / bytes_per_second`` (world)."""

    base_seconds: float
    bytes_per_second: float

    def seconds(self, changed_bytes: int, speedup: float = 1.0) -> float:
        return self.base_seconds + changed_bytes / (self.bytes_per_second * speedup)


@dataclass
class Bucket:
    burst: float
    rate: float  # tokens per world second


@dataclass
class Config:
    """What the control plane can change at run time (``POST /_emulator/config``)."""

    page_size: int = 100
    throttle: bool = False
    lro_seconds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LRO_SECONDS))
    limits: Limits = field(default_factory=Limits)
    # Cross-region CopyStart: changed data over a WAN link.
    copy: Transfer = field(default_factory=lambda: Transfer(60.0, 50 * MIB))
    # Premium SSD v2 / Ultra snapshots: the background copy out of the disk's storage.
    background_copy: Transfer = field(default_factory=lambda: Transfer(30.0, 200 * MIB))
    buckets: dict[str, Bucket] = field(
        default_factory=lambda: {
            "reads": Bucket(250, 25),
            "writes": Bucket(200, 10),
            "deletes": Bucket(200, 10),
        }
    )
    # ARM serves a client from one regional instance; its buckets are per that region.
    arm_region: str = "eastus"
    # Fast mode: DiskRP's LROs also carry Retry-After / retry-after-ms polling hints. Azure
    # sends none (azure-powershell#11464), so an SDK poller waits its 30 s default between
    # polls; the emulator's own tests turn this on so their `.result()` calls end promptly.
    lro_hints: bool = False
    # Compute's per-resource-type policies, by name: (3-minute, 30-minute) limits; absent
    # names keep emulator.throttle's defaults.
    resource_limits: dict[str, tuple[int, int]] = field(default_factory=dict)

    def lro(self, operation_id: str) -> float:
        return self.lro_seconds.get(operation_id, 0.0)


@dataclass
class Caller:
    """Who made the request a change belongs to (carried into events and operations)."""

    principal: str = ""
    correlation_id: str = ""
    request_id: str = ""
    method: str = ""
    url: str = ""


@dataclass(frozen=True)
class ResourceChange:
    """A resource write or delete that completed (what Event Grid reports)."""

    kind: str  # "write" | "delete"
    resource_id: str
    operation_name: str  # e.g. "Microsoft.Compute/virtualMachines/write"
    subscription: str
    resource_group: str
    status: str  # "Succeeded" | "Failed"
    time: float  # world unix
    caller: Caller


@dataclass
class LimitViolation:
    limit: str
    code: str
    status: int
    resource: str
    time: float
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "code": self.code,
            "status": self.status,
            "resource": self.resource,
            "time": iso(self.time),
            "message": self.message,
        }


class Stats:
    """Counters behind ``GET /_emulator/stats``."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.throttled = 0
        self.faults = 0
        self.limit_violations: list[LimitViolation] = []
        self.peak_copies: dict[str, int] = {}

    def violation(self, violation: LimitViolation) -> None:
        self.limit_violations.append(violation)

    def record_copies_in_flight(self, key: str, count: int) -> None:
        """Keep the peak number of copies in flight into one subscription + region."""
        self.peak_copies[key] = max(self.peak_copies.get(key, 0), count)


class Scheduler:
    """Callbacks due at world instants, run in (time, insertion) order."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = itertools.count()

    def at(self, when: float, callback: Callable[[float], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), callback))

    def run_due(self, now: float) -> int:
        ran = 0
        while self._heap and self._heap[0][0] <= now:
            when, _, callback = heapq.heappop(self._heap)
            try:
                callback(when)
            except Exception:  # a broken transition must not wedge the world
                log.exception("scheduled transition at %s failed", iso(when))
            ran += 1
        return ran

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None


class World:
    """All state of one emulator process."""

    def __init__(self, clock: WorldClock, config: Config | None = None, seed: int | None = None):
        self.clock = clock
        self._initial_config = copy.deepcopy(config or Config())
        self._factories: dict[str, Callable[[World], Any]] = {}
        self._listeners: list[Callable[[ResourceChange], None]] = []
        self._stat_sources: list[Callable[[World], dict[str, Any]]] = []
        self._reset_hooks: list[Callable[[World], None]] = []
        self._request_guards: list[Callable[[str, str, str], None]] = []
        self.caller = Caller()
        self._seed = seed
        self.reset()

    # --- lifecycle -----------------------------------------------------------------------

    def reset(self, seed: int | None = None) -> None:
        """Drop every resource, operation, fault and counter; restore the startup config."""
        self.config = copy.deepcopy(self._initial_config)
        self.rng = random.Random(seed if seed is not None else self._seed)
        self.scheduler = Scheduler()
        self.stats = Stats()
        # Built in registration order, so a backend may look up the ones registered before it.
        self.backends: dict[str, Any] = {}
        for name, factory in self._factories.items():
            self.backends[name] = factory(self)
        for hook in self._reset_hooks:
            hook(self)

    def register_backend(self, name: str, factory: Callable[[World], Any]) -> None:
        """Add a provider backend; it is rebuilt by ``factory(world)`` on every reset."""
        self._factories[name] = factory
        self.backends[name] = factory(self)

    def backend(self, name: str) -> Any:
        return self.backends[name]

    def on_reset(self, hook: Callable[[World], None]) -> None:
        """Run ``hook(world)`` after every reset (e.g. to clear a plugin's own state)."""
        self._reset_hooks.append(hook)

    # --- time ----------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.time()

    def advance(self, now: float | None = None) -> float:
        """Run every transition due by ``now`` (world time); returns ``now``."""
        now = self.now() if now is None else now
        self.scheduler.run_due(now)
        return now

    def at(self, when: float, callback: Callable[[float], None]) -> None:
        self.scheduler.at(when, callback)

    # --- changes and stats ---------------------------------------------------------------

    def on_change(self, listener: Callable[[ResourceChange], None]) -> None:
        """Subscribe to completed resource writes and deletes."""
        self._listeners.append(listener)

    def announce(self, change: ResourceChange) -> None:
        for listener in self._listeners:
            try:
                listener(change)
            except Exception:
                log.exception("change listener failed for %s", change.resource_id)

    def add_request_guard(self, guard: Callable[[str, str, str], None]) -> None:
        """Check every authenticated ARM request before its handler runs (management locks).

        ``guard(method, path, operation_id)`` raises an ``ArmError`` to refuse the request.
        """
        self._request_guards.append(guard)

    def check_request(self, method: str, path: str, operation_id: str) -> None:
        for guard in self._request_guards:
            guard(method, path, operation_id)

    def add_stat_source(self, source: Callable[[World], dict[str, Any]]) -> None:
        """Contribute extra keys to ``GET /_emulator/stats``."""
        self._stat_sources.append(source)

    def stats_json(self) -> dict[str, Any]:
        stats = self.stats
        body: dict[str, Any] = {
            "requests": dict(stats.requests),
            "statuses": {str(k): v for k, v in stats.statuses.items()},
            "throttled": stats.throttled,
            "faultsInjected": stats.faults,
            "limitViolations": [v.to_json() for v in stats.limit_violations],
            "peakCopies": dict(stats.peak_copies),
        }
        for source in self._stat_sources:
            for key, value in source(self).items():
                if isinstance(value, dict) and isinstance(body.get(key), dict):
                    body[key].update(value)
                else:
                    body[key] = value
        return body
