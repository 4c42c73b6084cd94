"""A small estate and a scripted Azure behind the activities, for the orchestrator tests.

:class:`FakeAzure` answers the activities' side of the seam (``take_point``,
``point_states``, ``start_copy``, inventory and pruning) with real records built the way
``diskdr.service`` builds them (deterministic names, our tags, ``RecoveryPoint.from_tags``),
scripted per disk by name: what each poll of a point's state shows, which disks Azure
refuses, how a copy goes. :class:`FakeGate` is the copy gate entity over the real lease
table of ``diskdr.copy_slots``; :class:`RealEntity` runs a real entity function (the
cycle's ``vm_queue``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from diskdr import copy_slots, copy_watch
from diskdr.backup import (
    CopyJob,
    CycleJob,
    DiskOutcome,
    Failure,
    NewestCopy,
    PointJob,
    PolicyRef,
    ProtectJob,
    RunOptions,
)
from diskdr.inventory import DiskInfo, VmInfo
from diskdr.model import RecoveryPoint
from diskdr.prune import PruneItem, PrunePlan, digest
from orchestrations.vm_queue import vm_queue
from tests.orchestrations.fake_context import TaskFailed

INSTALL = "install-test"
SUB = "00000000-0000-0000-0000-000000000001"
SLOT = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)
GOLD = PolicyRef("gold", "disk", replica_region="westus2", replica_resource_group="rg-dr")
LOCAL = PolicyRef("local")  # takes points, never copies them
COMPUTE = f"/subscriptions/{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute"


def vm(name: str, *data_skus: str, os_sku: str = "Premium_LRS") -> VmInfo:
    """A VM with an OS disk ``{name}-os`` and data disks ``{name}-data{lun}``."""
    disks = [
        DiskInfo(f"{COMPUTE}/disks/{name}-os", f"{name}-os", "eastus", os_sku, 64, f"uid-{name}-os")
    ]
    disks += [
        DiskInfo(
            f"{COMPUTE}/disks/{name}-data{lun}",
            f"{name}-data{lun}",
            "eastus",
            sku,
            256,
            f"uid-{name}-data{lun}",
            lun,
        )
        for lun, sku in enumerate(data_skus)
    ]
    return VmInfo(
        f"{COMPUTE}/virtualMachines/{name}", name, "eastus", {"backup": "gold"}, tuple(disks)
    )


def protect_input(machine: VmInfo, policy: PolicyRef = GOLD, **options: Any) -> dict[str, Any]:
    return ProtectJob(machine, SLOT, policy, INSTALL, RunOptions(**options)).to_dict()


def cycle_input(
    policy: PolicyRef = GOLD,
    vms: Sequence[VmInfo] | None = None,
    trigger: str = "schedule",
    **options: Any,
) -> dict[str, Any]:
    listed = tuple(vms) if vms is not None else None
    return CycleJob(policy, SLOT, INSTALL, trigger, RunOptions(**options), listed).to_dict()


def snapshot_id(resource_group: str, name: str) -> str:
    return (
        f"/subscriptions/{SUB}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Compute/snapshots/{name}"
    )


def disk_name(point: RecoveryPoint) -> str:
    """The name of the disk a point was taken of (its ``diskdr-disk`` tag ends with it)."""
    return point.disk_id.rsplit("/", 1)[-1]


def with_state(point: RecoveryPoint, state: str) -> RecoveryPoint | None:
    """``point`` in a scripted state: ``usable``, ``pending[:percent]``, ``creating``,
    ``failed:<error code>`` or ``gone`` (deleted: None)."""
    kind, _, detail = state.partition(":")
    if kind == "gone":
        return None
    percent = {"usable": 100.0, "creating": 0.0}.get(kind)
    if kind == "pending":
        percent = float(detail or 0)
    error_code = detail if kind == "failed" else None
    return RecoveryPoint.from_dict(
        {**point.to_dict(), "state": kind, "completionPercent": percent, "errorCode": error_code}
    )


@dataclass
class Script:
    """Successive states of one point, one per look (the last one stays)."""

    states: list[str]
    looks: int = 0

    def next(self) -> str:
        state = self.states[min(self.looks, len(self.states) - 1)]
        self.looks += 1
        return state


@dataclass
class FakeAzure:
    """The activities' answers, scripted per disk name.

    - ``take_errors``: disk -> Azure error code; ``take_point`` reports it (as the service
      does with an ``AzureError``), with status 409 and a request id ``req-<disk>``.
    - ``crashes``: disks whose ``take_point`` activity fails outright (a bug, a worker
      crash, after the retries): the orchestrator sees the SDK's exception.
    - ``states``: disk -> the primary point's states, the first one as created, then one
      per ``point_states`` look. Default: usable at once.
    - ``copy_steps``: disk -> successive answers of ``start_copy``: ``start``, ``adopt``,
      ``busy``, ``superseded``, ``error:<code>`` or ``crash``. Default: ``start``.
    - ``replica_states``: disk -> the replica's states from its creation on, as ``states``.
      Default: ``pending:0`` then usable.
    """

    take_errors: Mapping[str, str] = field(default_factory=dict)
    crashes: set[str] = field(default_factory=set)
    states: Mapping[str, Sequence[str]] = field(default_factory=dict)
    copy_steps: Mapping[str, Sequence[str]] = field(default_factory=dict)
    replica_states: Mapping[str, Sequence[str]] = field(default_factory=dict)
    vms: Sequence[VmInfo] = ()
    prune_remove: Sequence[RecoveryPoint] = ()
    prune_keep: Sequence[RecoveryPoint] = ()
    delete_errors: Mapping[str, str] = field(default_factory=dict)  # point id -> error code
    copy_readers: Mapping[str, str] = field(default_factory=dict)  # point id -> why it stays
    points: dict[str, RecoveryPoint] = field(default_factory=dict)  # every point made, by id
    scripts: dict[str, Script] = field(default_factory=dict)  # by point id
    copy_calls: Counter[str] = field(default_factory=Counter)  # start_copy calls per disk
    deleted: list[str] = field(default_factory=list)

    def responders(self) -> dict[str, Any]:
        return {
            "take_point": self.take_point,
            "point_states": self.point_states,
            "copy_progress": self.copy_progress,
            "start_copy": self.start_copy,
            "list_protected_vms": self.list_protected_vms,
            "plan_prune": self.plan_prune,
            "delete_point": self.delete_point,
            "recheck_prune": self.recheck_prune,
        }

    # --- points ------------------------------------------------------------------------
    def take_point(self, payload: dict[str, Any]) -> dict[str, Any]:
        job = PointJob.from_dict(payload)
        name = job.disk.name
        if name in self.crashes:
            raise TaskFailed(f"Activity function 'take_point' failed: RuntimeError: {name}")
        if name in self.take_errors:
            failure = Failure(
                f"Azure refused the snapshot of {name}",
                code=self.take_errors[name],
                status=409,
                request_id=f"req-{name}",
            )
            return DiskOutcome(job.disk.id, name, job.disk.lun, error=failure).to_dict()
        point = self._make(
            snapshot_id(job.resource_group, job.name), job.name, job.disk.location, job.tags
        )
        script = Script(list(self.states.get(name, ["usable"])))
        self.scripts[point.id] = script
        return DiskOutcome(job.disk.id, name, job.disk.lun, point=self._look(point.id)).to_dict()

    def copy_progress(self, point_ids: list[str]) -> dict[str, Any]:
        """The copy_progress activity: what point_states reads, as the copy watch keeps it."""
        return {
            point_id: copy_watch.progress_of(RecoveryPoint.from_dict(state) if state else None)
            for point_id, state in self.point_states(point_ids).items()
        }

    def point_states(self, point_ids: list[str]) -> dict[str, Any]:
        answer: dict[str, Any] = {}
        for point_id in point_ids:
            current = self._look(point_id) if point_id in self.points else None
            answer[point_id] = current.to_dict() if current else None
        return answer

    def start_copy(self, payload: dict[str, Any]) -> dict[str, Any]:
        job = CopyJob.from_dict(payload)
        name = disk_name(job.point)
        steps = list(self.copy_steps.get(name, ["start"]))
        step = steps[min(self.copy_calls[name], len(steps) - 1)]
        self.copy_calls[name] += 1
        action, _, code = step.partition(":")
        if action == "crash":
            raise TaskFailed("Activity function 'start_copy' failed: KeyError: 'replicas'")
        if action == "error":
            failure = Failure(
                "Azure refused the copy", code=code, status=409, request_id="req-copy"
            )
            return {"action": "start", "error": failure.to_dict()}
        if action == "busy":
            return {"action": "busy", "note": f"a copy of {name} is in flight"}
        if action == "superseded":
            return {"action": "superseded", "note": f"a newer point of {name} is already copied"}
        replica_id = snapshot_id(job.resource_group, job.name)
        if replica_id not in self.points:
            self._make(replica_id, job.name, job.region, job.tags)
            script = Script(list(self.replica_states.get(name, ["pending:0", "usable"])))
            self.scripts[replica_id] = script
        return {"action": action, "replica": self._look(replica_id).to_dict()}

    # --- inventory and pruning ------------------------------------------------------------
    def list_protected_vms(self, policy: str) -> list[dict[str, Any]]:
        return [machine.to_dict() for machine in self.vms]

    def plan_prune(self, request: dict[str, Any]) -> dict[str, Any]:
        now = datetime.fromisoformat(request["now"])
        assert now.utcoffset() is not None, "the prune clock must be aware (UTC)"
        item = lambda p, reasons: PruneItem(  # noqa: E731
            p.id,
            p.region,
            p.role,
            p.vm_id,
            p.disk_id,
            p.slot,
            p.group,
            p.state,
            reasons,
            disk_uid=p.disk_uid,
        )
        decided = PrunePlan(
            request["policy"],
            keep=tuple(item(p, ("last",)) for p in self.prune_keep),
            remove=tuple(item(p, ()) for p in self.prune_remove),
        )
        return digest(decided, act=not request.get("dryRun"))

    def recheck_prune(self, point_ids: list[str]) -> dict[str, str]:
        return {i: self.copy_readers[i] for i in point_ids if i in self.copy_readers}

    def delete_point(self, point_id: str) -> dict[str, Any]:
        if point_id in self.delete_errors:
            failure = Failure("Azure refused the delete", code=self.delete_errors[point_id])
            return {"id": point_id, "deleted": False, "error": failure.to_dict()}
        self.deleted.append(point_id)
        return {"id": point_id, "deleted": True}

    # --- internals ---------------------------------------------------------------------------
    def _make(
        self, point_id: str, name: str, region: str, tags: Mapping[str, str]
    ) -> RecoveryPoint:
        point = RecoveryPoint.from_tags(
            id=point_id,
            name=name,
            region=region,
            tags=tags,
            install_id=INSTALL,
            state="creating",
            created_at=SLOT,
        )
        assert point is not None, "the orchestrator's tags must mark the point as ours"
        self.points[point_id] = point
        return point

    def _look(self, point_id: str) -> RecoveryPoint | None:
        current = with_state(self.points[point_id], self.scripts[point_id].next())
        return current


class Keyed:
    """An entity responder that takes (entity key, input)."""

    keyed = True

    def __init__(self, responder: Any) -> None:
        self.responder = responder

    def __call__(self, key: str, value: Any) -> Any:
        return self.responder(key, value)


@dataclass
class FakeGate:
    """The copy gate entity: the real lease table, granting nothing for the first
    ``refusals`` acquires of each holder (as when other copies fill the gate)."""

    refusals: int = 0
    table: dict[str, Any] = field(default_factory=copy_slots.empty_table)
    acquires: Counter[str] = field(default_factory=Counter)
    newest: dict[str, Any] = field(default_factory=dict)  # copy_order state per entity key
    # The copy_watch entity (its real table, on a clock that ticks at each look); a copy
    # alone reads its replica itself every round (sharing: tests/unit/test_copy_watch.py).
    watch: dict[str, Any] = field(default_factory=copy_watch.empty_table)
    watch_clock: float = 0.0

    def responders(self) -> dict[str, Any]:
        return {
            "copy_gate.acquire": self.acquire,
            "copy_gate.release": self.release,
            "copy_order.get": Keyed(lambda key, _: self.newest.get(key)),
            "copy_order.started": Keyed(self.started),
            "copy_watch.look": self.look,
            "copy_watch.report": self.report,
            "copy_watch.forget": self.forget,
        }

    def look(self, given: dict[str, Any]) -> dict[str, Any]:
        self.watch_clock += 1.0
        self.watch, answer = copy_watch.look(
            self.watch, given["id"], given["holder"], self.watch_clock
        )
        return answer

    def report(self, given: dict[str, Any]) -> bool:
        self.watch = copy_watch.report(self.watch, given["holder"], given["states"], given["since"])
        return True

    def forget(self, replica_id: str) -> bool:
        self.watch = copy_watch.forget(self.watch, replica_id)
        return True

    def started(self, key: str, copy: dict[str, Any]) -> dict[str, Any]:
        given = NewestCopy.from_dict(copy)
        current = self.newest.get(key)
        if current is None or given.is_newer_than(NewestCopy.from_dict(current)):
            self.newest[key] = copy
        return self.newest[key]

    def acquire(self, lease: dict[str, Any]) -> bool:
        request = copy_slots.LeaseRequest.from_dict(lease)
        self.acquires[request.holder] += 1
        if self.acquires[request.holder] <= self.refusals:
            return False
        self.table, granted = copy_slots.acquire(self.table, request, now=0.0)
        return granted

    def release(self, holder: str) -> bool:
        self.table = copy_slots.release(self.table, holder, now=0.0)
        return True

    @property
    def holders(self) -> list[str]:
        return sorted(self.table["leases"])


@dataclass
class RealEntity:
    """A real entity function run one operation at a time through the SDK's
    ``Entity.handle``, with the payload devhost (and the host) sends; the state per key.

    ``operations`` are the names the orchestrators call; each becomes a responder
    ``"<entity>.<operation>"``. An operation that raises fails the call.
    """

    builder: Any
    operations: Sequence[str]
    states: dict[str, str | None] = field(default_factory=dict)  # entity key -> state JSON

    def responders(self) -> dict[str, Any]:
        name = self.builder._function.get_function_name()
        return {
            f"{name}.{operation}": Keyed(
                lambda key, value, operation=operation: self.call(key, operation, value)
            )
            for operation in self.operations
        }

    def call(self, key: str, operation: str, value: Any) -> Any:
        name = self.builder._function.get_function_name()
        payload = {
            "self": {"name": name, "key": key},
            "exists": key in self.states,
            "state": self.states.get(key),
            "batch": [{"name": operation, "input": json.dumps(json.dumps(value))}],
        }
        answer = json.loads(self.builder._function.get_user_function()(json.dumps(payload)))
        if answer.get("entityExists"):
            self.states[key] = answer.get("entityState")
        else:
            self.states.pop(key, None)
        (result,) = answer["results"]
        if result.get("isError"):
            raise TaskFailed(f"{name}.{operation} failed: {result.get('result')}")
        return json.loads(result["result"]) if result.get("result") else None


def queue_responders() -> dict[str, Any]:
    """The backup cycle's vm_queue entity (orchestrations.vm_queue), run for real."""
    return RealEntity(vm_queue, ("put", "load", "next", "results")).responders()
