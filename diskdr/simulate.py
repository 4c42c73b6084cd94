"""The policy simulator: what a policy set takes, keeps and costs over N days, offline.

It runs each policy's schedules from a start instant, and after every slot applies
retention exactly as the prune step would (primary region, and the secondary region with
its own rules when ``replicate`` is set). Storage and transfer are estimated with a
simple model of incremental snapshots (``docs/policy.md`` states it and its limits):

- a disk of ``S`` GB receives writes at ``c`` GB/day, spread uniformly at random, so the
  data changed over ``t`` days is ``S * (1 - exp(-c * t / S))`` (a block rewritten twice
  counts once; never more than the disk);
- the oldest kept snapshot of a disk holds the whole disk; each later kept snapshot holds
  what changed since the kept snapshot before it (deleting a snapshot merges its
  changes into the next, as Azure does);
- a copy to the secondary region transfers the whole disk the first time, then what
  changed since the previous copy.

Everything here is pure: no clock, no Azure.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from diskdr.policy import Policy, PolicySet
from diskdr.retention import PointInfo, RetentionRules, apply
from diskdr.schedule import policy_slots

# Points made by the simulator are owned by this pseudo install.
_OWNER = "simulator"


@dataclass(frozen=True)
class Prices:
    """Example prices in USD. Defaults are example list prices (pay-as-you-go, East US,
    2025): incremental snapshots on Standard HDD LRS and inter-region data transfer within
    North America. Check the Azure pricing pages for your regions and currency."""

    snapshot_gb_month: float = 0.05
    transfer_gb: float = 0.02


@dataclass(frozen=True)
class Workload:
    """The disks a policy protects, as the simulator models them."""

    disk_size_gb: float = 128.0  # used size of each disk (what the first snapshot holds)
    changes_gb_per_day: float = 4.0  # data written per disk per day
    disks: int = 1  # disks protected by each policy

    def changed_gb(self, span: timedelta) -> float:
        """Distinct data changed on one disk over ``span`` (uniform random writes)."""
        size = self.disk_size_gb
        if size <= 0 or self.changes_gb_per_day <= 0:
            return 0.0
        days = span.total_seconds() / 86_400
        return size * -math.expm1(-self.changes_gb_per_day * days / size)

    def chain_gb(self, slots: Sequence[datetime]) -> float:
        """Storage of the kept snapshots of one disk (``slots`` in any order)."""
        if not slots:
            return 0.0
        ordered = sorted(slots)
        deltas = (self.changed_gb(b - a) for a, b in itertools.pairwise(ordered))
        return self.disk_size_gb + sum(deltas)


@dataclass(frozen=True)
class KeptPoint:
    """A point kept at the end of the simulation and the retention reasons that kept it."""

    slot: datetime
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RegionResult:
    """One policy in one region: points taken, kept, and what they store and transfer."""

    region: str
    role: Literal["primary", "replica"]
    taken: int
    removed: int
    kept: tuple[KeptPoint, ...]  # newest first
    storage_gb: float  # at the end of the simulation, all disks
    peak_storage_gb: float
    transfer_gb: float  # into this region over the whole simulation
    prices: Prices = field(repr=False)

    @property
    def storage_usd_per_month(self) -> float:
        return self.storage_gb * self.prices.snapshot_gb_month

    @property
    def transfer_usd(self) -> float:
        return self.transfer_gb * self.prices.transfer_gb

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "role": self.role,
            "taken": self.taken,
            "removed": self.removed,
            "kept": [
                {"slot": _iso(point.slot), "reasons": list(point.reasons)} for point in self.kept
            ],
            "storageGB": round(self.storage_gb, 3),
            "peakStorageGB": round(self.peak_storage_gb, 3),
            "transferGB": round(self.transfer_gb, 3),
            "costUSD": {
                "storagePerMonth": round(self.storage_usd_per_month, 2),
                "transfer": round(self.transfer_usd, 2),
            },
        }


@dataclass(frozen=True)
class PolicyResult:
    name: str
    consistency: str
    regions: tuple[RegionResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "consistency": self.consistency,
            "regions": [region.to_dict() for region in self.regions],
        }


@dataclass(frozen=True)
class SimulationResult:
    start: datetime
    end: datetime
    workload: Workload
    prices: Prices
    policies: tuple[PolicyResult, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` shape: ``{"policies": [{"name", "regions": [...]}], ...}``."""
        return {
            "start": _iso(self.start),
            "end": _iso(self.end),
            "assumptions": {
                "diskSizeGB": self.workload.disk_size_gb,
                "changesGBPerDay": self.workload.changes_gb_per_day,
                "disks": self.workload.disks,
                "prices": {
                    "snapshotGBMonthUSD": self.prices.snapshot_gb_month,
                    "transferGBUSD": self.prices.transfer_gb,
                },
            },
            "policies": [policy.to_dict() for policy in self.policies],
        }


