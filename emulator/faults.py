"""Injected faults: answer matching requests with an error status, or delay them.

A rule matches by HTTP method (or ``*``/absent for any) and a regex searched in the path.
It fires with ``probability`` (default 1) until it has fired ``count`` times (default:
forever). A rule with a ``status`` answers ``{"error": {"code", "message"}}`` with that
status (429 and 503 carry ``Retry-After``); a rule with only ``latencyMs`` delays the
request and lets it through. Latency also applies before an injected error.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from emulator.errors import ArmError, InvalidParameter

RULE_FIELDS = {"method", "path", "status", "code", "message", "probability", "count", "latencyMs"}


@dataclass
class FaultRule:
    method: str | None
    path: re.Pattern[str]
    status: int | None
    code: str | None
    message: str | None
    probability: float
    count: int | None  # None = unlimited
    latency_ms: float
    fired: int = 0

    @classmethod
    def from_json(cls, data: Any, where: str) -> FaultRule:
        if not isinstance(data, dict):
            raise InvalidParameter(f"{where} must be an object.", target=where)
        unknown = set(data) - RULE_FIELDS
        if unknown:
            raise InvalidParameter(
                f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(RULE_FIELDS)}.",
                target=f"{where}.{sorted(unknown)[0]}",
            )
        try:
            path = re.compile(data.get("path") or "")
        except re.error as err:
            raise InvalidParameter(f"{where}.path is not a regex: {err}", target=where) from err
        status = data.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise InvalidParameter(f"{where}.status must be 400..599.", target=f"{where}.status")
        probability = data.get("probability")
        probability = 1.0 if probability is None else float(probability)
        if not 0 <= probability <= 1:
            raise InvalidParameter(
                f"{where}.probability must be 0..1.", target=f"{where}.probability"
            )
        count = data.get("count")
        if count is not None and (not isinstance(count, int) or count < 0):
            raise InvalidParameter(f"{where}.count must be >= 0.", target=f"{where}.count")
        method = data.get("method")
        return cls(
            method=None if method in (None, "", "*") else str(method).upper(),
            path=path,
            status=status,
            code=data.get("code"),
            message=data.get("message"),
            probability=probability,
            count=count,
            latency_ms=float(data.get("latencyMs") or 0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path.pattern,
            "status": self.status,
            "code": self.code,
            "probability": self.probability,
            "count": self.count,
            "latencyMs": self.latency_ms,
            "fired": self.fired,
        }


@dataclass
class Fault:
    """What to do to one request: wait ``latency_ms``, then maybe answer ``status``."""

    latency_ms: float = 0.0
    status: int | None = None
    code: str | None = None
    message: str | None = None


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def set(self, rules: list[FaultRule]) -> None:
        self.rules = rules

    def clear(self) -> None:
        self.rules = []

    def match(self, method: str, path: str, rng: random.Random) -> Fault | None:
        fault = Fault()
        hit = False
        for rule in self.rules:
            if rule.method and rule.method != method:
                continue
            if not rule.path.search(path):
                continue
            if rule.count is not None and rule.fired >= rule.count:
                continue
            if rule.probability < 1 and rng.random() >= rule.probability:
                continue
            rule.fired += 1
            hit = True
            fault.latency_ms += rule.latency_ms
            if rule.status is not None:
                fault.status = rule.status
                fault.code = rule.code or _default_code(rule.status)
                fault.message = rule.message
                break  # the first error rule answers; later rules don't fire
        return fault if hit else None


def _default_code(status: int) -> str:
    return {
        400: "BadRequest",
        403: "AuthorizationFailed",
        404: "NotFound",
        409: "Conflict",
        429: "TooManyRequests",
        500: "InternalServerError",
        502: "BadGateway",
        503: "ServiceUnavailable",
        504: "GatewayTimeout",
    }.get(status, "InjectedFault")


class PolicyDenial(ArmError):
    """ARM's 403 ``RequestDisallowedByPolicy``: the error carries ``additionalInfo`` of type
    ``PolicyViolation`` (Learn "Resolve errors for request disallowed by policy")."""

    status = 403
    code = "RequestDisallowedByPolicy"

    def __init__(self, message: str, info: dict[str, Any], target: str) -> None:
        super().__init__(message, target=target)
        self.info = info

    def body(self) -> dict[str, Any]:
        body = super().body()
        body["error"]["additionalInfo"] = [{"type": "PolicyViolation", "info": self.info}]
        return body


def action_of(method: str, path: str) -> str:
    """The RBAC action of a request: ``Microsoft.Compute/snapshots/write``,
    ``Microsoft.Compute/disks/beginGetAccess/action`` and the like."""
    verb = {"GET": "read", "HEAD": "read", "DELETE": "delete"}.get(method.upper(), "write")
    parts = [p for p in path.split("/") if p]
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return f"Microsoft.Resources/subscriptions/resourceGroups/{verb}"
    start = len(lowered) - 1 - lowered[::-1].index("providers")
    namespace, *rest = parts[start + 1 :] or [""]
    action = None
    if method.upper() == "POST" and len(rest) >= 3 and len(rest) % 2 == 1:
        *rest, action = rest
    resource_type = "/".join([namespace, *rest[0::2]])
    return f"{resource_type}/{action}/action" if action else f"{resource_type}/{verb}"


def fault_error(rule: FaultRule, method: str, path: str, principal: str) -> ArmError:
    """The error a fault rule answers with; 403s in ARM's shapes (Learn "Troubleshoot Azure
    RBAC": ``AuthorizationFailed``; "Resolve errors for request disallowed by policy")."""
    assert rule.status is not None
    scope = path.split("?", 1)[0]
    if rule.status == 403 and rule.code in (None, "AuthorizationFailed"):
        message = rule.message or (
            f"The client '{principal}' with object id '{principal}' does not have "
            f"authorization to perform action '{action_of(method, scope)}' over scope "
            f"'{scope}' or the scope is invalid. If access was recently granted, please "
            "refresh your credentials."
        )
        return ArmError(message, code="AuthorizationFailed", status=403)
    if rule.status == 403 and rule.code == "RequestDisallowedByPolicy":
        name = scope.rstrip("/").rsplit("/", 1)[-1]
        assignment = "/providers/Microsoft.Authorization/policyAssignments/emulator-deny"
        definition = "/providers/Microsoft.Authorization/policyDefinitions/emulator-deny"
        info = {
            "evaluationDetails": {"evaluatedExpressions": []},
            "policyDefinitionId": definition,
            "policyDefinitionName": "emulator-deny",
            "policyDefinitionDisplayName": "Denied by an emulator fault rule",
            "policyDefinitionEffect": "deny",
            "policyAssignmentId": assignment,
            "policyAssignmentName": "emulator-deny",
            "policyAssignmentDisplayName": "Denied by an emulator fault rule",
            "policyAssignmentScope": "/",
            "policyAssignmentParameters": {},
        }
        message = rule.message or (
            f"Resource '{name}' was disallowed by policy. Policy identifiers: "
            f'\'[{{"policyAssignment":{{"name":"emulator-deny","id":"{assignment}"}},'
            f'"policyDefinition":{{"name":"emulator-deny","id":"{definition}"}}}}]\'.'
        )
        return PolicyDenial(message, info, target=name)
    return ArmError(
        rule.message or f"Injected fault ({rule.code}).", code=rule.code, status=rule.status
    )
