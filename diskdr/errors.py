"""Typed errors of diskdr.

Every error says what is wrong in words a user can act on. Azure errors carry the Azure
error code and request id; policy errors carry the file, line and field path. The edges
(HTTP triggers, CLI) turn them into messages and status codes; nothing swallows them.
"""

from __future__ import annotations

from dataclasses import dataclass


class DiskdrError(Exception):
    """Base class of every error diskdr raises on purpose."""


class ConfigError(DiskdrError):
    """An app setting is missing or invalid (names the setting)."""


@dataclass(frozen=True)
class PolicyIssue:
    """One problem in a policy file: ``file:line: field.path: message``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PolicyError(DiskdrError):
    """A policy file is invalid; holds every issue found, in file order."""

    def __init__(self, issues: list[PolicyIssue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class ScheduleError(DiskdrError):
    """A schedule expression (NCRONTAB) or time zone is invalid."""


class OwnershipError(DiskdrError):
    """A recovery point that this install does not own reached a decision that could delete it."""


class PointTagsError(DiskdrError):
    """A resource carries this install's owner tag but its other diskdr tags are missing or
    malformed: it is ours, yet nothing may be decided about it until a person looks."""


class AzureError(DiskdrError):
    """An Azure call failed. ``code`` is Azure's error code, ``request_id`` its x-ms-request-id."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.code = code
        self.status = status
        self.request_id = request_id
        self.detail = message
        parts = [message]
        if code:
            parts.append(f"code={code}")
        if status:
            parts.append(f"status={status}")
        if request_id:
            parts.append(f"request-id={request_id}")
        super().__init__(
            " ".join(parts) if len(parts) == 1 else f"{message} ({', '.join(parts[1:])})"
        )


class ResourceNotFoundError(AzureError):
    """The resource does not exist (HTTP 404)."""


class ConflictError(AzureError):
    """The request conflicts with the resource's state or a lock (HTTP 409)."""


class ThrottledError(AzureError):
    """Azure throttled the call (HTTP 429) beyond what the SDK's retries absorbed."""

    #: Seconds Azure asked the caller to wait (``Retry-After``), when the caller kept them.
    retry_after: float | None = None


class LimitReachedError(AzureError):
    """A platform limit was hit (e.g. ``SnapshotsLimitReached``); retrying does not help."""


# --- transient or permanent: the one place that decides ---------------------------------
#: Codes that clear by waiting, whatever the status (throttling, busy or failing servers).
TRANSIENT_CODES = frozenset(
    {
        "TooManyRequests",
        "RetryableError",
        "InternalServerError",
        "InternalExecutionError",
        "ServerBusy",
        "ServiceUnavailable",
        "GatewayTimeout",
        "OperationPreempted",
        "FailedPointBeingDeleted",
    }
)
#: Codes that waiting never clears: retrying them only holds a copy slot or a deadline.
PERMANENT_CODES = frozenset(
    {
        "NameOwnedByOther",
        "CollectionSourceMismatch",
        "SnapshotsLimitReached",
        "PropertyChangeNotAllowed",
        "InvalidParameter",
        "BadRequest",
        "InvalidResourceLocation",
        "InvalidResourceGroupLocation",
        "AuthorizationFailed",
        "LinkedAuthorizationFailed",
        "ScopeLocked",
        "NotFound",
        "ResourceNotFound",
        "ResourceGroupNotFound",
    }
)
#: Compute answers ``OperationNotAllowed`` both for limits that pass (one copy of a disk at
#: a time, copies in flight per region, snapshot rate, a source not ready yet) and for
#: refusals that do not (copy order, a SKU change): the message tells them apart.
_PASSING_HINTS = (
    "at a time",
    "in progress",
    "not ready",
    "yet",
    "retry",
    "too many",
    "being deleted",
)


def is_transient(error: AzureError) -> bool:
    """Whether ``error`` is worth trying again later.

    No answer, 429 and 5xx are transient; then Azure's code decides (``TRANSIENT_CODES``,
    ``PERMANENT_CODES``, ``OperationNotAllowed`` by its message); anything else is
    permanent: an unknown refusal is reported at once with Azure's code, not retried for
    a whole deadline.
    """
    if error.status is None or error.status == 429 or error.status >= 500:
        return True
    code = error.code or ""
    if code in PERMANENT_CODES:
        return False
    if code in TRANSIENT_CODES:
        return True
    if code == "OperationNotAllowed":
        message = error.detail.lower()
        return any(hint in message for hint in _PASSING_HINTS)
    return False
