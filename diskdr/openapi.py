"""The HTTP API's contract: one :class:`Operation` per route, and the OpenAPI 3 document
(``GET /api/openapi.json``) built from them.

Request bodies are built from the request checks of ``diskdr.api`` (field names, id
patterns, limits), so the document and the code cannot drift apart silently; a test
compares the operations with the routes the app registers. A new route adds one
``Operation`` to :data:`OPERATIONS` (and its schemas to :data:`SCHEMAS`).

Every operation documents 401 (answered by the Functions host, without a body, when the
function key is missing or wrong) and 500 (diskdr misconfigured); each 4xx/5xx that diskdr
answers has the error body ``{"error": {"code", "message", "target"?}}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from diskdr import __version__
from diskdr.api import BACKUP_FIELDS, INSTANCE_ID, KINDS, MAX_IDS
from diskdr.compliance import STATUS_ORDER

ROUTE_PREFIX = "api"  # host.json extensions.http.routePrefix (its default)
ERROR = "Error"


@dataclass(frozen=True)
class Parameter:
    """A query parameter."""

    name: str
    description: str
    required: bool = False
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Operation:
    """One route and method: what it takes and every status it answers.

    ``responses`` maps a status to ``(description, schema name or None)``; error statuses
    name :data:`ERROR`. ``route`` is as the function registers it (no ``api/`` prefix).
    """

    method: str
    route: str
    operation_id: str
    summary: str
    responses: Mapping[int, tuple[str, str | None]]
    body: str | None = None
    query: tuple[Parameter, ...] = ()
    headers: Mapping[int, Mapping[str, str]] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/{ROUTE_PREFIX}/{self.route}"

    def path_parameters(self) -> list[str]:
        return [part[1:-1] for part in self.route.split("/") if part.startswith("{")]


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _object(properties: Mapping[str, Any], required: Iterable[str] = (), **extra: Any) -> dict:
    return {"type": "object", "properties": dict(properties), "required": list(required), **extra}


def _ids(kind: str) -> dict[str, Any]:
    what, resource_type, pattern = KINDS[kind]
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_IDS,
        "description": f"{what} resource ids (…/providers/Microsoft.Compute/{resource_type}/…)",
        # Python's pattern matches case-insensitively; JSON Schema has no flag for it.
        "items": {"type": "string", "pattern": pattern.pattern},
    }


def _backup_request() -> dict[str, Any]:
    properties = {
        "vmIds": _ids("vmIds"),
        "diskIds": _ids("diskIds"),
        "policy": _string("the policy to apply (default: the one that selects the resources)"),
    }
    assert tuple(properties) == BACKUP_FIELDS, "BackupRequest and diskdr.api disagree"
    return {
        **_object(properties, additionalProperties=False),
        "oneOf": [{"required": ["vmIds"]}, {"required": ["diskIds"]}],
        "description": "exactly one of vmIds or diskIds, and optionally a policy",
    }


_ANY_OBJECT: dict[str, Any] = {"type": "object"}
# Path parameters by name (a route's {name}); any other is a non-empty string.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "instanceId": {"type": "string", "pattern": INSTANCE_ID.pattern, "maxLength": 100},
}
_ACCEPTED_HEADERS = {
    "Location": "diskdr's status URL of the new run (the same as statusUrl)",
    "Retry-After": "seconds to wait before reading the status",
}

# Component schemas, by name. Answers may carry more properties than listed.
SCHEMAS: dict[str, dict[str, Any]] = {
    ERROR: _object(
        {
            "error": _object(
                {
                    "code": _string("a stable error code", minLength=1),
                    "message": _string("what is wrong, for a person"),
                    "target": _string("the field or parameter at fault"),
                    "requestId": _string("Azure's x-ms-request-id, when Azure failed"),
                },
                ["code", "message"],
            )
        },
        ["error"],
    ),
    "BackupRequest": _backup_request(),
    "Accepted": _object(
        {
            "id": _string("the run's instance id"),
            "statusUrl": _string("GET it (with the function key) for the run's status"),
            "policy": _string("the policy applied"),
            "slot": _string("the run's slot (ISO UTC, minute precision)"),
            "vms": {
                "type": "array",
                "items": _object(
                    {"id": {"type": "string"}, "disks": {"type": "array", "items": {}}},
                    ["id", "disks"],
                ),
            },
        },
        ["id", "statusUrl"],
    ),
    "RunStatus": _object(
        {
            "id": {"type": "string", "description": "the run's id (= instanceId)"},
            "instanceId": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "runtimeStatus": _string(
                "Pending, Running, Completed, Failed, Terminated, ...", minLength=1
            ),
            "createdTime": {"type": ["string", "null"]},
            "lastUpdatedTime": {"type": ["string", "null"]},
            "customStatus": {"description": "progress while the run is going"},
            "output": {"description": "the run report once the run has ended"},
        },
        ["instanceId", "runtimeStatus"],
    ),
    "RecoveryPoints": _object(
        {
            "vmId": {"type": "string"},
            "points": {"type": "array", "items": _ANY_OBJECT},
            "groups": {"type": "array", "items": _ANY_OBJECT},
        },
        ["vmId", "points", "groups"],
    ),
    "Compliance": _object(
        {
            "generatedAt": {"type": "string"},
            "summary": _object({status: {"type": "integer"} for status in STATUS_ORDER}),
            "vms": {"type": "array", "items": _ANY_OBJECT},
            "unprotected": {
                "type": "array",
                "items": _ANY_OBJECT,
                "description": "VMs in scope no policy selects, excluded or failing disks",
            },
        },
        ["generatedAt", "summary", "vms"],
    ),
    "RestoreRequest": _object(
        {
            "vmId": {"type": "string", "pattern": KINDS["vmIds"][2].pattern},
            "slot": _string('"latest" (default) or an exact slot like 2026-11-25T04:00Z'),
            "region": _string("where to restore from and into (default: the VM's region)"),
            "resourceGroup": _string("an existing resource group to create the disks in"),
            "mode": {"type": "string", "enum": ["disks", "vm"]},
            "subnetId": _string(
                "the new VM's subnet (mode vm), in the restore's region; default: the source "
                "VM's own subnet when restoring in its region"
            ),
            "namePrefix": _string("prefix of every name the restore creates"),
            "vmSize": _string("the new VM's size (default: the source VM's)"),
        },
        ["vmId", "resourceGroup"],
        additionalProperties=False,
    ),
    "DrillRequest": _object(
        {
            "policy": _string("a policy with a drill block"),
            "vms": {"type": "integer", "minimum": 1},
        },
        ["policy"],
        additionalProperties=False,
    ),
    "FailoverRequest": _object(
        {
            "policy": _string("the policy whose VMs fail over"),
            "region": _string("default: the policy's replicate.region"),
            "resourceGroup": _string("an existing resource group in that region"),
            "subnetId": _string("restore as VMs with a NIC in this subnet (else disks only)"),
            "dryRun": {"type": "boolean", "description": "default true: only the plan"},
        },
        ["policy", "resourceGroup"],
        additionalProperties=False,
    ),
    "FailoverPlan": _object(
        {
            "dryRun": {"type": "boolean"},
            "policy": {"type": "string"},
            "region": {"type": "string"},
            "vms": {"type": "array", "items": _ANY_OBJECT},
            "refused": {"type": "array", "items": _ANY_OBJECT},
        },
        ["dryRun", "vms"],
    ),
    "Drills": _object({"drills": {"type": "array", "items": _ANY_OBJECT}}, ["drills"]),
    "OpenApi": _object({"openapi": {"type": "string"}}, ["openapi"]),
    "Health": _object(
        {
            "status": {"type": "string", "enum": ["healthy", "unhealthy"]},
            "problems": {
                "type": "array",
                "items": _object(
                    {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "target": {"type": "string"},
                    },
                    ["code", "message"],
                ),
            },
            "policies": {"type": "array", "items": {"type": "string"}},
        },
        ["status", "problems", "policies"],
    ),
}

_UNAUTHORIZED = ("the function key is missing or wrong (the host answers, without a body)", None)
_MISCONFIGURED = ("diskdr is misconfigured (ConfigurationError) or failed (InternalError)", ERROR)
_AZURE_FAILED = ("Azure failed; the error carries Azure's code and request id", ERROR)

OPERATIONS: list[Operation] = [
    Operation(
        "POST",
        "backups",
        "startBackup",
        "Back up VMs (each VM's disks minus the policy's exclusions) or exactly the disks named",
        body="BackupRequest",
        responses={
            202: ("the run was started (or joined: same targets within one minute)", "Accepted"),
            400: ("the body is malformed (InvalidJson, InvalidRequest, InvalidResourceId)", ERROR),
            404: ("a VM or disk named does not exist (ResourceNotFound)", ERROR),
            422: (
                "cannot be honoured: SubscriptionNotInScope, UnknownPolicy, NoPolicyMatches, "
                "AmbiguousPolicy, NothingToProtect, NotAttachedToVm, UnsupportedConsistency",
                ERROR,
            ),
            502: _AZURE_FAILED,
        },
        headers={202: _ACCEPTED_HEADERS},
    ),
    Operation(
        "GET",
        "backups/{instanceId}",
        "getBackup",
        "A backup run's status: progress while it runs, the run report when it has ended",
        responses={
            200: ("the run's status", "RunStatus"),
            400: ("not a possible run id (InvalidInstanceId)", ERROR),
            404: ("no run with that id (InstanceNotFound)", ERROR),
        },
    ),
    Operation(
        "GET",
        "recovery-points",
        "listRecoveryPoints",
        "A VM's recovery points in every region, with each consistency group's state",
        query=(
            Parameter(
                "vmId",
                "the VM's resource id (a deleted VM's too)",
                required=True,
                schema={"type": "string", "pattern": KINDS["vmIds"][2].pattern},
            ),
        ),
        responses={
            200: ("the points and groups", "RecoveryPoints"),
            400: ("vmId is missing or not a VM resource id", ERROR),
            422: ("the VM's subscription is not in scope (SubscriptionNotInScope)", ERROR),
            502: _AZURE_FAILED,
        },
    ),
    Operation(
        "GET",
        "compliance",
        "getCompliance",
        "Per protected VM and region: the newest usable group's age against the RPO; and "
        "what is unprotected",
        query=(
            Parameter(
                "status",
                "only the VMs with this status",
                schema={"type": "string", "enum": list(STATUS_ORDER)},
            ),
        ),
        responses={
            200: ("the compliance report", "Compliance"),
            400: ("an unknown status", ERROR),
            502: _AZURE_FAILED,
        },
    ),
    Operation(
        "POST",
        "restores",
        "startRestore",
        "Restore a VM's consistency group (latest complete or an exact slot) from the primary "
        "or the secondary region as new disks, or as a new VM",
        body="RestoreRequest",
        responses={
            202: ("the restore was started (or joined: the same request)", "Accepted"),
            400: ("the body is malformed (InvalidJson, InvalidRequest, InvalidResourceId)", ERROR),
            404: ("no such VM nor points of it (ResourceNotFound), no such slot", ERROR),
            409: ("a name the restore needs is taken (NameCollision)", ERROR),
            422: (
                "cannot be honoured: SubscriptionNotInScope, NoPointsInRegion, NoCompleteGroup, "
                "GroupIncomplete, SubnetNotFound, SubnetInOtherRegion, ResourceGroupNotFound, "
                "NoOsDisk",
                ERROR,
            ),
            502: _AZURE_FAILED,
        },
        headers={202: _ACCEPTED_HEADERS},
    ),
    Operation(
        "GET",
        "restores/{instanceId}",
        "getRestore",
        "A restore's status; when done: per disk what was made, the VM, the RTO",
        responses={
            200: ("the restore's status", "RunStatus"),
            400: ("not a possible id (InvalidInstanceId)", ERROR),
            404: ("no restore with that id (InstanceNotFound)", ERROR),
        },
    ),
    Operation(
        "POST",
        "drills",
        "startDrill",
        "Run a policy's DR drill now (also run on its drill.schedule)",
        body="DrillRequest",
        responses={
            202: ("the drill was started", "Accepted"),
            400: ("the body is malformed", ERROR),
            422: ("UnknownPolicy, or NoDrill (the policy has no drill block)", ERROR),
            502: _AZURE_FAILED,
        },
        headers={202: _ACCEPTED_HEADERS},
    ),
    Operation(
        "GET",
        "drills",
        "listDrills",
        "Every drill, newest first, with its report once it has ended",
        responses={200: ("the drills", "Drills")},
    ),
    Operation(
        "GET",
        "drills/{instanceId}",
        "getDrill",
        "One drill: per VM the point, its age, restored ids, content check, RTO, cleanup",
        responses={
            200: ("the drill's status", "RunStatus"),
            400: ("not a possible id (InvalidInstanceId)", ERROR),
            404: ("no drill with that id (InstanceNotFound)", ERROR),
        },
    ),
    Operation(
        "POST",
        "failover",
        "startFailover",
        "Restore every VM of a policy in the secondary region in recovery order; a dry run "
        "(the default) answers the plan and creates nothing",
        body="FailoverRequest",
        responses={
            200: ("the dry run's plan", "FailoverPlan"),
            202: ("the failover was started", "Accepted"),
            400: ("the body is malformed", ERROR),
            422: (
                "UnknownPolicy, SubscriptionNotInScope, NoReplicas, or NothingToRestore",
                ERROR,
            ),
            502: _AZURE_FAILED,
        },
        headers={202: _ACCEPTED_HEADERS},
    ),
    Operation(
        "GET",
        "failover/{instanceId}",
        "getFailover",
        "A failover: per VM the point used, its age (RPO achieved), restored ids and RTO",
        responses={
            200: ("the failover's status", "RunStatus"),
            400: ("not a possible id (InvalidInstanceId)", ERROR),
            404: ("no failover with that id (InstanceNotFound)", ERROR),
        },
    ),
    Operation(
        "GET",
        "health",
        "getHealth",
        "Whether diskdr's settings and policy are usable (no Azure call)",
        responses={
            200: ("healthy: the policies in force", "Health"),
            503: (
                "a setting or the policy is broken (Unhealthy): the health report's problems "
                "name each, beside the error",
                ERROR,
            ),
        },
    ),
    Operation(
        "GET",
        "openapi.json",
        "getOpenApi",
        "This document",
        responses={200: ("the OpenAPI 3 document of the HTTP API", "OpenApi")},
    ),
]


def _content(schema: str | None) -> dict[str, Any]:
    if schema is None:
        return {}
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _operation(operation: Operation) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": PATH_PARAMETERS.get(name, {"type": "string", "minLength": 1}),
        }
        for name in operation.path_parameters()
    ]
    parameters += [
        {
            "name": p.name,
            "in": "query",
            "required": p.required,
            "description": p.description,
            "schema": dict(p.schema),
        }
        for p in operation.query
    ]
    statuses = {401: _UNAUTHORIZED, 500: _MISCONFIGURED, **operation.responses}
    responses: dict[str, Any] = {}
    for status, (description, schema) in sorted(statuses.items()):
        answer: dict[str, Any] = {"description": description, **_content(schema)}
        if status in operation.headers:
            answer["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in operation.headers[status].items()
            }
        responses[str(status)] = answer
    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "responses": responses,
    }
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        document["requestBody"] = {"required": True, **_content(operation.body)}
    return document


def openapi_document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation (``server_url``: the app's origin)."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "diskdr",
            "version": __version__,
            "description": "Backup and disaster recovery for Azure VM disks. Every operation "
            "needs a function key (?code= or x-functions-key).",
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}
            },
        },
        "security": [{"functionKey": []}],
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document
