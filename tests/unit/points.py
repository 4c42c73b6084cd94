"""Builders of recovery points for unit tests of pruning, backup and compliance."""

from datetime import UTC, datetime, timedelta

from diskdr.model import RecoveryPoint
from diskdr.naming import group_id, id_tag_value, point_name

SUB = "00000000-0000-0000-0000-000000000001"
OWNER = "install-a"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


COMPUTE = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute"


def vm_id(vm: str) -> str:
    return f"{COMPUTE}/virtualMachines/{vm}"


def disk_id(disk: str) -> str:
    return f"{COMPUTE}/disks/{disk}"


def point(
    vm: str = "vm1",
    disk: str = "d0",
    hours: float = 0,
    *,
    role: str = "primary",
    state: str = "usable",
    owner: str = OWNER,
    policy: str = "gold",
    region: str | None = None,
    source: RecoveryPoint | None = None,
    hold: bool = False,
    uid: str | None = None,
    members: int | None = None,
    created: float | None = None,
) -> RecoveryPoint:
    """A point of ``disk`` at slot T0 + ``hours``, created 30 s after its slot unless
    ``created`` (hours after T0) says when (a catch-up or a late retry)."""
    slot = T0 + timedelta(hours=hours)
    region = region or ("eastus" if role == "primary" else "westus2")
    group_rg = "rg-app" if role == "primary" else "rg-dr"
    name = point_name(owner, vm_id(vm), disk_id(disk), slot, role=role)  # type: ignore[arg-type]
    return RecoveryPoint(
        id=f"/subscriptions/{SUB}/resourceGroups/{group_rg}/providers/"
        f"Microsoft.Compute/snapshots/{name}",
        name=name,
        region=region,
        resource_group=group_rg,
        subscription_id=SUB,
        role=role,  # type: ignore[arg-type]
        owner=owner,
        policy=policy,
        vm_id=id_tag_value(vm_id(vm)),
        disk_id=id_tag_value(disk_id(disk)),
        disk_uid=uid or f"uid-{disk}",
        slot=slot,
        group=group_id(owner, vm_id(vm), slot),
        consistency="crash",
        state=state,  # type: ignore[arg-type]
        completion_percent=100.0 if state == "usable" else 40.0,
        source_id=id_tag_value(source.id) if source is not None else None,
        created_at=slot + timedelta(seconds=30)
        if created is None
        else T0 + timedelta(hours=created),
        hold=hold,
        members=members,
    )
