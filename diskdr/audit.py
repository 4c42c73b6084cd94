"""The audit trail: every write diskdr sends to Azure, with Azure's ``x-ms-request-id``.

Activities record what their one Azure call wrote (``with recording() as writes:``); the
SDK clients' response hook (``diskdr.azure.clients``) adds each answered PUT, PATCH, POST
or DELETE to the recording in force (a context variable: one activity, one thread). Each
try the SDK's retry policy makes is a write of its own, as Azure saw it. The writes travel
in the activity's result to the run report (``audit``), where an operator quotes the
request id to Azure support.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import urlsplit

from diskdr.model import JsonModel

WRITE_METHODS = frozenset({"PUT", "PATCH", "POST", "DELETE"})
_current: ContextVar[list[AzureWrite] | None] = ContextVar("diskdr_audit", default=None)


@dataclass(frozen=True)
class AzureWrite(JsonModel):
    """One write request and Azure's answer to it."""

    method: str
    resource: str  # the request path: the resource id (or its action)
    status: int
    request_id: str | None = None


@contextmanager
def recording() -> Iterator[list[AzureWrite]]:
    """Collect the writes made inside the block (nested blocks collect their own)."""
    writes: list[AzureWrite] = []
    token = _current.set(writes)
    try:
        yield writes
    finally:
        _current.reset(token)


def record(method: str, url: str, status: int, request_id: str | None) -> None:
    """Add one answered request to the recording in force, if it is a write."""
    writes = _current.get()
    if writes is None or method.upper() not in WRITE_METHODS:
        return
    writes.append(AzureWrite(method.upper(), urlsplit(url).path, status, request_id))
