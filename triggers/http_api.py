"""The HTTP API (auth level ``function``): on-demand backups, their status, recovery
points and compliance. Triggers validate and delegate; errors are JSON with a 4xx status
(``diskdr.api``); Azure calls run in a worker thread, never on the event loop.
"""

import asyncio
import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import azure.durable_functions as df
import azure.functions as func

from diskdr import telemetry
from diskdr.api import (
    ApiError,
    BackupRequest,
    check_instance_id,
    check_resource_id,
    check_subscription,
    parse_backup_request,
)
from diskdr.backup import CycleJob, PolicyRef, RunOptions
from diskdr.clock import utc_now
from diskdr.compliance import STATUS_ORDER, effective_rpo, evaluate_vm, find_unprotected
from diskdr.errors import AzureError, ConfigError, PolicyError, ResourceNotFoundError
from diskdr.inventory import VmInfo
from diskdr.naming import format_slot
from diskdr.openapi import ROUTE_PREFIX, openapi_document
from diskdr.policy import Policy
from diskdr.restore_points import uses_restore_points
from diskdr.service import Service, get_service

bp = df.Blueprint()
log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 10


def _json_default(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def json_response(body: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=_json_default), status_code=status, mimetype="application/json"
    )


def status_url(req: func.HttpRequest, route: str) -> str:
    """diskdr's own URL of ``/api/{route}`` on the host the request came to, with no key.

    The Durable client's ``create_check_status_response`` hands out the extension's webhook
    URLs, which carry the host's system key (management of every instance): those never
    leave the app. The caller reads the status with the function key it already has.
    """
    parts = urlsplit(req.url)
    path = quote(route, safe="/:@")  # ':' is fine in a path (slots have one)
    return f"{parts.scheme}://{parts.netloc}/{ROUTE_PREFIX}/{path}"


