"""End-to-end fixtures: the whole offline twin (the Compute emulator, and devhost running this
repository's ``function_app.py``, on one world clock) driven as in production — by the
scheduler tick, the durable client and the HTTP API — and checked with the real
azure-mgmt-compute client and the emulator's control plane.

Timing. Every twin runs at ``TIME_SCALE`` (a world hour lasts six real seconds) with a
scheduler tick every world minute. The policy (``policies/e2e.yaml``) is a template: each
test writes a copy whose schedules are one cron per slot, at exact instants read from the
world clock (:func:`plan_slots`). So a test knows in advance which cycles will run, and no
further slot fires while it inspects the results or re-runs one. The first slot is the
minute the twin starts in, before devhost runs: the first tick takes it as a catch-up
(``catchUp: latest``). Slots are a world hour apart so that the test can write to the disks
between two slots, well before the next one. Waiting is polling with generous deadlines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.compute.models import Snapshot
from ruamel.yaml import YAML

from devhost.testing import DevHostError
from diskdr.clock import WorldClock
from diskdr.naming import TAG_OWNER, TAG_ROLE
from diskdr.scheduler import cycle_instance_id
from twin.harness import SUBSCRIPTION, Twin

TIME_SCALE = 600.0
SLOT_SPACING = timedelta(hours=1)
IDLE_OFFSET = timedelta(days=182)  # when the template's other policies fire
CYCLE_TIMEOUT = 120.0  # real seconds; a cycle of a few VMs takes about one
POLICY = "e2e"
INSTALL_ID = "diskdr-e2e"
PRIMARY_REGION = "eastus"
REPLICA_REGION = "westus2"
REPLICA_GROUP = "rg-dr-westus2"
POLICIES = Path(__file__).parent / "policies"


# --- the estate ---------------------------------------------------------------------------
def vm(name: str, backup: str, os_sku: str = "Premium_LRS", data: tuple = ()) -> dict[str, Any]:
    """A VM of the estate seed; ``data`` holds ``(lun, sku)`` or ``(lun, sku, tags)``."""
    disks = []
    for lun, sku, *tags in data:
        disk = {"lun": lun, "sizeGB": 64, "sku": sku}
        if tags:
            disk["tags"] = tags[0]
        disks.append(disk)
    return {
        "name": name,
        "tags": {"backup": backup},
        "osDisk": {"sizeGB": 32, "sku": os_sku},
        "dataDisks": disks,
    }


def estate(groups: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """An estate seed: VMs per resource group in the primary region, plus the (empty)
    resource group of the replicas in the secondary region."""
    resource_groups = [
        {"name": name, "location": PRIMARY_REGION, "vms": vms} for name, vms in groups.items()
    ]
    resource_groups.append({"name": REPLICA_GROUP, "location": REPLICA_REGION})
    return {"subscriptions": [{"id": SUBSCRIPTION, "resourceGroups": resource_groups}]}


# --- the policy ---------------------------------------------------------------------------
def plan_slots(clock: WorldClock, count: int, spacing: timedelta = SLOT_SPACING) -> list[datetime]:
    """``count`` slots ``spacing`` apart, the first being the current world minute."""
    first = clock.now().replace(second=0, microsecond=0)
    return [first + n * spacing for n in range(count)]


def slot_cron(slot: datetime) -> str:
    """An NCRONTAB expression that fires at ``slot`` only (once a year)."""
    return f"0 {slot.minute} {slot.hour} {slot.day} {slot.month} *"


def write_policy(destination: Path, slots: list[datetime], template: Path) -> Path:
    """A copy of the policy template whose first policy fires at ``slots`` only (UTC).

    Any further policy of the template fires once a year, half a year from now: never
    during a test, whatever the date.
    """
    yaml = YAML()
    data = yaml.load(template.read_text())
    first, *others = data["policies"]
    first["schedules"] = [{"cron": slot_cron(slot), "timeZone": "UTC"} for slot in slots]
    for policy in others:
        policy["schedules"] = [{"cron": slot_cron(slots[0] + IDLE_OFFSET), "timeZone": "UTC"}]
    with destination.open("w") as out:
        yaml.dump(data, out)
    return destination


# --- a running twin -----------------------------------------------------------------------
@dataclass
class TwinRun:
    """A started twin with its planned slots, and what tests ask of it."""

    twin: Twin
    slots: list[datetime]
    seeded: dict[str, list[str]]
    policy_file: Path

    @property
    def control(self) -> Any:
        return self.twin.control

    @property
    def clock(self) -> WorldClock:
        return self.twin.clock

    def compute(self) -> ComputeManagementClient:
        return self.twin.compute()

    def cycle_id(self, slot: datetime) -> str:
        return cycle_instance_id(POLICY, slot)

    def wait_report(self, instance_id: str, timeout: float = CYCLE_TIMEOUT) -> dict[str, Any]:
        """Wait for a ``backup_cycle`` instance to end; its run report (it must complete)."""
        host = self.twin.host
        assert host is not None, "devhost not started"
        try:
            status = host.wait_for(instance_id, timeout=timeout)
        except DevHostError as error:
            raise AssertionError(f"{error}\n{self.log_tail()}") from None
        assert status["runtimeStatus"] == "Completed", f"{status}\n{self.log_tail()}"
        return status["output"]

    def wait_cycle(self, slot: datetime, timeout: float = CYCLE_TIMEOUT) -> dict[str, Any]:
        """The run report of the scheduled cycle of ``slot``, once it has completed."""
        host = self.twin.host
        assert host is not None
        try:
            host.wait_until(
                lambda: host.status(self.cycle_id(slot)) is not None,
                timeout=timeout,
                what=f"the scheduler tick starting {self.cycle_id(slot)}",
            )
        except DevHostError as error:
            raise AssertionError(f"{error}\n{self.log_tail()}") from None
        return self.wait_report(self.cycle_id(slot), timeout)

    def start_cycle(self, instance_id: str, cycle_input: Any) -> None:
        """Start ``backup_cycle`` through the real durable client (as the tick does)."""
        host = self.twin.host
        assert host is not None
        client = host.client()
        host.run(client.start_new("backup_cycle", instance_id, cycle_input))

    def cycle_input(self, instance_id: str) -> Any:
        host = self.twin.host
        assert host is not None
        status = host.run(host.client().get_status(instance_id, show_input=True))
        return status.input_

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot of the subscription, in every region (the real SDK's listing)."""
        return list(self.compute().snapshots.list())

    def ours(self) -> list[Snapshot]:
        """The snapshots carrying this install's owner tag."""
        return [s for s in self.snapshots() if (s.tags or {}).get(TAG_OWNER) == INSTALL_ID]

    def stats(self) -> dict[str, Any]:
        return self.control.stats()

    def digest(self, resource_id: str) -> str:
        return self.control.content(resource_id)["digest"]

    def log_tail(self, chars: int = 6000) -> str:
        host = self.twin.host
        if host is None or host.state_dir is None or not host.log_path.exists():
            return "(no devhost log)"
        return "devhost log (tail):\n" + host.log_path.read_text(errors="replace")[-chars:]


