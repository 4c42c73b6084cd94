"""The cross-region copy gate: a lease table that caps copies in flight.

Azure allows at most 100 incremental-snapshot copies in flight per subscription and target
region, and one copy of a given disk at a time. diskdr keeps one table per (subscription,
target region) in a durable entity; every copy holds a lease while it runs. Because entity
operations are serialized, ``acquire`` is atomic across every orchestration of the task hub:
scheduled, on-demand and overlapping runs all pass through the same gate. Leases expire, so
a copy whose orchestration was terminated cannot hold a slot forever.

The table is plain JSON (the entity's state); the functions here are pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_COPIES_PER_REGION = 100  # Azure's documented limit per subscription per target region


def gate_key(subscription_id: str, region: str) -> str:
    """Entity key of the gate of one subscription and target region."""
    return f"{subscription_id.lower()}|{region.lower()}"


@dataclass(frozen=True)
class LeaseRequest:
    holder: str  # unique per copy attempt (the replicate orchestration's instance id)
    disk: str  # snapshot family (source disk id + unique id): one copy per disk at a time
    limit: int  # copies allowed in flight for this gate (<= 100)
    ttl_seconds: float  # the lease expires this long after it was granted or renewed

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LeaseRequest:
        return cls(
            holder=str(data["holder"]),
            disk=str(data["disk"]).lower(),
            limit=max(1, min(int(data["limit"]), MAX_COPIES_PER_REGION)),
            ttl_seconds=float(data["ttlSeconds"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.holder,
            "disk": self.disk,
            "limit": self.limit,
            "ttlSeconds": self.ttl_seconds,
        }


def empty_table() -> dict[str, Any]:
    return {"leases": {}, "peak": 0}


def expire(table: dict[str, Any], now: float) -> dict[str, Any]:
    """The table without leases that expired at ``now`` (Unix seconds)."""
    leases = {h: lease for h, lease in table["leases"].items() if lease["expires"] > now}
    return {**table, "leases": leases}


def acquire(
    table: dict[str, Any], request: LeaseRequest, now: float
) -> tuple[dict[str, Any], bool]:
    """Grant ``request`` a lease if the gate has room and the disk is not being copied.

    Re-acquiring a lease already held renews it (an orchestration replaying or retrying its
    acquire must not be refused by its own lease).
    """
    table = expire(table, now)
    leases = dict(table["leases"])
    others = {h: lease for h, lease in leases.items() if h != request.holder}
    if request.holder not in leases and len(others) >= request.limit:
        return table, False
    if any(lease["disk"] == request.disk for lease in others.values()):
        return table, False
    leases[request.holder] = {"disk": request.disk, "expires": now + request.ttl_seconds}
    peak = max(int(table.get("peak", 0)), len(leases))
    return {**table, "leases": leases, "peak": peak}, True


def release(table: dict[str, Any], holder: str, now: float) -> dict[str, Any]:
    """The table without ``holder``'s lease (releasing twice is harmless)."""
    table = expire(table, now)
    leases = {h: lease for h, lease in table["leases"].items() if h != holder}
    return {**table, "leases": leases}
