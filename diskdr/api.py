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
from datetime import UTC, datetime
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


# --- recovery: restores, drills, failovers ----------------------------------------------------
_SUBNET_ID = re.compile(
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w._()]{1,90}/providers/"
    r"Microsoft\.Network/virtualNetworks/[-\w.]{1,64}/subnets/[-\w.]{1,80}$",
    re.IGNORECASE,
)
_GROUP_NAME = re.compile(r"^[-\w._()]{1,90}(?<!\.)$")
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,47}$")


@dataclass(frozen=True)
class RestoreRequest:
    """A checked ``POST /api/restores`` body."""

    vm_id: str
    slot: datetime | None  # None: latest
    region: str | None
    resource_group: str
    mode: str
    subnet_id: str | None = None
    name_prefix: str | None = None
    vm_size: str | None = None


@dataclass(frozen=True)
class FailoverRequest:
    """A checked ``POST /api/failover`` body."""

    policy: str
    region: str | None
    resource_group: str
    subnet_id: str | None
    dry_run: bool


def _object(raw: bytes, allowed: set[str], what: str) -> Mapping[str, Any]:
    body = parse_json_body(raw)
    if not isinstance(body, Mapping):
        raise ApiError(400, "InvalidRequest", f"expected a JSON object ({what})")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(
            400,
            "InvalidRequest",
            f"unknown field {unknown[0]!r}; expected {', '.join(sorted(allowed))}",
            unknown[0],
        )
    return body


def _text(body: Mapping[str, Any], key: str, pattern: re.Pattern[str] | None, what: str) -> Any:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
        raise ApiError(400, "InvalidRequest", f"{key}: expected {what}, got {value!r}", key)
    return value


def _required(value: Any, key: str, what: str) -> Any:
    if value is None:
        raise ApiError(400, "InvalidRequest", f"{key}: required ({what})", key)
    return value


def _policy_name(body: Mapping[str, Any], names: Iterable[str]) -> str:
    policy = _required(_text(body, "policy", None, "a policy name"), "policy", "a policy name")
    known = list(names)
    if policy not in known:
        raise ApiError(
            422,
            "UnknownPolicy",
            f"policy: no policy named {policy!r} (policies: {', '.join(known)})",
            "policy",
        )
    return str(policy)


def _region(body: Mapping[str, Any], regions: Iterable[str]) -> str | None:
    region = _text(body, "region", None, "an Azure region name such as westus2")
    if region is not None and region.lower() not in set(regions):
        raise ApiError(400, "InvalidRequest", f"region: unknown Azure region {region!r}", "region")
    return None if region is None else region.lower()


def parse_restore_request(
    raw: bytes, subscriptions: Iterable[str], regions: Iterable[str]
) -> RestoreRequest:
    """Check a ``POST /api/restores`` body (shape, ids, slot, mode, names)."""
    allowed = {
        "vmId", "slot", "region", "resourceGroup", "mode", "subnetId", "namePrefix", "vmSize",
    }  # fmt: skip
    body = _object(raw, allowed, "vmId, slot, resourceGroup, mode, ...")
    vm_id = check_resource_id(_required(body.get("vmId"), "vmId", "a VM id"), "vmIds", "vmId")
    check_subscription(vm_id, subscriptions, "vmId")
    slot_text = body.get("slot", "latest")
    slot: datetime | None = None
    if slot_text != "latest":
        slot = parse_slot_text(slot_text)
    group = _required(
        _text(body, "resourceGroup", _GROUP_NAME, "a resource group name"),
        "resourceGroup",
        "the resource group to restore into",
    )
    mode = body.get("mode", "disks")
    if mode not in ("disks", "vm"):
        raise ApiError(400, "InvalidRequest", f"mode: expected disks or vm, got {mode!r}", "mode")
    subnet = _text(body, "subnetId", _SUBNET_ID, "a subnet resource id")
    if subnet is not None:
        check_subscription(subnet, subscriptions, "subnetId")
    prefix = _text(body, "namePrefix", _PREFIX, "1-48 letters, digits, _ . - (a name prefix)")
    size = _text(body, "vmSize", re.compile(r"^[A-Za-z0-9_]{1,64}$"), "a VM size")
    return RestoreRequest(
        vm_id=vm_id,
        slot=slot,
        region=_region(body, regions),
        resource_group=group,
        mode=mode,
        subnet_id=subnet,
        name_prefix=prefix,
        vm_size=size,
    )


def parse_slot_text(text: Any) -> datetime:
    """``latest`` is handled by the caller; an exact slot is ISO 8601 UTC on a minute."""
    if isinstance(text, str):
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            value = None
        on_minute = value is not None and not value.second and not value.microsecond
        if value is not None and value.utcoffset() is not None and on_minute:
            return value.astimezone(UTC)
    raise ApiError(
        400,
        "InvalidRequest",
        f'slot: expected "latest" or a slot like 2026-11-25T04:00Z, got {text!r}',
        "slot",
    )


def parse_failover_request(
    raw: bytes, subscriptions: Iterable[str], policy_names: Iterable[str], regions: Iterable[str]
) -> FailoverRequest:
    body = _object(raw, {"policy", "region", "resourceGroup", "subnetId", "dryRun"}, "policy, ...")
    policy = _policy_name(body, policy_names)
    group = _required(
        _text(body, "resourceGroup", _GROUP_NAME, "a resource group name"),
        "resourceGroup",
        "the resource group to restore into",
    )
    subnet = _text(body, "subnetId", _SUBNET_ID, "a subnet resource id")
    if subnet is not None:
        check_subscription(subnet, subscriptions, "subnetId")
    dry_run = body.get("dryRun", True)
    if not isinstance(dry_run, bool):
        raise ApiError(400, "InvalidRequest", "dryRun: expected true or false", "dryRun")
    return FailoverRequest(policy, _region(body, regions), group, subnet, dry_run)


def parse_drill_request(raw: bytes, policy_names: Iterable[str]) -> tuple[str, int | None]:
    body = _object(raw, {"policy", "vms"}, "policy, and optionally vms")
    policy = _policy_name(body, policy_names)
    count = body.get("vms")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise ApiError(400, "InvalidRequest", "vms: expected a positive number of VMs", "vms")
    return policy, count
