"""The HTTP API (auth level ``function``): on-demand backups, their status, recovery
points and compliance. Triggers validate and delegate; errors are JSON with a 4xx status
(``diskdr.api``); Azure calls run in a worker thread, never on the event loop.
"""

import asyncio
import hashlib
import json
import logging
from dataclasses import replace
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
    parse_drill_request,
    parse_failover_request,
    parse_restore_request,
)
from diskdr.backup import CycleJob, PolicyRef, RunOptions
from diskdr.clock import utc_now
from diskdr.compliance import (
    STATUS_ORDER,
    VmCompliance,
    drill_status,
    effective_rpo,
    evaluate_vm,
    failed_drills,
    find_unprotected,
    last_drills,
)
from diskdr.errors import AzureError, ConfigError, PolicyError, ResourceNotFoundError
from diskdr.inventory import VmInfo
from diskdr.naming import format_slot
from diskdr.openapi import ROUTE_PREFIX, openapi_document
from diskdr.policy import AZURE_REGIONS, Policy
from diskdr.restore import run_id, waves
from diskdr.restore_points import uses_restore_points
from diskdr.restore_steps import get_restore_steps
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
#: The orchestrations whose instances are backup runs: a cycle (scheduled or on demand) and
#: a debounced run after a VM change. Another kind's id (a restore, a drill) is a 404 here.
BACKUP_RUNS = ("backup_cycle", "after_vm_change")


