"""Errors Microsoft.Compute answers with, as typed exceptions the models raise.

Each class fixes a status and an Azure error code; the message says what was refused and
why. Where Azure documents no code for a platform limit the choice is ours and is written
down, with its reasoning, in docs/emulator.md ("Limits and error codes").
"""

from __future__ import annotations

from emulator.errors import (
    ArmError,
    BadRequest,
    InvalidParameter,
    NotFound,
    OperationNotAllowed,
    PropertyChangeNotAllowed,
    ResourceNotFound,
)

__all__ = [
    "ArmError",
    "BadRequest",
    "CopyLimitExceeded",
    "DiskAttached",
    "InvalidParameter",
    "NotFound",
    "OperationNotAllowed",
    "PropertyChangeNotAllowed",
    "ResourceNotFound",
    "SnapshotRateLimited",
    "SnapshotsLimitReached",
    "SourceNotFound",
    "SourceNotReady",
    "UnsupportedCreateOption",
]


class SnapshotsLimitReached(ArmError):
    """The disk already has the maximum number of incremental snapshots.

    Azure accepts the PUT, then fails the operation and leaves the snapshot ``Failed``
    (azure-sdk-for-python#14282 reports exactly this code and message).
    """

    status = 409
    code = "SnapshotsLimitReached"

    def __init__(self, disk_name: str, limit: int) -> None:
        super().__init__(
            f"The snapshot count was exceeded for a disk. Please retry the request after "
            f"sometime. Disk '{disk_name}' already has {limit} incremental snapshots."
        )


class SnapshotRateLimited(OperationNotAllowed):
    """More than N incremental snapshots of one disk within the window (default 7 per 5 min)."""

    def __init__(self, disk_name: str, limit: int, window_seconds: float) -> None:
        super().__init__(
            f"Too many incremental snapshots of disk '{disk_name}': at most {limit} may be "
            f"created every {window_seconds / 60:g} minutes. Retry later."
        )


class CopyLimitExceeded(OperationNotAllowed):
    """A CopyStart refused by one of the cross-region copy restrictions."""


class DiskAttached(OperationNotAllowed):
    def __init__(self, disk_name: str, vm_id: str) -> None:
        super().__init__(f"Disk {disk_name} is attached to VM {vm_id}.")


class SourceNotFound(NotFound):
    """A referenced source (disk, snapshot) that does not exist *in the target's region*.

    DiskRP answers ``NotFound`` "Resource X is not found." both for a missing source and for
    a source in another region (Azure/azure-cli#11909, kubernetes-sigs/azuredisk-csi-driver#1891).
    """

    def __init__(self, name: str) -> None:
        super().__init__(f"Resource {name} is not found.")


class SourceNotReady(OperationNotAllowed):
    """The source snapshot's data is not available yet (background copy not finished)."""


class UnsupportedCreateOption(BadRequest):
    def __init__(self, option: str, kind: str) -> None:
        super().__init__(
            f"createOption '{option}' is not supported for {kind} by this emulator.",
            target="properties.creationData.createOption",
        )
