"""Long-running operations: records, completion on the world clock, status resources.

A model starts an operation with ``Operations.begin(...)`` and hands it the work to do at
the end (``finish``); the operation ends ``duration`` world seconds later — ``Succeeded``
with ``finish``'s return value as output, or ``Failed`` with the ``ArmError`` it raised.
Clients follow the ``Azure-AsyncOperation`` header to an ARM ``OperationStatusResult``
(``name``, ``status``, ``startTime``, ``endTime``, ``error``) and the ``Location`` header
(``monitor=true``) to the operation's result, both under
``/subscriptions/{s}/providers/Microsoft.Compute/locations/{region}/operations/{id}``.

Polling hints: DiskRP (disks, snapshots, disk restore points) sends none, as Azure does
(captured answers in azure-powershell#11464: ``Location`` + ``Azure-AsyncOperation``, no
``Retry-After``), unless the config's ``lroHints`` fast mode is on. Other providers, and
DiskRP in fast mode: ``retry-after-ms`` is the real time left (so the SDK polls promptly under a
time scale), capped at ``MAX_POLL_WORLD_SECONDS`` of world time; ``Retry-After`` is the same
hint in whole real seconds, at least 1 at scale 1 and left out when it would round to 0
(azure-core treats ``Retry-After: 0`` as "no hint" and falls back to its 30 s default).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.arm import COMPUTE, iso
from emulator.errors import ArmError, InternalServerError, NotFound
from emulator.routing import ArmResponse

if TYPE_CHECKING:
    from diskdr.clock import WorldClock
    from emulator.routing import ArmRequest
    from emulator.world import Caller, World

MAX_POLL_WORLD_SECONDS = 30.0
MIN_POLL_REAL_MS = 20
PRUNE_EVERY = 1000
KEEP_ENDED_WORLD_SECONDS = 24 * 3600.0


@dataclass
class Operation:
    id: str
    operation_id: str  # the spec's operationId, e.g. "Disks_CreateOrUpdate"
    subscription: str
    location: str
    resource_id: str
    start: float
    end: float
    caller: Caller
    status: str = "InProgress"
    error: dict[str, Any] | None = None
    error_status: int = 500
    output: Any = None
    # HTTP status of a Location poll once Succeeded (200 with output, or 200 with no body).
    result_status: int = 200
    # Where the status resource lives, when not under Microsoft.Compute/locations/{region}.
    path: str | None = None
    on_end: list[Callable[[Operation], None]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in ("Succeeded", "Failed", "Canceled")

    def status_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.id,
            "status": self.status,
            "startTime": iso(self.start),
        }
        if self.done:
            body["endTime"] = iso(self.end)
        if self.error is not None:
            body["error"] = self.error
        if self.status == "Succeeded" and self.output is not None:
            body["properties"] = {"output": self.output}
        return body


class Operations:
    """The operation records of one world, by id."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._by_id: dict[str, Operation] = {}

    def begin(
        self,
        operation_id: str,
        *,
        subscription: str,
        location: str,
        resource_id: str,
        finish: Callable[[float], Any] | None = None,
        duration: float | None = None,
        start: float | None = None,
        path: str | None = None,
    ) -> Operation:
        """Start an operation that ends after ``duration`` world seconds (default: config).

        ``finish(end_time)`` runs at the end; its return value is the operation's output
        and an ``ArmError`` it raises fails the operation with that error.
        """
        world = self.world
        start = world.now() if start is None else start
        seconds = world.config.lro(operation_id) if duration is None else duration
        op = Operation(
            id=str(uuid.uuid4()),
            operation_id=operation_id,
            subscription=subscription,
            location=location,
            resource_id=resource_id,
            start=start,
            end=start + max(0.0, seconds),
            caller=world.caller,
        )
        if path is not None:
            op.path = path.format(id=op.id)
        self._by_id[op.id] = op
        if len(self._by_id) % PRUNE_EVERY == 0:
            self._prune(start)

        def complete(when: float) -> None:
            # What the operation announces is attributed to whoever started it.
            caller, world.caller = world.caller, op.caller
            try:
                op.output = finish(when) if finish else None
                op.status = "Succeeded"
            except ArmError as err:
                op.status = "Failed"
                op.error = err.body()["error"]
                op.error_status = err.status
            except Exception as err:  # surfaced as the operation's error, and logged
                op.status = "Failed"
                op.error = InternalServerError(f"Internal error: {err}").body()["error"]
                raise
            finally:
                world.caller = caller
                for callback in op.on_end:
                    callback(op)

        if seconds <= 0:
            complete(op.end)
        else:
            world.at(op.end, complete)
        return op

    def _prune(self, now: float) -> None:
        """Forget operations that ended long ago (ARM keeps them for a while, not forever)."""
        horizon = now - KEEP_ENDED_WORLD_SECONDS
        for op_id in [i for i, op in self._by_id.items() if op.done and op.end < horizon]:
            del self._by_id[op_id]

    def get(self, operation_id: str) -> Operation | None:
        return self._by_id.get(operation_id)