@bp.route(route="backups/{instanceId}", methods=["GET"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.get_backup")
async def get_backup(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Status of a backup run: progress while it runs, the run report when done."""
    instance_id = req.route_params.get("instanceId", "")
    telemetry.annotate_current(run_id=instance_id)
    return await _instance(client, instance_id, BACKUP_RUNS, "backup run")


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
            "points": [{**point.to_dict(), "slot": format_slot(point.slot)} for point in points],
            "groups": sorted(groups.values(), key=lambda g: (g["slot"], g["role"], g["region"])),
        }
    )


# --- GET /api/compliance ----------------------------------------------------------------------
@bp.route(route="compliance", methods=["GET"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.compliance")
async def compliance(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
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
        drills = await drill_reports(client)
        report = await asyncio.to_thread(compliance_report, get_service(), drills)
    except Exception as error:
        return error_response(error)
    telemetry.record_compliance(report["vms"])  # the RPO gauge observes the newest report
    if wanted:
        report["vms"] = [vm for vm in report["vms"] if vm["status"] == wanted]
    return json_response(report)


def compliance_report(
    service: Service, drills: list[tuple[str, dict]] | None = None
) -> dict[str, Any]:
    """Per VM: its points' age against the RPO, and its last DR drill (``drills``: the
    finished drill reports, for policies with a ``drill`` block)."""
    now = utc_now()
    last = last_drills(drills or [])
    points = service.all_points()
    listed = service.all_vms()
    seen: set[str] = set()
    results = []
    for policy in service.policies().policies:
        rpo = effective_rpo(policy, now)
        selected = service.vms_for_policy(policy, listed)
        for vm in selected:
            if vm.id.lower() in seen:  # a VM belongs to the first policy that selects it
                continue
            seen.add(vm.id.lower())
            result = evaluate_vm(vm, policy, points, now, rpo)
            drill = drill_status(policy, len(selected), last.get(vm.id.lower()), now)
            results.append(replace(result, drill=drill))
    summary = {status: sum(r.status == status for r in results) for status in STATUS_ORDER}
    gaps = find_unprotected(
        listed, service.policy_for_vm, service.protected_vm, points, failed_drills(last)
    )
    return {
        "generatedAt": now.isoformat(),
        "summary": summary,
        "vms": [_shown(r) for r in sorted(results, key=lambda r: r.vm_id.lower())],
        "unprotected": [gap.to_dict() for gap in gaps],
    }


def _shown(result: VmCompliance) -> dict[str, Any]:
    """A VM's compliance as JSON, each region's slot as DESIGN writes slots
    (``2026-11-25T04:00Z``, :func:`format_slot`), like every other answer."""
    body = result.to_dict()
    for region, shown in zip(result.regions, body["regions"], strict=True):
        if region.slot is not None:
            shown["slot"] = format_slot(region.slot)
    return body


# --- recovery: restores, drills, failovers ---------------------------------------------------
async def _start_once(
    client: df.DurableOrchestrationClient, name: str, instance_id: str, payload: Any
) -> None:
    """Start ``name`` as ``instance_id`` unless it exists (a retried request joins it)."""
    status = await client.get_status(instance_id)
    if status is None or status.runtime_status is None:
        await client.start_new(name, instance_id, payload)


async def _instance(
    client: df.DurableOrchestrationClient, instance_id: str, names: str | tuple[str, ...], what: str
) -> func.HttpResponse:
    """The status of ``instance_id`` if it is an instance of (one of) ``names``, else 404:
    one status route never answers for another kind's run."""
    try:
        check_instance_id(instance_id)
        status = await client.get_status(instance_id)
    except Exception as error:
        return error_response(error)
    kinds = (names,) if isinstance(names, str) else names
    if status is None or status.runtime_status is None or status.name not in kinds:
        return error_response(
            ApiError(404, "InstanceNotFound", f"no {what} with id {instance_id!r}", "instanceId")
        )
    return json_response(_status_body(status))


def _status_body(status: Any) -> dict[str, Any]:
    return {
        "id": status.instance_id,
        "instanceId": status.instance_id,
        "name": status.name,
        "runtimeStatus": status.runtime_status.value,
        "createdTime": status.created_time,
        "lastUpdatedTime": status.last_updated_time,
        "customStatus": status.custom_status,
        "output": status.output,
    }


@bp.route(route="restores", methods=["POST"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.start_restore")
async def start_restore(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Restore a VM's group (disks, or a new VM) from the primary or secondary region."""
    try:
        steps = get_restore_steps()
        request = parse_restore_request(
            req.get_body(), steps.service.settings.subscription_ids, AZURE_REGIONS
        )
        plan = await asyncio.to_thread(steps.plan_request, request, utc_now())
        await _start_once(client, "restore", plan.run_id, plan.to_dict())
    except Exception as error:
        return error_response(error)
    return accepted_response(
        req,
        f"restores/{plan.run_id}",
        {"id": plan.run_id, "policy": plan.policy, **plan.summary()},
    )


@bp.route(route="restores/{instanceId}", methods=["GET"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.get_restore")
async def get_restore(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """A restore's status; its output (restored ids, per-disk errors, RTO) when done."""
    return await _instance(client, req.route_params.get("instanceId", ""), "restore", "restore")


@bp.route(route="drills", methods=["POST"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.start_drill_now")
async def start_drill_now(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Run a policy's DR drill now (``vms``: how many VMs, default the policy's sample)."""
    try:
        service = get_service()
        policies = await asyncio.to_thread(service.policies)
        name, count = parse_drill_request(req.get_body(), [p.name for p in policies.policies])
        policy = policies.get(name)
        now = utc_now()
        instance_id = f"drill-{policy.name}-{now:%Y%m%dt%H%M%S}"
        job = await start_drill(client, policy, count, instance_id, now, "on-demand")
    except Exception as error:
        return error_response(error)
    return accepted_response(
        req,
        f"drills/{instance_id}",
        {"id": instance_id, "policy": policy.name, "vms": [p["vmId"] for p in job["plans"]]},
    )


async def start_drill(
    client: df.DurableOrchestrationClient,
    policy: Policy,
    count: int | None,
    instance_id: str,
    now: datetime,
    trigger: str,
) -> dict[str, Any]:
    """Plan a drill of ``policy`` (the least recently drilled VMs first) and start it."""
    if policy.drill is None or policy.replicate is None:
        raise ApiError(
            422, "NoDrill", f"policy {policy.name} has no drill block (docs/policy.md)", "policy"
        )
    history = await drill_reports(client)
    last = {vm: record.drilled_at for vm, record in last_drills(history).items()}
    plans, refused, networks = await asyncio.to_thread(
        get_restore_steps().plan_drill,
        policy,
        count or policy.drill.sample,
        last,
        instance_id,
        now,
    )
    job = {
        "policy": policy.name,
        "region": policy.replicate.region,
        "resourceGroup": policy.drill.resource_group,
        "trigger": trigger,
        "requestedAt": now.isoformat(),
        "plans": [plan.to_dict() for plan in plans],
        "networks": [network.to_dict() for network in networks],
        "refused": [
            {**r, "contentCheck": "skipped", "cleanedUp": True, "restoredDiskIds": []}
            for r in refused
        ],
    }
    await _start_once(client, "drill", instance_id, job)
    return job


async def drill_reports(client: df.DurableOrchestrationClient) -> list[tuple[str, dict]]:
    """(id, output) of every finished drill, newest first."""
    statuses = await client.get_status_all()
    drills = [
        s for s in statuses
        if s.name == "drill" and ":" not in s.instance_id and isinstance(s.output, dict)
    ]  # fmt: skip
    drills.sort(key=lambda s: s.created_time or datetime.min.replace(tzinfo=UTC), reverse=True)
    return [(s.instance_id, s.output) for s in drills]


@bp.route(route="drills", methods=["GET"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.list_drills")
async def list_drills(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Every drill (newest first) with its report when finished."""
    try:
        statuses = await client.get_status_all()
    except Exception as error:
        return error_response(error)
    drills = [s for s in statuses if s.name == "drill" and ":" not in s.instance_id]
    drills.sort(key=lambda s: s.instance_id, reverse=True)
    return json_response({"drills": [_status_body(s) for s in drills]})


@bp.route(route="drills/{instanceId}", methods=["GET"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.get_drill")
async def get_drill(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """One drill: per VM the point, restored ids, content check, RTO and cleanup."""
    return await _instance(client, req.route_params.get("instanceId", ""), "drill", "drill")


@bp.route(route="failover", methods=["POST"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.start_failover")
async def start_failover(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Restore every VM of a policy in the secondary region, in recovery order; a dry run
    (the default) answers 200 with the plan and creates nothing."""
    try:
        steps = get_restore_steps()
        service = steps.service
        policies = await asyncio.to_thread(service.policies)
        request = parse_failover_request(
            req.get_body(),
            service.settings.subscription_ids,
            [p.name for p in policies.policies],
            AZURE_REGIONS,
        )
        policy = policies.get(request.policy)
        now = utc_now()
        instance_id = run_id(
            "failover",
            policy.name,
            request.region or "",
            request.resource_group,
            request.subnet_id or "",
            f"{now:%Y%m%dT%H%M}",
        )
        plans, refused = await asyncio.to_thread(
            steps.plan_policy,
            policy,
            run=instance_id,
            resource_group=request.resource_group,
            mode="vm" if request.subnet_id else "disks",
            now=now,
            region=request.region,
            subnet_id=request.subnet_id,
            keep_names=True,
        )
        assert policy.replicate is not None  # plan_policy refuses a policy without it
        region = request.region or policy.replicate.region
        if request.dry_run:
            ordered = [plan.summary() for wave in waves(plans) for plan in wave]
            return json_response(
                {
                    "dryRun": True,
                    "policy": policy.name,
                    "region": region,
                    "resourceGroup": request.resource_group,
                    "vms": ordered,
                    "refused": refused,
                }
            )
        if not plans:
            raise ApiError(
                422,
                "NothingToRestore",
                f"no VM of policy {policy.name} can be restored in {region}: "
                + "; ".join(f"{r['vmId']}: {r['error']['message']}" for r in refused[:3]),
                "policy",
            )
        job = {
            "policy": policy.name,
            "region": region,
            "resourceGroup": request.resource_group,
            "requestedAt": now.isoformat(),
            "plans": [plan.to_dict() for plan in plans],
            "refused": refused,
        }
        await _start_once(client, "failover", instance_id, job)
    except Exception as error:
        return error_response(error)
    return accepted_response(
        req,
        f"failover/{instance_id}",
        {
            "id": instance_id,
            "policy": policy.name,
            "dryRun": False,
            "vms": [p.vm_id for p in plans],
            "refused": refused,
        },
    )


@bp.route(route="failover/{instanceId}", methods=["GET"])
@bp.durable_client_input(client_name="client")
@telemetry.traced("http.get_failover")
async def get_failover(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """A failover: per VM the point used, its age (RPO achieved), restored ids and RTO."""
    return await _instance(client, req.route_params.get("instanceId", ""), "failover", "failover")


# --- GET /api/openapi.json ----------------------------------------------------------------------
@bp.route(route="openapi.json", methods=["GET"])
@telemetry.traced("http.openapi")
async def openapi(req: func.HttpRequest) -> func.HttpResponse:
    """The OpenAPI 3 document of this API (``diskdr.openapi``), with this host as server."""
    parts = urlsplit(req.url)
    return json_response(openapi_document(f"{parts.scheme}://{parts.netloc}"))
