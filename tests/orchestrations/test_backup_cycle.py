"""backup_cycle stepped as a generator: inventory, protect_vm in batches, prune, the run report.

The VMs are protected by the real protect_vm and replicate_point (nested fake contexts),
pruned by the real prune_policy, over the scripted activities of :class:`FakeAzure`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from diskdr.backup import PointJob, PolicyRef, ProtectJob
from orchestrations.backup_cycle import backup_cycle, protect_lane, take_batch, vm_key
from orchestrations.protect_vm import protect_vm
from orchestrations.prune_policy import prune_policy
from orchestrations.replicate_point import replicate_point
from tests.orchestrations.conftest import orchestrator_function
from tests.orchestrations.estate import (
    GOLD,
    INSTALL,
    FakeAzure,
    FakeGate,
    cycle_input,
    queue_responders,
    vm,
)
from tests.orchestrations.fake_context import FakeContext, Nested, TaskFailed, run
from tests.unit.points import point

CYCLE = "cycle-gold-202603010400"
OLD_POINTS = [point(hours=-96, owner=INSTALL), point(hours=-92, owner=INSTALL)]


def estate(count: int = 3) -> list:
    return [vm(f"vm{n}", "Premium_LRS") for n in range(count)]


def responders_for(azure: FakeAzure, gate: FakeGate | None = None) -> dict[str, Any]:
    responders = {**azure.responders(), **(gate or FakeGate()).responders(), **queue_responders()}
    responders["protect_vm"] = Nested(protect_vm, responders)
    responders["protect_lane"] = Nested(protect_lane, responders)
    responders["take_batch"] = Nested(take_batch, responders)
    responders["replicate_point"] = Nested(replicate_point, responders)
    responders["prune_policy"] = Nested(prune_policy, responders)
    return responders


def protect_calls(context: FakeContext) -> list:
    """Every protect_vm the cycle's lanes scheduled, lane by lane."""
    lanes = [context.children[t.instance_id] for t in context.calls("protect_lane")]
    return [t for lane in lanes for t in lane.calls("protect_vm")]


def batches(context: FakeContext) -> list:
    """The task_all groups the cycle awaited (one per batch of VMs)."""
    return [t for t in context.awaited if t.kind == "all"]


def cycle(
    azure: FakeAzure, job: dict[str, Any], responders: dict[str, Any] | None = None
) -> tuple[dict[str, Any], FakeContext]:
    context = FakeContext(job, instance_id=CYCLE)
    report = run(orchestrator_function(backup_cycle), context, responders or responders_for(azure))
    return report, context


def test_points_are_taken_in_batches_then_vms_complete_in_parallel_lanes():
    machines = estate(5)  # an OS and a data disk each
    azure = FakeAzure(vms=machines)
    report, context = cycle(azure, cycle_input(vm_batch_size=2, vms_in_flight=3))

    # Phase 1: every VM's points, two VMs at a time, before any VM waits or copies.
    take_batches = context.calls("take_batch")
    assert [t.instance_id for t in take_batches] == [f"{CYCLE}:take:{n:03d}" for n in range(3)]
    takes = [
        t
        for batch in take_batches
        for t in batches(context.children[batch.instance_id])
        if t.children[0].name == "take_point"
    ]
    assert [len(t.children) for t in takes] == [4, 4, 2]
    taken = [PointJob.from_dict(c.input).disk.name for t in takes for c in t.children]
    assert taken == [f"vm{n}-{disk}" for n in range(5) for disk in ("os", "data0")]
    lanes = context.calls("protect_lane")
    first_lane = context.scheduled.index(lanes[0])
    assert all(context.scheduled.index(t) < first_lane for t in take_batches)
    # Phase 2: three lanes (vms_in_flight) awaited in one task_all, so they all run at once
    # on Azure too; each pulls VMs from the cycle's queue until it is empty. (The fake runs
    # one lane to its end before the next starts, so the first lane takes every VM here.)
    assert len(lanes) == 3
    assert any(t.kind == "all" and t.children == lanes for t in context.awaited)
    assert not [t for t in context.awaited if t.kind == "any"], "no task_any window"
    assert [t.name for t in context.scheduled if t.kind == "entity"] == [
        "vm_queue.load",
        "vm_queue.results",
    ]
    pulled = [context.children[lane.instance_id].calls("vm_queue.next") for lane in lanes]
    assert [len(calls) for calls in pulled] == [6, 1, 1], "a VM per call, then None"
    assert all(call.entity_key == CYCLE for calls in pulled for call in calls)
    jobs = [ProtectJob.from_dict(t.input) for t in protect_calls(context)]
    assert sorted(j.vm.name for j in jobs) == [m.name for m in machines], "every VM once"
    assert all(j.taken is not None and len(j.taken) == 2 for j in jobs)
    # The points are stored once: each take batch put them into the queue (whose load
    # joined them to the jobs); none is in the cycle's own history.
    puts = [c for b in take_batches for c in context.children[b.instance_id].calls("vm_queue.put")]
    assert [len(put.input) for put in puts] == [2, 2, 1]
    assert all(put.entity_key == CYCLE for put in puts)
    [load] = context.calls("vm_queue.load")
    before_results = json.dumps([(t.input, t.result) for t in [*take_batches, load]])
    assert "/snapshots/" not in before_results, "no point passes through the cycle"
    assert all(entry["taken"] is None for entry in load.input["vms"])
    assert all(t.result == {"vms": 2} or t.result == {"vms": 1} for t in take_batches)
    # protect_vm did not take the points again: the ten takes of phase 1 are all there were.
    every = [context, *context.descendants()]
    assert sum(len(c.calls("take_point")) for c in every) == 10
    assert not any(c.calls("take_point") for c in every if c.calls("protect_vm") or
                   c.instance_id.startswith(f"{CYCLE}:vm:"))  # fmt: skip
    assert report["summary"]["vms"] == 5 and report["phase"] == "Completed"
    assert [v["vmName"] for v in report["vms"]] == [m.name for m in machines]