def accepted_response(req: func.HttpRequest, route: str, body: dict[str, Any]) -> func.HttpResponse:
    """202 for a long-running request: ``body`` plus ``statusUrl``, and the same URL in
    ``Location`` (with ``Retry-After``, as Azure's own 202s carry)."""
    url = status_url(req, route)
    return func.HttpResponse(
        json.dumps({**body, "statusUrl": url}, default=_json_default),
        status_code=202,
        mimetype="application/json",
        headers={"Location": url, "Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def error_response(error: Exception) -> func.HttpResponse:
    """The JSON answer for a refused or failed request."""
    if isinstance(error, ApiError):
        return json_response(error.body(), error.status)
    if isinstance(error, AzureError):
        body = {"error": {"code": error.code or "AzureError", "message": str(error)}}
        if error.request_id:
            body["error"]["requestId"] = error.request_id
        return json_response(body, 502)
    if isinstance(error, ConfigError | PolicyError):
        log.error("diskdr is misconfigured: %s", error)
        return json_response({"error": {"code": "ConfigurationError", "message": str(error)}}, 500)
    log.exception("request failed")
    return json_response(
        {"error": {"code": "InternalError", "message": f"{type(error).__name__}: {error}"}}, 500
    )


# --- POST /api/backups -------------------------------------------------------------------
@bp.route(route="backups", methods=["POST"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.start_backup")
async def start_backup(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Back up VMs (or disks) now: ``{"vmIds": [...]}`` or ``{"diskIds": [...]}``."""
    try:
        service = get_service()
        policies = await asyncio.to_thread(service.policies)
        request = parse_backup_request(
            req.get_body(),
            service.settings.subscription_ids,
            [policy.name for policy in policies.policies],
        )
        policy, vms = await asyncio.to_thread(resolve_targets, service, request)
        slot = utc_now().replace(second=0, microsecond=0, tzinfo=UTC)
        job = CycleJob(
            policy=PolicyRef.from_policy(policy),
            slot=slot,
            install_id=service.install_id,
            trigger="on-demand",
            options=RunOptions.from_settings(service.settings, prune=False),
            vms=tuple(vms),
        )
        instance_id = on_demand_instance_id(policy.name, slot, vms)
        telemetry.annotate_current(
            run_id=instance_id,
            policy=policy.name,
            slot=format_slot(slot),
            vm=",".join(vm.id for vm in vms),
        )
        status = await client.get_status(instance_id)
        if status is None or status.runtime_status is None:
            await client.start_new("backup_cycle", instance_id, job.to_dict())
    except Exception as error:
        return error_response(error)
    return accepted_response(
        req,
        f"backups/{instance_id}",
        {
            "id": instance_id,
            "policy": policy.name,
            "slot": format_slot(slot),
            "vms": [{"id": vm.id, "disks": [disk.id for disk in vm.disks]} for vm in vms],
        },
    )


def on_demand_instance_id(policy: str, slot: datetime, vms: list[VmInfo]) -> str:
    """Deterministic per (policy, minute, targets): a retried request joins the same run."""
    targets = ",".join(sorted(disk.id.lower() for vm in vms for disk in vm.disks))
    digest = hashlib.sha256(targets.encode()).hexdigest()[:10]
    return f"ondemand-{policy}-{format_slot(slot)}-{digest}"


def resolve_targets(service: Service, request: BackupRequest) -> tuple[Policy, list[VmInfo]]:
    """The policy and the VMs (with the disks to protect) an on-demand request names.

    VM ids: the VM's disks minus the policy's exclusions. Disk ids: exactly those disks,
    grouped by the VM they are attached to (an unattached disk forms a group of its own).
    404 for anything that does not exist; 422 when no single policy applies.
    """
    vms: list[VmInfo] = []
    if request.kind == "vmIds":
        for index, vm_id in enumerate(request.ids):
            vm = _existing(lambda vm_id=vm_id: service.port.get_vm(vm_id), f"vmIds[{index}]", vm_id)
            vms.append(vm)
    else:
        by_vm: dict[str, list] = {}
        for index, disk_id in enumerate(request.ids):
            disk, managed_by = _existing(
                lambda disk_id=disk_id: service.port.get_disk(disk_id), f"diskIds[{index}]", disk_id
            )
            by_vm.setdefault((managed_by or disk.id).lower(), []).append((disk, managed_by))
        for members in by_vm.values():
            managed_by = members[0][1]
            if managed_by:
                vm = _existing(
                    lambda managed_by=managed_by: service.port.get_vm(managed_by),
                    "diskIds",
                    managed_by,
                )
                wanted = {disk.id.lower() for disk, _ in members}
                disks = tuple(d for d in vm.disks if d.id.lower() in wanted)
                vms.append(VmInfo(vm.id, vm.name, vm.location, vm.tags, disks))
            else:
                disk = members[0][0]
                vms.append(VmInfo(disk.id, disk.name, disk.location, disk.tags, (disk,)))
    policy = _policy_for(service, request, vms)
    unsupported = PolicyRef.from_policy(policy).unsupported
    if unsupported:
        raise ApiError(422, "UnsupportedConsistency", unsupported, "policy")
    if uses_restore_points(PolicyRef.from_policy(policy)):
        # A VM restore point is taken of a VM: a disk attached to none has no such point.
        loose = [vm.id for vm in vms if "/virtualmachines/" not in vm.id.lower()]
        if loose:
            raise ApiError(
                422,
                "NotAttachedToVm",
                f"{loose[0]} is not attached to a VM, and policy {policy.name} takes VM "
                f"restore points ({policy.consistency}); name a policy with consistency disk",
                "diskIds",
            )
    if request.kind == "vmIds":
        vms = [service.protected_vm(vm, policy) for vm in vms]
    empty = [vm.id for vm in vms if not vm.disks]
    if empty:
        raise ApiError(
            422, "NothingToProtect", f"{empty[0]}: every disk is excluded by policy {policy.name}"
        )
    return policy, vms


def _existing(fetch: Any, target: str, resource_id: str) -> Any:
    try:
        return fetch()
    except ResourceNotFoundError:
        raise ApiError(
            404, "ResourceNotFound", f"{target}: {resource_id} does not exist", target
        ) from None


def _policy_for(service: Service, request: BackupRequest, vms: list[VmInfo]) -> Policy:
    if request.policy is not None:
        return service.policies().get(request.policy)
    matched = {}
    for vm in vms:
        policy = service.policy_for_vm(vm)
        if policy is None:
            raise ApiError(
                422,
                "NoPolicyMatches",
                f'{vm.id} is not selected by any policy; name one with "policy"',
                "policy",
            )
        matched[policy.name] = policy
    if len(matched) > 1:
        raise ApiError(
            422,
            "AmbiguousPolicy",
            f"the resources match different policies ({', '.join(sorted(matched))}); "
            'name one with "policy" or send one request per policy',
            "policy",
        )
    return next(iter(matched.values()))


# --- GET /api/backups/{instanceId} --------------------------------------------------------
@bp.route(route="backups/{instanceId}", methods=["GET"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.get_backup")
async def get_backup(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Status of a backup run: progress while it runs, the run report when done."""
    instance_id = req.route_params.get("instanceId", "")
    telemetry.annotate_current(run_id=instance_id)
    try:
        check_instance_id(instance_id)
        status = await client.get_status(instance_id)
    except Exception as error:
        return error_response(error)
    if status is None or status.runtime_status is None:
        return error_response(
            ApiError(
                404, "InstanceNotFound", f"no backup run with id {instance_id!r}", "instanceId"
            )
        )
    return json_response(
        {
            "instanceId": status.instance_id,
            "name": status.name,
            "runtimeStatus": status.runtime_status.value,
            "createdTime": status.created_time,
            "lastUpdatedTime": status.last_updated_time,
            "customStatus": status.custom_status,
            "output": status.output,
        }
    )


# --- GET /api/recovery-points?vmId=... ------------------------------------------------------
@bp.route(route="recovery-points", methods=["GET"])
@telemetry.traced("http.recovery_points")
async def recovery_points(req: func.HttpRequest) -> func.HttpResponse:
    """A VM's recovery points in every region, with each consistency group's state."""
    try:
        vm_id = req.params.get("vmId")
        if not vm_id:
            raise ApiError(400, "InvalidRequest", "vmId: required query parameter", "vmId")
        vm_id = check_resource_id(vm_id, "vmIds", "vmId")
        service = get_service()
        check_subscription(vm_id, service.settings.subscription_ids, "vmId")
        points = await asyncio.to_thread(service.points_of_vm, vm_id)
    except Exception as error:
        return error_response(error)
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for point in points:
        key = (point.group, point.region, point.role)
        entry = groups.setdefault(
            key,
            {
                "group": point.group,
                "slot": format_slot(point.slot),
                "region": point.region,
                "role": point.role,
                "points": 0,
                "usable": 0,
                "states": {},
            },
        )
        entry["points"] += 1
        entry["usable"] += point.state == "usable"
        entry["states"][point.state] = entry["states"].get(point.state, 0) + 1
    return json_response(
        {
            "vmId": vm_id,
            "points": [point.to_dict() for point in points],
            "groups": sorted(groups.values(), key=lambda g: (g["slot"], g["role"], g["region"])),
        }
    )


# --- GET /api/compliance ----------------------------------------------------------------------
@bp.route(route="compliance", methods=["GET"])
@telemetry.traced("http.compliance")
async def compliance(req: func.HttpRequest) -> func.HttpResponse:
    """Per protected VM: newest usable point per region, its age against the RPO, a status."""
    try:
        wanted = req.params.get("status")
        if wanted and wanted not in STATUS_ORDER:
            raise ApiError(
                400,
                "InvalidRequest",
                f"status: expected one of {', '.join(STATUS_ORDER)}",
                "status",
            )
        report = await asyncio.to_thread(compliance_report, get_service())
    except Exception as error:
        return error_response(error)
    telemetry.record_compliance(report["vms"])  # the RPO gauge observes the newest report
    if wanted:
        report["vms"] = [vm for vm in report["vms"] if vm["status"] == wanted]
    return json_response(report)


def compliance_report(service: Service) -> dict[str, Any]:
    now = utc_now()
    points = service.all_points()
    listed = service.all_vms()
    seen: set[str] = set()
    results = []
    for policy in service.policies().policies:
        rpo = effective_rpo(policy, now)
        for vm in service.vms_for_policy(policy, listed):
            if vm.id.lower() in seen:  # a VM belongs to the first policy that selects it
                continue
            seen.add(vm.id.lower())
            results.append(evaluate_vm(vm, policy, points, now, rpo))
    summary = {status: sum(r.status == status for r in results) for status in STATUS_ORDER}
    gaps = find_unprotected(listed, service.policy_for_vm, service.protected_vm, points)
    return {
        "generatedAt": now.isoformat(),
        "summary": summary,
        "vms": [r.to_dict() for r in sorted(results, key=lambda r: r.vm_id.lower())],
        "unprotected": [gap.to_dict() for gap in gaps],
    }


# --- GET /api/openapi.json ----------------------------------------------------------------------
@bp.route(route="openapi.json", methods=["GET"])
@telemetry.traced("http.openapi")
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI 3 document of this API (``diskdr.openapi``), with this host as server."""
    parts = urlsplit(req.url)
    return json_response(openapi_document(f"{parts.scheme}://{parts.netloc}"))
