"""The HTTP API's request checks and error bodies (pure; the trigger does the I/O).

Every refusal is an :class:`ApiError` that becomes ``{"error": {"code", "message",
"target"?}}`` with a 4xx status: 400 when the request itself is malformed, 404 when a
resource it names does not exist, 422 when it is well-formed but cannot be honoured
(a subscription outside ``DISKDR_SUBSCRIPTION_IDS``, an unknown policy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_IDS = 100
# The fields of a ``POST /api/backups`` body (the OpenAPI document is built from these).
BACKUP_FIELDS = ("vmIds", "diskIds", "policy")
_VM_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9a-fA-F-]{36})/resourceGroups/[-\w._()]{1,90}"
    r"/providers/Microsoft\.Compute/virtualMachines/[-\w.]{1,64}$",
    re.IGNORECASE,
)
_DISK_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9a-fA-F-]{36})/resourceGroups/[-\w._()]{1,90}"
    r"/providers/Microsoft\.Compute/disks/[-\w.]{1,80}$",
    re.IGNORECASE,
)
# Durable instance ids: 1-100 characters, no '/', backslash, '#' or '?', not starting with '@'
# (Learn, "Durable orchestrations", orchestration identity); no control characters (ours).
INSTANCE_ID = re.compile(r"^(?!@)[^/\\#?\x00-\x1f\x7f]{1,100}$")
KINDS = {
    "vmIds": ("virtual machine", "virtualMachines", _VM_ID),
    "diskIds": ("disk", "disks", _DISK_ID),
}


class ApiError(Exception):
    """A request refused with ``status`` and an error body."""

    def __init__(self, status: int, code: str, message: str, target: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.target = target

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return {"error": error}


@dataclass(frozen=True)
class BackupRequest:
    """A checked ``POST /api/backups`` body: VM ids or disk ids, and maybe a policy."""

    kind: str  # "vmIds" | "diskIds"
    ids: tuple[str, ...]
    policy: str | None = None


def parse_json_body(raw: bytes) -> Any:
    if not raw or not raw.strip():
        raise ApiError(400, "InvalidRequest", "the request body is empty; expected a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise ApiError(400, "InvalidJson", f"the request body is not valid JSON: {error}") from None


def check_resource_id(text: Any, kind: str, target: str) -> str:
    """A well-formed VM or disk resource id (``kind`` = vmIds | diskIds), else 400."""
    what, resource_type, pattern = KINDS[kind]
    if not isinstance(text, str) or not pattern.match(text.strip()):
        raise ApiError(
            400,
            "InvalidResourceId",
            f"{target}: expected a {what} resource id like /subscriptions/<guid>/resourceGroups/"
            f"<group>/providers/Microsoft.Compute/{resource_type}/<name>, got {text!r}",
            target,
        )
    return text.strip()


def check_instance_id(text: str, target: str = "instanceId") -> str:
    """A possible durable instance id, else 400 ``InvalidInstanceId``."""
    if not INSTANCE_ID.match(text):
        raise ApiError(
            400,
            "InvalidInstanceId",
            f"{target}: expected a run id of 1 to 100 characters without '/', '\\', '#', '?' "
            f"or control characters, got {text!r}",
            target,
        )
    return text


def check_subscription(resource_id: str, subscriptions: Iterable[str], target: str) -> None:
    subscription = resource_id.split("/")[2].lower()
    if subscription not in {s.lower() for s in subscriptions}:
        raise ApiError(
            422,
            "SubscriptionNotInScope",
            f"{target}: subscription {subscription} is not in DISKDR_SUBSCRIPTION_IDS; "
            "diskdr only protects resources of the subscriptions it is configured for",
            target,
        )


def parse_backup_request(
    raw: bytes, subscriptions: Iterable[str], policy_names: Iterable[str]
) -> BackupRequest:
    """Check a ``POST /api/backups`` body (shape, ids, subscriptions, policy name)."""
    body = parse_json_body(raw)
    if not isinstance(body, Mapping):
        raise ApiError(400, "InvalidRequest", "expected a JSON object with vmIds or diskIds")
    unknown = sorted(set(body) - set(BACKUP_FIELDS))
    if unknown:
        raise ApiError(
            400,
            "InvalidRequest",
            f"unknown field {unknown[0]!r}; expected vmIds or diskIds, and optionally policy",
            unknown[0],
        )
    kinds = [kind for kind in ("vmIds", "diskIds") if kind in body]
    if len(kinds) != 1:
        raise ApiError(
            400, "InvalidRequest", "expected exactly one of vmIds or diskIds (a list of ids)"
        )
    kind = kinds[0]
    ids = body[kind]
    if not isinstance(ids, list) or not ids:
        raise ApiError(400, "InvalidRequest", f"{kind}: expected a non-empty list of ids", kind)
    if len(ids) > MAX_IDS:
        raise ApiError(
            400,
            "InvalidRequest",
            f"{kind}: at most {MAX_IDS} ids per request, got {len(ids)}",
            kind,
        )
    checked: list[str] = []
    seen: set[str] = set()
    subscriptions = list(subscriptions)
    for index, text in enumerate(ids):
        target = f"{kind}[{index}]"
        resource_id = check_resource_id(text, kind, target)
        check_subscription(resource_id, subscriptions, target)
        if resource_id.lower() not in seen:
            seen.add(resource_id.lower())
            checked.append(resource_id)
    policy = body.get("policy")
    if policy is not None:
        if not isinstance(policy, str):
            raise ApiError(400, "InvalidRequest", "policy: expected a policy name", "policy")
        names = list(policy_names)
        if policy not in names:
            raise ApiError(
                422,
                "UnknownPolicy",
                f"policy: no policy named {policy!r} (policies: {', '.join(names)})",
                "policy",
            )
    return BackupRequest(kind, tuple(checked), policy)