def test_a_failed_vm_orchestration_is_reported_and_the_others_complete():
    machines = estate(3)
    azure = FakeAzure(vms=machines)
    responders = responders_for(azure)

    def protect_but_vm1(payload: dict[str, Any]) -> Any:
        job = ProtectJob.from_dict(payload)
        if job.vm.name == "vm1":  # e.g. a non-deterministic replay after a deploy
            raise TaskFailed("Orchestrator function 'protect_vm' failed: KeyError: 'vm'")
        child = FakeContext(payload, instance_id=f"{CYCLE}:vm:{vm_key(job.vm.id)}")
        return run(orchestrator_function(protect_vm), child, responders)

    responders["protect_vm"] = protect_but_vm1
    report, _ = cycle(azure, cycle_input(), responders)

    by_name = {vm["vmName"]: vm for vm in report["vms"]}
    assert [vm["vmName"] for vm in report["vms"]] == ["vm0", "vm1", "vm2"]
    assert by_name["vm0"]["error"] is None and by_name["vm2"]["error"] is None
    assert "protect_vm' failed: KeyError" in by_name["vm1"]["error"]["message"]
    # vm1's points were taken in phase 1 and stay reported with its error.
    assert by_name["vm1"]["state"] == "complete" and by_name["vm1"]["disks"][0]["point"]
    assert report["phase"] == "PartiallyFailed" and report["summary"]["usable"] == 6


def test_sub_orchestration_instance_ids_are_deterministic_per_vm():
    machines = estate(4)
    first_ids = [
        t.instance_id for t in protect_calls(cycle(FakeAzure(vms=machines), cycle_input())[1])
    ]
    reordered = FakeAzure(vms=list(reversed(machines)))
    again_ids = [
        t.instance_id for t in protect_calls(cycle(reordered, cycle_input(vm_batch_size=3))[1])
    ]

    assert first_ids == [f"{CYCLE}:vm:{vm_key(m.id)}" for m in machines]
    assert all(re.fullmatch(rf"{CYCLE}:vm:[0-9a-f]{{12}}", i) for i in first_ids)
    assert len(set(first_ids)) == 4
    assert sorted(again_ids) == sorted(first_ids), "a VM's id does not depend on its batch"
    assert vm_key(machines[0].id.upper()) == vm_key(machines[0].id)


def test_an_on_demand_run_protects_the_given_vms_without_inventory():
    machines = estate(2)
    report, context = cycle(FakeAzure(), cycle_input(vms=machines, trigger="on-demand"))

    assert context.calls("list_protected_vms") == []
    assert [v["vmName"] for v in report["vms"]] == ["vm0", "vm1"]
    assert report["trigger"] == "on-demand" and report["phase"] == "Completed"


def test_prune_runs_after_every_vm_and_its_deletions_are_reported():
    azure = FakeAzure(vms=estate(2), prune_remove=OLD_POINTS, prune_keep=[point(owner=INSTALL)])
    report, context = cycle(azure, cycle_input())

    [prune] = context.calls("prune_policy")
    assert context.scheduled.index(prune) > max(
        context.scheduled.index(t) for t in context.calls("protect_lane")
    )
    assert prune.input == {"policy": "gold", "dryRun": False}
    assert prune.instance_id == f"{CYCLE}:prune"
    assert azure.deleted == [p.id for p in OLD_POINTS]
    assert report["prune"]["deleted"] == [p.id for p in OLD_POINTS]
    assert report["summary"]["pruned"] == 2 and report["phase"] == "Completed"