@contextlib.contextmanager
def start_twin(
    state_dir: Path,
    seed: dict[str, Any],
    slot_count: int,
    *,
    settings: dict[str, str] | None = None,
    throttle: bool = False,
    template: Path = POLICIES / "e2e.yaml",
    prepare: Callable[[TwinRun], None] | None = None,
    spacing: timedelta = SLOT_SPACING,
    time_scale: float = TIME_SCALE,
) -> Iterator[TwinRun]:
    """Start a twin on the test policy with ``slot_count`` planned slots ``spacing`` apart.

    The emulator starts and the estate is seeded (then ``prepare`` runs: faults, foreign
    snapshots, emulator configuration) before devhost starts, so the first scheduler tick
    already sees all of it. Both processes are stopped by PID on exit. ``time_scale`` other
    than ``TIME_SCALE`` is for tests whose world waits must last longer in real time.
    """
    policy_file = state_dir / "policies.yaml"
    twin = Twin(
        policy_file=policy_file,
        time_scale=time_scale,
        throttle=throttle,
        install_id=INSTALL_ID,
        settings=settings,
        state_dir=state_dir / "twin",
    )
    slots = plan_slots(WorldClock(twin.time_scale, twin.anchor), slot_count, spacing)
    write_policy(policy_file, slots, template)
    try:
        twin.start(host=False)
        run = TwinRun(twin, slots, twin.control.estate(seed)["created"], policy_file)
        if prepare is not None:
            prepare(run)
        twin.start_host()
        yield run
    finally:
        twin.stop()


# --- reading run reports ------------------------------------------------------------------
def disk_outcomes(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every disk's outcome of a run report, with its VM's id and group state added."""
    return [
        {**disk, "vmId": vm_outcome["vmId"], "groupState": vm_outcome["state"]}
        for vm_outcome in report["vms"]
        for disk in vm_outcome["disks"]
    ]


def problems(report: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(disk name, error, replica error) of every disk that did not fully succeed: the
    message of a failed assertion on a report."""
    return [
        (o["diskName"], o["error"], o["replicaError"])
        for o in disk_outcomes(report)
        if o["error"] or o["replicaError"]
    ]


def role_of(snapshot: Snapshot) -> str | None:
    return (snapshot.tags or {}).get(TAG_ROLE)


def same_id(first: str, second: str) -> bool:
    """Azure resource ids compare case-insensitively."""
    return first.lower() == second.lower()