def status_path(op: Operation) -> str:
    if op.path:
        return op.path
    return (
        f"/subscriptions/{op.subscription}/providers/{COMPUTE}"
        f"/locations/{op.location}/operations/{op.id}"
    )


def retry_hint(clock: WorldClock, world_seconds: float) -> dict[str, str]:
    """``Retry-After`` / ``retry-after-ms`` asking a client to come back in ``world_seconds``.

    ``retry-after-ms`` is the real wait (so the SDK waits little under a time scale);
    ``Retry-After`` is whole real seconds, at least 1 at scale 1, and left out when it
    would round to 0 (azure-core reads ``Retry-After: 0`` as no hint at all).
    """
    real = clock.real_seconds(max(0.0, world_seconds))
    headers = {"retry-after-ms": str(max(MIN_POLL_REAL_MS, math.ceil(real * 1000)))}
    if clock.scale == 1:
        headers["Retry-After"] = str(max(1, math.ceil(real)))
    elif real >= 1:
        headers["Retry-After"] = str(math.floor(real))
    return headers


# DiskRP's operations (the spec's operationId prefixes): answered without polling hints.
DISK_RP_OPERATIONS = ("Disks_", "Snapshots_", "DiskRestorePoint_")


def sends_hints(world: World, op: Operation) -> bool:
    """Whether ``op``'s answers carry polling hints (not DiskRP's, unless in fast mode)."""
    return world.config.lro_hints or not op.operation_id.startswith(DISK_RP_OPERATIONS)


def poll_hint(world: World, op: Operation) -> dict[str, str]:
    """When a client polling ``op`` should look again: when it ends, at most 30 world s;
    nothing for DiskRP's operations outside fast mode (see the module docstring)."""
    if not sends_hints(world, op):
        return {}
    remaining_world = max(0.0, op.end - world.now())
    return retry_hint(world.clock, min(remaining_world, MAX_POLL_WORLD_SECONDS))


def lro_headers(
    request: ArmRequest, op: Operation, *, location: bool = True, async_operation: bool = True
) -> dict[str, str]:
    """The headers of an accepted long-running request."""
    path = status_path(op)
    headers = poll_hint(request.world, op)
    if async_operation:
        headers["Azure-AsyncOperation"] = request.url_for(path)
    if location:
        headers["Location"] = request.url_for(path, monitor="true")
    return headers


# --- handlers for the status resources (routed by each provider's urls.py) -------------


def _operation(request: ArmRequest) -> Operation:
    op = request.world.backend("operations").get(request.params["operation"])
    if op is None or op.subscription.lower() != request.params["subscription"].lower():
        raise NotFound(f"Operation '{request.params['operation']}' was not found.")
    return op


def get_status(request: ArmRequest) -> ArmResponse:
    """``Azure-AsyncOperation``: the ARM OperationStatusResult, 200 while and after running."""
    if request.query.get("monitor", "").lower() == "true":
        return get_result(request)
    op = _operation(request)
    headers = {} if op.done else poll_hint(request.world, op)
    return ArmResponse(200, op.status_body(), headers)


def get_result(request: ArmRequest) -> ArmResponse:
    """``Location``: 202 while running; then the result (200), or the error with its status."""
    op = _operation(request)
    if not op.done:
        headers = poll_hint(request.world, op)
        headers["Location"] = request.url_for(request.path, **_monitor(request))
        return ArmResponse(202, None, headers)
    if op.status == "Succeeded":
        return ArmResponse(op.result_status, op.output)
    return ArmResponse(op.error_status, {"error": op.error})


def _monitor(request: ArmRequest) -> dict[str, str]:
    return {"monitor": "true"} if "monitor" in request.query else {}
