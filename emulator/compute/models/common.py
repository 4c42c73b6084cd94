"""Pieces shared by disks, snapshots and VMs: the resource base, SAS grants, background copies."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from emulator.arm import COMPUTE

if TYPE_CHECKING:
    from emulator.compute.models.restore_points import DiskRestorePoint
    from emulator.compute.models.snapshots import Snapshot
    from emulator.world import World

# Disk SKUs whose snapshots need a background copy before they can be used.
BACKGROUND_COPY_SKUS = frozenset({"PremiumV2_LRS", "UltraSSD_LRS"})

DISK_SKUS = (
    "Standard_LRS",
    "Premium_LRS",
    "StandardSSD_LRS",
    "UltraSSD_LRS",
    "Premium_ZRS",
    "StandardSSD_ZRS",
    "PremiumV2_LRS",
)
SNAPSHOT_SKUS = ("Standard_LRS", "Premium_LRS", "Standard_ZRS")


def sku_tier(sku: str) -> str:
    """The ``sku.tier`` Azure reports for a sku name (as in the spec's examples)."""
    if sku.startswith("UltraSSD"):
        return "Ultra"
    if sku.startswith("Premium"):
        return "Premium"
    return "Standard"


# Premium SSD performance tiers by provisioned size (GiB), for ``properties.tier``.
_PREMIUM_TIERS = [
    (4, "P1"),
    (8, "P2"),
    (16, "P3"),
    (32, "P4"),
    (64, "P6"),
    (128, "P10"),
    (256, "P15"),
    (512, "P20"),
    (1024, "P30"),
    (2048, "P40"),
    (4096, "P50"),
    (8192, "P60"),
    (16384, "P70"),
    (32767, "P80"),
]


def default_tier(sku: str, size_gb: int) -> str | None:
    if sku not in ("Premium_LRS", "Premium_ZRS"):
        return None
    for limit, tier in _PREMIUM_TIERS:
        if size_gb <= limit:
            return tier
    return "P80"


def new_unique_id() -> str:
    return str(uuid.uuid4())


@dataclass(eq=False)
class ComputeResource:
    """What every Microsoft.Compute resource has: where it is and its tags."""

    TYPE: ClassVar[str] = ""

    subscription: str
    resource_group: str
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{COMPUTE}/{self.TYPE}/{self.name}"
        )

    @property
    def key(self) -> tuple[str, str]:
        return self.resource_group.lower(), self.name.lower()

    @property
    def resource_type(self) -> str:
        return f"{COMPUTE}/{self.TYPE}"


@dataclass
class AccessGrant:
    """An active export SAS on a disk or snapshot (``beginGetAccess``)."""

    access: str
    expires: float  # world unix
    url: str

    @classmethod
    def issue(cls, access: str, expires: float) -> AccessGrant:
        account = "md-" + secrets.token_hex(6)
        blob = secrets.token_hex(6)
        sig = secrets.token_urlsafe(24)
        perms = "r" if access == "Read" else "rw"
        url = (
            f"https://{account}.z1.blob.storage.azure.net/{blob}/abcd"
            f"?sv=2018-03-28&sr=b&si={uuid.uuid4()}&sig={sig}&sp={perms}"
        )
        return cls(access, expires, url)


@dataclass
class BackgroundCopy:
    """Data moving in the background: a CopyStart copy, or a PV2/Ultra snapshot's hydration.

    ``completionPercent`` grows linearly from ``start`` to ``end`` (world time), which were
    derived from the amount of changed data; a failed copy stops where it was.
    """

    start: float
    end: float
    changed_bytes: int
    failed_at: float | None = None
    finished: bool = False

    def percent(self, now: float) -> float:
        if self.finished:
            return 100.0
        at = now if self.failed_at is None else self.failed_at
        span = self.end - self.start
        if span <= 0:
            return 100.0 if self.failed_at is None else 0.0
        # Never report 100 before the completion event has run.
        return round(min(99.9, max(0.0, (at - self.start) / span * 100)), 1)

    @property
    def in_flight(self) -> bool:
        return not self.finished and self.failed_at is None


def start_hydration(
    world: World,
    target: Snapshot | DiskRestorePoint,
    changed_bytes: int,
    instant_access_minutes: int | None,
) -> BackgroundCopy:
    """Premium SSD v2 / Ultra: ``target`` (a snapshot or disk restore point) is ``Pending`` -
    or ``InstantAccess`` for ``instant_access_minutes`` - until its data is copied out of the
    disk's storage; then ``Available`` (``AvailableWithInstantAccess`` while instant access
    lasts). Returns the background copy, which the caller keeps on ``target``."""
    now = world.now()
    seconds = world.config.background_copy.seconds(changed_bytes)
    job = BackgroundCopy(now, now + seconds, changed_bytes)
    if instant_access_minutes:
        target.access_state = "InstantAccess"
        until = target.instant_access_until = now + instant_access_minutes * 60
        world.at(until, lambda when: _end_instant_access(target))
    else:
        target.access_state = "Pending"

    def done(when: float) -> None:
        if not job.in_flight:
            return
        job.finished = True
        until = target.instant_access_until
        target.access_state = (
            "AvailableWithInstantAccess" if until is not None and when < until else "Available"
        )

    world.at(job.end, done)
    return job


def _end_instant_access(target: Snapshot | DiskRestorePoint) -> None:
    if target.access_state == "AvailableWithInstantAccess":
        target.access_state = "Available"
    elif target.access_state == "InstantAccess":
        # Instant access lapsed before the background copy finished.
        target.access_state = "Pending"
    target.instant_access_until = None
