"""Event Grid "VM changed" events: which ones diskdr acts on, and how they are debounced.

A subscription's system topic sends ``Microsoft.Resources.ResourceWriteSuccess`` for every
ARM write; diskdr acts on ``Microsoft.Compute/virtualMachines/write`` of a VM in its
subscriptions and ignores (and logs) everything else. Writes to one VM within the same
debounce window share one backup, taken when the window closes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from diskdr.clock import utc_now
from diskdr.naming import format_slot

WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
VM_WRITE = "microsoft.compute/virtualmachines/write"
_VM_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/[^/]+"
    r"/providers/Microsoft\.Compute/virtualMachines/[^/]+$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class VmChange:
    vm_id: str
    time: datetime


class Ignored(ValueError):
    """Why an event is not acted on (logged, never an error)."""


def vm_change(
    event_type: str | None,
    subject: str | None,
    data: Any,
    event_time: datetime | None,
    subscriptions: Iterable[str],
) -> VmChange:
    """The VM change an event reports; raises :class:`Ignored` saying why not."""
    if event_type != WRITE_SUCCESS:
        raise Ignored(f"event type {event_type!r} is not {WRITE_SUCCESS}")
    if not isinstance(data, Mapping):
        raise Ignored("event data is not an object")
    operation = str(data.get("operationName") or "").lower()
    if operation != VM_WRITE:
        raise Ignored(f"operation {data.get('operationName')!r} is not a VM write")
    status = data.get("status")
    if status is not None and str(status).lower() != "succeeded":
        raise Ignored(f"operation status {status!r}")
    resource = str(data.get("resourceUri") or subject or "")
    match = _VM_ID.match(resource)
    if match is None:
        raise Ignored(f"{resource!r} is not a VM resource id")
    if match["subscription"].lower() not in {s.lower() for s in subscriptions}:
        raise Ignored(f"subscription {match['subscription']} is not in scope")
    when = event_time or utc_now()
    if when.utcoffset() is None:
        when = when.replace(tzinfo=UTC)
    return VmChange(resource, when.astimezone(UTC))


def debounce_window(change: VmChange, window: timedelta) -> tuple[datetime, datetime]:
    """(start, end) of the debounce window the change falls in (windows from the epoch)."""
    seconds = window.total_seconds()
    start = datetime.fromtimestamp((change.time.timestamp() // seconds) * seconds, tz=UTC).replace(
        second=0, microsecond=0
    )
    return start, start + window


def change_instance_id(change: VmChange, window: timedelta) -> str:
    """``vmchange-<vm hash>-<window start>``: one backup per VM per window."""
    start, _ = debounce_window(change, window)
    key = hashlib.sha256(change.vm_id.lower().encode()).hexdigest()[:12]
    return f"vmchange-{key}-{format_slot(start)}"