def simulate(
    policies: PolicySet,
    start: datetime,
    days: float,
    *,
    workload: Workload | None = None,
    prices: Prices | None = None,
    primary_region: str = "primary",
) -> SimulationResult:
    """Run every policy of ``policies`` over ``(start, start + days]``."""
    if start.utcoffset() is None:
        raise ValueError(f"start must be an aware datetime, got {start!r}")
    if days <= 0:
        raise ValueError(f"days must be > 0, got {days}")
    start = start.astimezone(UTC)  # the output writes instants as UTC ("...Z")
    workload = workload or Workload()
    prices = prices or Prices()
    end = start + timedelta(days=days)
    results = tuple(
        simulate_policy(policy, start, end, workload, prices, primary_region)
        for policy in policies.policies
    )
    return SimulationResult(start, end, workload, prices, results)


def simulate_policy(
    policy: Policy,
    start: datetime,
    end: datetime,
    workload: Workload,
    prices: Prices,
    primary_region: str = "primary",
) -> PolicyResult:
    """One policy: primary points every slot, replicas when ``replicate`` is set."""
    slots = policy_slots(policy, start, end)
    primary = _Region(primary_region, "primary", policy.retention_rules(), workload)
    regions = [primary]
    replica_rules = policy.replica_rules()
    replica = None
    if policy.replicate is not None and replica_rules is not None:
        replica = _Region(policy.replicate.region, "replica", replica_rules, workload)
        regions.append(replica)
    for slot in slots:
        # The newest primary point is the base of the next incremental copy: prune must
        # keep it (it is also the newest usable point, so this changes nothing today).
        primary.take(slot, copy_base=replica is not None)
        if replica is not None:
            replica.copy_in(slot)
    return PolicyResult(
        policy.name, policy.consistency, tuple(region.result(prices) for region in regions)
    )


class _Region:
    """The points of one policy in one region as the simulation goes."""

    def __init__(
        self,
        region: str,
        role: Literal["primary", "replica"],
        rules: RetentionRules,
        workload: Workload,
    ) -> None:
        self.region = region
        self.role: Literal["primary", "replica"] = role
        self.rules = rules
        self.workload = workload
        self.points: list[PointInfo] = []
        self.reasons: dict[str, tuple[str, ...]] = {}
        self.taken = 0
        self.removed = 0
        self.transfer_gb = 0.0
        self.peak_storage_gb = 0.0
        self.last_copied: datetime | None = None

    def take(self, slot: datetime, copy_base: bool = False) -> None:
        point = PointInfo(
            id=f"{self.region}-{_iso(slot)}", slot=slot, owner=_OWNER, copy_base=copy_base
        )
        older = [replace(p, copy_base=False) if p.copy_base else p for p in self.points]
        self.taken += 1
        decision = apply([*older, point], self.rules, now=slot, owner=_OWNER)
        self.points = list(decision.keep)
        self.reasons = dict(decision.reasons)
        self.removed += len(decision.remove)
        self.peak_storage_gb = max(self.peak_storage_gb, self.storage_gb())

    def copy_in(self, slot: datetime) -> None:
        if self.last_copied is None:
            self.transfer_gb += self.workload.disk_size_gb * self.workload.disks
        else:
            self.transfer_gb += self.workload.changed_gb(slot - self.last_copied) * (
                self.workload.disks
            )
        self.last_copied = slot
        self.take(slot)

    def storage_gb(self) -> float:
        return self.workload.chain_gb([point.slot for point in self.points]) * self.workload.disks

    def result(self, prices: Prices) -> RegionResult:
        kept = tuple(KeptPoint(point.slot, self.reasons[point.id]) for point in self.points)
        return RegionResult(
            region=self.region,
            role=self.role,
            taken=self.taken,
            removed=self.removed,
            kept=kept,
            storage_gb=self.storage_gb(),
            peak_storage_gb=self.peak_storage_gb,
            transfer_gb=self.transfer_gb,
            prices=prices,
        )


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%MZ")


def render_table(result: SimulationResult) -> str:
    """The simulation as text for people: a table per policy, then the kept points."""
    workload, prices = result.workload, result.prices
    days = (result.end - result.start) / timedelta(days=1)
    lines = [
        f"Simulation from {_iso(result.start)} for {days:g} days: {workload.disks} disk(s) of "
        f"{workload.disk_size_gb:g} GB per policy, {workload.changes_gb_per_day:g} GB/day of "
        f"changes per disk.",
        f"Example prices (USD; check the Azure pricing page): snapshots "
        f"{prices.snapshot_gb_month:g}/GB-month, cross-region transfer {prices.transfer_gb:g}/GB.",
    ]
    header = ("region", "role", "taken", "kept", "storage GB", "$/month", "transfer GB", "$")
    for policy in result.policies:
        lines += ["", f"policy {policy.name} ({policy.consistency})"]
        rows = [
            (
                region.region,
                region.role,
                str(region.taken),
                str(len(region.kept)),
                f"{region.storage_gb:.1f}",
                f"{region.storage_usd_per_month:.2f}",
                f"{region.transfer_gb:.1f}",
                f"{region.transfer_usd:.2f}",
            )
            for region in policy.regions
        ]
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            cells = [
                cell.ljust(width) if i < 2 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append("  " + "  ".join(cells).rstrip())
        for region in policy.regions:
            lines.append(f"  kept in {region.region} at the end (newest first):")
            if not region.kept:
                lines.append("    (none)")
            for point in region.kept:
                lines.append(f"    {_iso(point.slot)}  {', '.join(point.reasons)}")
    return "\n".join(lines)
