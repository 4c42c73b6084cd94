"""Management lock requests: parse, call the backend, serialize."""

from __future__ import annotations

from emulator.locks.models import LocksBackend
from emulator.routing import ArmRequest, ArmResponse, paged


def _backend(request: ArmRequest) -> LocksBackend:
    return request.world.backend("locks")


def get_lock(request: ArmRequest) -> ArmResponse:
    p = request.params
    return ArmResponse(200, _backend(request).get(p["scope"], p["lock"]).to_json())


def put_lock(request: ArmRequest) -> ArmResponse:
    p = request.params
    lock, created = _backend(request).create_or_update(p["scope"], p["lock"], request.json())
    return ArmResponse(201 if created else 200, lock.to_json())


def delete_lock(request: ArmRequest) -> ArmResponse:
    p = request.params
    deleted = _backend(request).delete(p["scope"], p["lock"])
    return ArmResponse(200 if deleted else 204)


def list_locks(request: ArmRequest) -> ArmResponse:
    at_scope = request.query.get("$filter", "").replace(" ", "").lower() == "atscope()"
    locks = _backend(request).list(request.params["scope"], at_scope=at_scope)
    extra = {"$filter": request.query["$filter"]} if "$filter" in request.query else None
    return paged(
        request,
        locks,
        key=lambda lock: lock.id.lower(),
        serialize=lambda lock: lock.to_json(),
        extra_query=extra,
    )