def test_prune_off_leaves_every_point():
    azure = FakeAzure(vms=estate(1), prune_remove=OLD_POINTS)
    report, context = cycle(azure, cycle_input(prune=False))

    assert context.calls("prune_policy") == [] and azure.deleted == []
    assert report["prune"] is None and report["summary"]["pruned"] == 0
    assert report["phase"] == "Completed"


def test_prune_dry_run_plans_and_deletes_nothing():
    azure = FakeAzure(vms=estate(1), prune_remove=OLD_POINTS)
    report, context = cycle(azure, cycle_input(prune_dry_run=True))

    assert context.calls("prune_policy")[0].input == {"policy": "gold", "dryRun": True}
    assert azure.deleted == []
    assert report["prune"]["dryRun"] is True and report["prune"]["deleted"] == []
    assert [item["id"] for item in report["prune"]["plan"]["remove"]] == [p.id for p in OLD_POINTS]
    assert report["phase"] == "Completed"


def test_a_failed_prune_is_reported_and_the_cycle_still_reports_its_points():
    azure = FakeAzure(vms=estate(2))
    responders = responders_for(azure)

    def prune_fails(_request: dict[str, Any]) -> None:
        raise TaskFailed("Orchestrator function 'prune_policy' failed: listing timed out")

    responders["prune_policy"] = prune_fails
    report, context = cycle(azure, cycle_input(), responders)

    assert report["phase"] == "PartiallyFailed"
    assert report["summary"]["pruneFailed"] == 1 and report["summary"]["usable"] == 4
    assert "listing timed out" in report["prune"]["failed"][0]["error"]
    assert context.custom_status["phase"] == "done"


def test_a_refused_delete_is_reported_and_the_others_are_deleted():
    azure = FakeAzure(
        vms=estate(1),
        prune_remove=OLD_POINTS,
        delete_errors={OLD_POINTS[0].id: "ScopeLocked"},
    )
    report, _ = cycle(azure, cycle_input())

    assert azure.deleted == [OLD_POINTS[1].id]
    [failure] = report["prune"]["failed"]
    assert failure["id"] == OLD_POINTS[0].id and failure["error"]["code"] == "ScopeLocked"
    assert report["phase"] == "PartiallyFailed"


@pytest.mark.parametrize(
    ("azure_kwargs", "job_kwargs", "phase"),
    [
        ({}, {}, "Completed"),
        ({"take_errors": {"vm1-data0": "SnapshotsLimitReached"}}, {}, "PartiallyFailed"),
        ({"copy_steps": {"vm0-os": ["error:OperationNotAllowed"]}}, {}, "PartiallyFailed"),
        (
            {"states": {"vm2-data0": ["pending:10"]}},
            {"group_deadline_seconds": 60},
            "PartiallyFailed",
        ),
        ({"crashes": {"vm0-os"}}, {}, "PartiallyFailed"),
        (
            {
                "take_errors": {
                    f"vm{n}-{d}": "QuotaExceeded" for n in range(3) for d in ("os", "data0")
                }
            },
            {},
            "Failed",
        ),
    ],
    ids=[
        "all-ok",
        "one-disk-fails",
        "one-copy-fails",
        "deadline-passed",
        "vm-error",
        "nothing-taken",
    ],
)
def test_the_run_reports_phase(azure_kwargs, job_kwargs, phase):
    report, context = cycle(FakeAzure(vms=estate(3), **azure_kwargs), cycle_input(**job_kwargs))

    assert report["phase"] == phase
    assert len(report["vms"]) == 3, "every VM is reported, whatever happened to the others"
    final = context.custom_status
    assert final["phase"] == "done" and final["result"] == phase
    assert final["vmsDone"] == 3 and final["usable"] == report["summary"]["usable"]


def test_the_report_names_the_failed_disk_and_its_error_code():
    azure = FakeAzure(vms=estate(2), take_errors={"vm1-data0": "SnapshotsLimitReached"})
    report, _ = cycle(azure, cycle_input())

    summary = report["summary"]
    assert (summary["disks"], summary["usable"], summary["failed"], summary["replicated"]) == (
        4,
        3,
        1,
        3,
    )
    [vm1] = [v for v in report["vms"] if v["vmName"] == "vm1"]
    [failed] = [d for d in vm1["disks"] if d["error"]]
    assert failed["diskName"] == "vm1-data0"
    assert failed["error"]["code"] == "SnapshotsLimitReached"
    assert failed["error"]["requestId"] == "req-vm1-data0"
    assert vm1["state"] == "partial"
    assert report["policy"] == GOLD.name and report["slot"] == "2026-03-01T04:00Z"


def test_a_policy_this_version_cannot_run_fails_at_once_with_the_reason():
    azure = FakeAzure(vms=estate(2))
    report, context = cycle(azure, cycle_input(PolicyRef("gold", "vm-future")))
    assert report["phase"] == "Failed" and report["vms"] == []
    assert "consistency 'vm-future' is not supported" in report["error"]
    assert context.scheduled == []  # no inventory, no point, no prune
