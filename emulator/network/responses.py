"""Microsoft.Network requests: parse, call the backend, serialize (see ``models.py``).

Status codes as the 2024-05-01 spec gives them: PUT 201 when created and 200 when updated,
with ``Azure-AsyncOperation`` (NICs); GET 200; DELETE 200, or 204 when there was nothing.
"""

from __future__ import annotations

from emulator.lro import lro_headers
from emulator.network.models import NetworkBackend
from emulator.routing import ArmRequest, ArmResponse, paged


def _backend(request: ArmRequest) -> NetworkBackend:
    return request.world.backend("network")


def put_vnet(request: ArmRequest) -> ArmResponse:
    p = request.params
    vnet, created = _backend(request).put_vnet(
        p["subscription"], p["group"], p["vnet"], request.json()
    )
    return ArmResponse(201 if created else 200, vnet.to_json())


def get_vnet(request: ArmRequest) -> ArmResponse:
    p = request.params
    return ArmResponse(
        200, _backend(request).get_vnet(p["subscription"], p["group"], p["vnet"]).to_json()
    )


def delete_vnet(request: ArmRequest) -> ArmResponse:
    p = request.params
    deleted = _backend(request).delete_vnet(p["subscription"], p["group"], p["vnet"])
    return ArmResponse(200 if deleted else 204)


def get_subnet(request: ArmRequest) -> ArmResponse:
    p = request.params
    subnet = _backend(request).get_subnet(p["subscription"], p["group"], p["vnet"], p["subnet"])
    return ArmResponse(200, subnet.to_json())


def put_nic(request: ArmRequest) -> ArmResponse:
    p = request.params
    backend = _backend(request)
    nic, op, created = backend.put_nic(p["subscription"], p["group"], p["nic"], request.json())
    headers = lro_headers(request, op, location=False)
    return ArmResponse(201 if created else 200, nic.to_json(backend.attached_vm(nic)), headers)


def get_nic(request: ArmRequest) -> ArmResponse:
    p = request.params
    backend = _backend(request)
    nic = backend.get_nic(p["subscription"], p["group"], p["nic"])
    return ArmResponse(200, nic.to_json(backend.attached_vm(nic)))


def list_nics(request: ArmRequest) -> ArmResponse:
    p = request.params
    backend = _backend(request)
    return paged(
        request,
        backend.list_nics(p["subscription"], p["group"]),
        key=lambda nic: nic.name.lower(),
        serialize=lambda nic: nic.to_json(backend.attached_vm(nic)),
    )


def delete_nic(request: ArmRequest) -> ArmResponse:
    p = request.params
    deleted = _backend(request).delete_nic(p["subscription"], p["group"], p["nic"])
    return ArmResponse(200 if deleted else 204)
