"""The control plane under ``/_emulator/``: no auth, JSON in and out.

Tests and the offline twin steer the emulator here: reset it, seed an estate, inject faults,
read stats, simulate guest writes, read content digests, register Event Grid webhooks, read
the clock and change run-time configuration. Endpoints are a table keyed by (method, name);
``register(method, name, handler)`` adds one (a handler takes a ``ControlRequest`` and
returns a JSON-serializable body, or raises ``ArmError`` for a 4xx). Unknown body fields are
refused with a 400 naming them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator import content, estate
from emulator.arm import iso
from emulator.errors import ArmError, InvalidParameter, NotFound
from emulator.faults import FaultRule, Faults
from emulator.throttle import default_resource_limits
from emulator.world import Bucket, Transfer, World


@dataclass
class ControlRequest:
    world: World
    method: str
    name: str
    query: Mapping[str, str]
    raw_body: bytes
    base_url: str = ""  # https://127.0.0.1:PORT, for URLs pointing back at the emulator

    def json(self, allowed: set[str], where: str = "body") -> dict[str, Any]:
        if not self.raw_body.strip():
            data: Any = {}
        else:
            try:
                data = json.loads(self.raw_body)
            except ValueError as err:
                raise InvalidParameter(f"The {where} is not valid JSON: {err}.") from err
        if not isinstance(data, dict):
            raise InvalidParameter(f"The {where} must be a JSON object.")
        check_fields(data, allowed, where)
        return data


def check_fields(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidParameter(
            f"Unknown field '{unknown[0]}' in {where}; allowed: {sorted(allowed)}.",
            target=f"{where}.{unknown[0]}" if where != "body" else unknown[0],
        )


ControlHandler = Callable[[ControlRequest], Any]
HANDLERS: dict[tuple[str, str], ControlHandler] = {}


def register(method: str, name: str, handler: ControlHandler) -> None:
    """Serve ``METHOD /_emulator/<name>`` with ``handler``."""
    HANDLERS[(method.upper(), name)] = handler


def dispatch(request: ControlRequest) -> tuple[int, Any]:
    handler = HANDLERS.get((request.method, request.name))
    if handler is None:
        known = sorted({name for _, name in HANDLERS})
        if any(name == request.name for _, name in HANDLERS):
            return 405, {"error": {"code": "MethodNotAllowed", "message": "Method not allowed."}}
        return 404, {
            "error": {
                "code": "NotFound",
                "message": f"No control endpoint '{request.name}'; known: {known}.",
            }
        }
    try:
        return 200, handler(request)
    except ArmError as err:
        return err.status, err.body()


# --- endpoints ---------------------------------------------------------------------------


def reset(request: ControlRequest) -> Any:
    body = request.json({"seed"})
    request.world.reset(seed=body.get("seed"))
    return {"reset": True}


def seed_estate(request: ControlRequest) -> Any:
    body = request.json({"subscriptions"}, "estate")
    return {"created": estate.seed(request.world, body)}


def set_faults(request: ControlRequest) -> Any:
    body = request.json({"rules"})
    rules_json = body.get("rules")
    if not isinstance(rules_json, list):
        raise InvalidParameter("rules must be a list.", target="rules")
    rules = [FaultRule.from_json(rule, f"rules[{i}]") for i, rule in enumerate(rules_json)]
    faults: Faults = request.world.backend("faults")
    faults.set(rules)
    return {"rules": [rule.to_json() for rule in faults.rules]}


def get_faults(request: ControlRequest) -> Any:
    faults: Faults = request.world.backend("faults")
    return {"rules": [rule.to_json() for rule in faults.rules]}


def clear_faults(request: ControlRequest) -> Any:
    request.world.backend("faults").clear()
    return {"rules": []}


def stats(request: ControlRequest) -> Any:
    return request.world.stats_json()


def _content(world: World, resource_id: str) -> content.BlockMap | None:
    """The block map of any resource a backend knows content for (``content_of``)."""
    for backend in world.backends.values():
        lookup = getattr(backend, "content_of", None)
        if lookup is not None:
            blocks = lookup(resource_id)
            if blocks is not None:
                return blocks
    return None


def write(request: ControlRequest) -> Any:
    body = request.json({"id", "blocks", "offsets"})
    resource_id = body.get("id")
    if not isinstance(resource_id, str):
        raise InvalidParameter("id (a disk id) is required.", target="id")
    blocks, offsets = body.get("blocks"), body.get("offsets")
    if (blocks is None) == (offsets is None):
        raise InvalidParameter("Give exactly one of blocks (a count) or offsets (a list).")
    if blocks is not None and (
        isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0
    ):
        raise InvalidParameter("blocks must be a non-negative integer.", target="blocks")
    if offsets is not None and (
        not isinstance(offsets, list) or not all(isinstance(o, int) for o in offsets)
    ):
        raise InvalidParameter("offsets must be a list of block indexes.", target="offsets")
    compute = request.world.backend("compute")
    from emulator.compute.models import Disk

    disk = compute.find(resource_id)
    if not isinstance(disk, Disk):
        raise NotFound(f"Disk {resource_id} is not found.")
    try:
        compute[disk.subscription].write_disk(disk, blocks, offsets)
    except ValueError as err:
        raise InvalidParameter(str(err), target="offsets") from err
    return {"id": disk.id, "digest": content.digest(disk.content), "blocks": len(disk.content)}


def read_content(request: ControlRequest) -> Any:
    resource_id = request.query.get("id")
    if not resource_id:
        raise InvalidParameter("The id query parameter is required.", target="id")
    blocks = _content(request.world, resource_id)
    if blocks is None:
        raise NotFound(f"No disk, snapshot or restore point {resource_id}.")
    body: dict[str, Any] = {"id": resource_id, "digest": content.digest(blocks)}
    body["blocks"] = len(blocks)
    for backend in request.world.backends.values():
        details = getattr(backend, "content_details", None)
        if details is not None:
            body.update(details(resource_id))
    return body


def clock(request: ControlRequest) -> Any:
    world = request.world
    now = world.now()
    return {
        "now": iso(now),
        "nowUnix": now,
        "scale": world.clock.scale,
        "anchor": world.clock.anchor,
    }


_CONFIG_FIELDS = {
    "pageSize",
    "throttle",
    "lroSeconds",
    "limits",
    "copy",
    "backgroundCopy",
    "buckets",
    "armRegion",
    "lroHints",
    "resourceLimits",
}
_LIMIT_FIELDS = {
    "incrementalSnapshotsPerDisk": "incremental_snapshots_per_disk",
    "snapshotsPerDiskPerWindow": "snapshots_per_disk_per_window",
    "pendingSnapshotsPerDisk": "pending_snapshots_per_disk",
    "snapshotWindowSeconds": "snapshot_window_seconds",
    "copiesInFlightPerRegion": "copies_in_flight_per_region",
    "restorePointsPerVmPerHour": "restore_points_per_vm_per_hour",
    "restorePointCopiesPerCollectionPerHour": "restore_point_copies_per_collection_per_hour",
    "restorePointsPerVm": "restore_points_per_vm",
    "crashConsistentSpacingSeconds": "crash_consistent_spacing_seconds",
    "appConsistentSpacingSeconds": "app_consistent_spacing_seconds",
    "runCommandTimeoutSeconds": "run_command_timeout_seconds",
}


def config_json(world: World) -> dict[str, Any]:
    c = world.config
    return {
        "pageSize": c.page_size,
        "throttle": c.throttle,
        "lroSeconds": dict(c.lro_seconds),
        "limits": {name: getattr(c.limits, attr) for name, attr in _LIMIT_FIELDS.items()},
        "copy": {"baseSeconds": c.copy.base_seconds, "bytesPerSecond": c.copy.bytes_per_second},
        "backgroundCopy": {
            "baseSeconds": c.background_copy.base_seconds,
            "bytesPerSecond": c.background_copy.bytes_per_second,
        },
        "buckets": {k: {"burst": b.burst, "rate": b.rate} for k, b in c.buckets.items()},
        "armRegion": c.arm_region,
        "lroHints": c.lro_hints,
        "resourceLimits": {
            name: list(c.resource_limits.get(name) or limits)
            for name, limits in default_resource_limits().items()
        },
    }


def _number(value: Any, where: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidParameter(f"{where} must be a non-negative number.", target=where)
    if positive and value == 0:
        raise InvalidParameter(f"{where} must be > 0.", target=where)
    return float(value)


def _transfer(value: Any, where: str) -> Transfer:
    if not isinstance(value, dict):
        raise InvalidParameter(f"{where} must be an object.", target=where)
    check_fields(value, {"baseSeconds", "bytesPerSecond"}, where)
    return Transfer(
        _number(value.get("baseSeconds", 0), f"{where}.baseSeconds"),
        _number(value.get("bytesPerSecond", 1), f"{where}.bytesPerSecond", positive=True),
    )


def set_config(request: ControlRequest) -> Any:
    """Change run-time settings (partial update; ``reset`` restores the startup values)."""
    body = request.json(_CONFIG_FIELDS)
    c = request.world.config
    # Validate everything into locals first, so a bad field changes nothing.
    updates: list[Callable[[], None]] = []
    if "pageSize" in body:
        size = body["pageSize"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidParameter("pageSize must be a positive integer.", target="pageSize")
        updates.append(lambda: setattr(c, "page_size", size))
    if "throttle" in body:
        if not isinstance(body["throttle"], bool):
            raise InvalidParameter("throttle must be true or false.", target="throttle")
        updates.append(lambda: setattr(c, "throttle", body["throttle"]))
    if "lroSeconds" in body:
        lro = body["lroSeconds"]
        if not isinstance(lro, dict):
            raise InvalidParameter("lroSeconds must map operationIds to seconds.")
        seconds = {k: _number(v, f"lroSeconds.{k}") for k, v in lro.items()}
        updates.append(lambda: c.lro_seconds.update(seconds))
    if "limits" in body:
        limits = body["limits"]
        if not isinstance(limits, dict):
            raise InvalidParameter("limits must be an object.", target="limits")
        check_fields(limits, set(_LIMIT_FIELDS), "limits")
        values = {
            _LIMIT_FIELDS[k]: _number(v, f"limits.{k}", positive=True) for k, v in limits.items()
        }

        def apply_limits() -> None:
            for attr, value in values.items():
                setattr(c.limits, attr, value if attr.endswith("_seconds") else int(value))

        updates.append(apply_limits)
    if "copy" in body:
        copy = _transfer(body["copy"], "copy")
        updates.append(lambda: setattr(c, "copy", copy))
    if "backgroundCopy" in body:
        background = _transfer(body["backgroundCopy"], "backgroundCopy")
        updates.append(lambda: setattr(c, "background_copy", background))
    if "buckets" in body:
        buckets = body["buckets"]
        if not isinstance(buckets, dict):
            raise InvalidParameter("buckets must be an object.", target="buckets")
        check_fields(buckets, {"reads", "writes", "deletes"}, "buckets")
        new = {}
        for kind, spec in buckets.items():
            if not isinstance(spec, dict):
                raise InvalidParameter(f"buckets.{kind} must be an object.")
            check_fields(spec, {"burst", "rate"}, f"buckets.{kind}")
            old = c.buckets[kind]
            new[kind] = Bucket(
                _number(spec.get("burst", old.burst), f"buckets.{kind}.burst", positive=True),
                _number(spec.get("rate", old.rate), f"buckets.{kind}.rate", positive=True),
            )
        updates.append(lambda: c.buckets.update(new))
    if "armRegion" in body:
        region = body["armRegion"]
        if not isinstance(region, str) or not region:
            raise InvalidParameter("armRegion must be a region name.", target="armRegion")
        updates.append(lambda: setattr(c, "arm_region", region))
    if "resourceLimits" in body:
        spec = body["resourceLimits"]
        known = default_resource_limits()
        if not isinstance(spec, dict):
            raise InvalidParameter("resourceLimits must be an object.", target="resourceLimits")
        check_fields(spec, set(known), "resourceLimits")
        limits: dict[str, tuple[int, int]] = {}
        for name, pair in spec.items():
            where = f"resourceLimits.{name}"
            if not isinstance(pair, list) or len(pair) != 2:
                raise InvalidParameter(f"{where} must be [3-minute, 30-minute].", target=where)
            limits[name] = (
                int(_number(pair[0], where, positive=True)),
                int(_number(pair[1], where, positive=True)),
            )
        updates.append(lambda: c.resource_limits.update(limits))
    if "lroHints" in body:
        if not isinstance(body["lroHints"], bool):
            raise InvalidParameter("lroHints must be true or false.", target="lroHints")
        updates.append(lambda: setattr(c, "lro_hints", body["lroHints"]))
    for update in updates:
        update()
    return config_json(request.world)


def get_config(request: ControlRequest) -> Any:
    return config_json(request.world)


register("POST", "reset", reset)
register("POST", "estate", seed_estate)
register("POST", "faults", set_faults)
register("GET", "faults", get_faults)
register("DELETE", "faults", clear_faults)
register("GET", "stats", stats)
register("POST", "write", write)
register("GET", "content", read_content)
register("GET", "clock", clock)
register("GET", "config", get_config)
register("POST", "config", set_config)
