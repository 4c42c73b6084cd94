"""A scripted Azure behind the restore point activities, for the orchestrator tests.

:class:`FakeRestorePoints` answers ``take_restore_point``, ``restore_point_state`` and
``start_restore_point_copy`` with real records: :class:`~diskdr.restore_points.VmRestorePoint`
built by the real conversion (``to_vm_restore_point``) from views of the job's collection
and names, so identity, slot, group and per-disk state come out as the service makes them.
Scripts are per VM name. :class:`FakeCopies` is the ``restore_point_copies`` entity over the
real ``record_copy``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from diskdr.backup import Failure, NewestCopy, PolicyRef
from diskdr.naming import collection_name, restore_point_name
from diskdr.restore_points import (
    CollectionView,
    DiskRestorePointView,
    RestorePointCopyJob,
    RestorePointJob,
    RestorePointTake,
    RestorePointView,
    VmRestorePoint,
    collection_resource_id,
    collection_tags,
    record_copy,
    to_vm_restore_point,
)
from tests.orchestrations.estate import INSTALL, SLOT, SUB, Keyed
from tests.orchestrations.fake_context import TaskFailed

CRASH = PolicyRef("gold", "vm-crash", replica_region="westus2", replica_resource_group="rg-dr")
APP_LOCAL = PolicyRef("local", "vm-app")


def at(minutes: float) -> datetime:
    """The instant ``minutes`` after the slot."""
    return SLOT + timedelta(minutes=minutes)


def view_of(
    collection: CollectionView,
    name: str,
    disks: Sequence[tuple[str, str]],  # (disk id, unique id)
    state: str,
    *,
    source: str | None = None,
    created_at: datetime = SLOT,
) -> RestorePointView | None:
    """A restore point in a scripted state: ``usable``, ``creating``, ``pending[:percent]``
    (a copy crossing regions, or a Premium SSD v2 point hydrating), ``failed[:code]``
    (Azure's Failed point: no disk restore points) or ``gone`` (None)."""
    kind, _, detail = state.partition(":")
    if kind == "gone":
        return None
    rp_id = f"{collection.id}/restorePoints/{name}"
    provisioning = {"creating": "Creating", "failed": "Failed"}.get(kind, "Succeeded")
    views = []
    for n, (disk_id, uid) in enumerate(disks):
        fields: dict[str, Any] = {}
        if kind == "pending" and n == len(disks) - 1:
            if source:
                fields = {"replication": "inprogress", "completion_percent": float(detail or 0)}
            else:
                fields = {"access_state": "Pending"}
        elif source and kind == "usable":
            fields = {"replication": "succeeded", "completion_percent": 100.0}
        drp = f"{rp_id}/diskRestorePoints/{disk_id.rsplit('/', 1)[1]}_{n}"
        views.append(
            DiskRestorePointView(
                drp,
                disk_id,
                uid,
                source_id=f"{source}/diskRestorePoints/d{n}" if source else None,
                **fields,
            )
        )
    return RestorePointView(
        rp_id,
        name,
        provisioning,
        "CrashConsistent",
        created_at,
        source,
        () if kind == "failed" else tuple(views),
    )


@dataclass
class Script:
    states: list[str]
    looks: int = 0

    def next(self) -> str:
        state = self.states[min(self.looks, len(self.states) - 1)]
        self.looks += 1
        return state


@dataclass
class FakeRestorePoints:
    """The restore point activities' answers, scripted per VM name.

    - ``refusals``: vm -> answers of the take before it goes through: ``too-soon:<minutes
      after the slot>`` (Azure's spacing: a refusal with ``not_before``), ``throttled:<min>``,
      ``transient`` (a 503), ``error:<code>`` (a permanent refusal: the last answer).
    - ``crashes``: VMs whose take activity fails outright.
    - ``states``: vm -> the restore point's states, the first as created, then one per look.
    - ``copy_steps``: vm -> answers of ``start_restore_point_copy``: ``start``, ``busy``,
      ``superseded``, ``error:<code>``, ``throttled:<minutes after the slot>``.
    - ``replica_states``: vm -> the copy's states from its creation on.
    """

    refusals: Mapping[str, Sequence[str]] = field(default_factory=dict)
    crashes: set[str] = field(default_factory=set)
    states: Mapping[str, Sequence[str]] = field(default_factory=dict)
    copy_steps: Mapping[str, Sequence[str]] = field(default_factory=dict)
    replica_states: Mapping[str, Sequence[str]] = field(default_factory=dict)
    takes: Counter[str] = field(default_factory=Counter)
    copy_calls: Counter[str] = field(default_factory=Counter)
    made: dict[str, tuple[CollectionView, str, list, Script, str | None]] = field(
        default_factory=dict
    )  # restore point id -> (collection, name, disks, script, source)
    copy_jobs: list[RestorePointCopyJob] = field(default_factory=list)

    def responders(self) -> dict[str, Any]:
        return {
            "take_restore_point": self.take,
            "restore_point_state": self.state,
            "start_restore_point_copy": self.start_copy,
        }

    def take(self, payload: dict[str, Any]) -> dict[str, Any]:
        job = RestorePointJob.from_dict(payload)
        vm = job.vm.name
        if vm in self.crashes:
            raise TaskFailed("Activity function 'take_restore_point' failed: RuntimeError")
        answers = list(self.refusals.get(vm, ()))
        attempt = self.takes[vm]
        self.takes[vm] += 1
        if attempt < len(answers):
            kind, _, detail = answers[attempt].partition(":")
            if kind == "too-soon":
                failure = Failure("too soon after the last point", code="RestorePointTooSoon")
                return RestorePointTake(error=failure, not_before=at(float(detail))).to_dict()
            if kind == "throttled":
                failure = Failure(
                    "throttled", code="OperationNotAllowed", status=429, transient=True
                )
                return RestorePointTake(error=failure, not_before=at(float(detail))).to_dict()
            if kind == "transient":
                failure = Failure("busy", code="ServiceUnavailable", status=503, transient=True)
                return RestorePointTake(error=failure).to_dict()
            failure = Failure(f"Azure refused the restore point of {vm}", code=detail, status=409)
            return RestorePointTake(error=failure).to_dict()
        collection = CollectionView(
            collection_resource_id(SUB, job.resource_group, job.collection_name),
            job.collection_name,
            job.region,
            job.vm.id,
            dict(job.collection_tags),
        )
        disks = [(d.id, d.unique_id) for d in job.vm.disks]
        script = Script(list(self.states.get(vm, ["usable"])))
        rp_id = f"{collection.id}/restorePoints/{job.name}"
        self.made.setdefault(rp_id, (collection, job.name, disks, script, None))
        point = self._look(rp_id)
        error = None
        if point is not None and point.state == "failed":
            error = Failure("Azure failed the restore point", code="VMRestorePointClientError")
        return RestorePointTake(restore_point=point, error=error).to_dict()

    def state(self, restore_point_id: str) -> dict[str, Any]:
        point = self._look(restore_point_id) if restore_point_id in self.made else None
        return {"known": True, "restorePoint": point.to_dict() if point else None}

    def start_copy(self, payload: dict[str, Any]) -> dict[str, Any]:
        job = RestorePointCopyJob.from_dict(payload)
        self.copy_jobs.append(job)
        vm = job.vm_id.rsplit("/", 1)[1]
        steps = list(self.copy_steps.get(vm, ["start"]))
        step = steps[min(self.copy_calls[vm], len(steps) - 1)]
        self.copy_calls[vm] += 1
        action, _, detail = step.partition(":")
        if action == "error":
            failure = Failure("Azure refused the copy", code=detail, status=409)
            return {"action": "start", "error": failure.to_dict()}
        if action == "throttled":
            failure = Failure("too many copies", code="OperationNotAllowed", status=429)
            return {
                "action": "start",
                "error": failure.to_dict(),
                "notBefore": at(float(detail)).isoformat(),
            }
        if action in ("busy", "superseded"):
            return {"action": action, "note": f"{action}: {vm}"}
        name = restore_point_name(INSTALL, job.vm_id, job.slot, "replica")
        collection_id = collection_resource_id(SUB, job.resource_group, job.collection_name)
        source_collection = job.source_collection_id
        collection = CollectionView(
            collection_id,
            job.collection_name,
            job.region,
            source_collection,
            collection_tags(INSTALL, job.policy, job.vm_id, "replica", source=source_collection),
        )
        _, _, disks, _, _ = self.made[job.source_id]
        rp_id = f"{collection_id}/restorePoints/{name}"
        if rp_id not in self.made:
            script = Script(list(self.replica_states.get(vm, ["pending:0", "usable"])))
            self.made[rp_id] = (collection, name, disks, script, job.source_id)
        return {"action": action, "replica": self._look(rp_id).to_dict()}

    def _look(self, restore_point_id: str) -> VmRestorePoint | None:
        collection, name, disks, script, source = self.made[restore_point_id]
        view = view_of(collection, name, disks, script.next(), source=source)
        if view is None:
            return None
        point = to_vm_restore_point(collection, view, INSTALL)
        assert point is not None, "the orchestrator's names and tags must make the point ours"
        return point


@dataclass
class FakeCopies:
    """The ``restore_point_copies`` entity over the real ``record_copy``."""

    state: dict[str, Any] = field(default_factory=dict)  # by entity key

    def responders(self) -> dict[str, Any]:
        return {
            "restore_point_copies.get": Keyed(lambda key, _: self.state.get(key)),
            "restore_point_copies.started": Keyed(self.started),
        }

    def started(self, key: str, given: dict[str, Any]) -> dict[str, Any]:
        started_at = given.get("startedAt")
        self.state[key] = record_copy(
            self.state.get(key),
            NewestCopy.from_dict(given["copy"]),
            datetime.fromisoformat(started_at) if started_at else None,
        )
        return self.state[key]


def replica_collection_name(vm_id: str) -> str:
    return collection_name(vm_id, INSTALL, "replica")
