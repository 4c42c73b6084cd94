"""Resource group requests: parse, call the backend, serialize."""

from __future__ import annotations

from emulator.lro import lro_headers
from emulator.resources.models import ResourceGroupsBackend
from emulator.routing import ArmRequest, ArmResponse, paged


def _backend(request: ArmRequest) -> ResourceGroupsBackend:
    return request.world.backend("resources")


def get(request: ArmRequest) -> ArmResponse:
    p = request.params
    return ArmResponse(200, _backend(request).get(p["subscription"], p["group"]).to_json())


def check_existence(request: ArmRequest) -> ArmResponse:
    p = request.params
    exists = _backend(request).exists(p["subscription"], p["group"])
    return ArmResponse(204 if exists else 404)


def create_or_update(request: ArmRequest) -> ArmResponse:
    p = request.params
    body = request.json()
    group, created = _backend(request).create_or_update(
        p["subscription"],
        p["group"],
        body.get("location", ""),
        body.get("tags"),
        body.get("managedBy"),
    )
    return ArmResponse(201 if created else 200, group.to_json())


def update(request: ArmRequest) -> ArmResponse:
    p = request.params
    body = request.json()
    group = _backend(request).update_tags(p["subscription"], p["group"], body.get("tags"))
    return ArmResponse(200, group.to_json())


def delete(request: ArmRequest) -> ArmResponse:
    p = request.params
    backend = _backend(request)
    if not backend.exists(p["subscription"], p["group"]):
        return ArmResponse(204)
    op = backend.begin_delete(p["subscription"], p["group"])
    if op.done:
        return ArmResponse(200)
    return ArmResponse(202, None, lro_headers(request, op, async_operation=False))


def list_groups(request: ArmRequest) -> ArmResponse:
    groups = _backend(request).list(request.params["subscription"])
    return paged(request, groups, key=lambda g: g.name.lower(), serialize=lambda g: g.to_json())
