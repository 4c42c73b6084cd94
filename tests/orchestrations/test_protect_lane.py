"""The complete phase's work queue: the vm_queue entity and the protect_lane loop over it.

The entity runs for real (through the SDK's ``Entity.handle``); protect_vm is scripted per
VM, so each test says exactly which VM succeeds and which fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from diskdr.backup import ProtectJob, VmOutcome
from orchestrations import backup_cycle as cycle_module
from orchestrations.backup_cycle import backup_cycle, protect_lane, take_batch
from orchestrations.vm_queue import loaded, take_next, vm_queue
from tests.orchestrations.conftest import orchestrator_function
from tests.orchestrations.estate import (
    LOCAL,
    FakeAzure,
    RealEntity,
    cycle_input,
    protect_input,
    vm,
)
from tests.orchestrations.fake_context import FakeContext, Nested, TaskFailed, run

CYCLE = "cycle-local-202603010400"


def jobs(count: int) -> list[dict[str, Any]]:
    return [protect_input(vm(f"vm{n}", "Premium_LRS"), LOCAL) for n in range(count)]


def test_the_queue_hands_out_every_vm_once_in_order_and_keeps_each_answer():
    state = loaded(jobs(3))
    assert "policy" in state["shared"] and all(set(v) == {"vm", "taken"} for v in state["vms"])
    handed = []
    answer = None
    while True:
        state, handout = take_next(state, answer)
        if handout is None:
            break
        assert ProtectJob.from_dict(handout["job"]) == ProtectJob.from_dict(
            jobs(3)[handout["index"]]
        ), "the shared fields and the VM's own make its job back"
        handed.append(handout["index"])
        answer = {"index": handout["index"], "error": f"e{handout['index']}"}
    assert handed == [0, 1, 2]
    assert state["vms"] == [None, None, None], "what was handed out is not kept"
    assert state["answers"] == {"0": {"error": "e0"}, "1": {"error": "e1"}, "2": {"error": "e2"}}
    state, handout = take_next(state, None)
    assert handout is None, "an empty queue stays empty"


def test_jobs_that_differ_in_more_than_their_vm_are_refused():
    first, second = jobs(2)
    second["trigger"] = "on-demand"
    with pytest.raises(ValueError, match="differ"):
        loaded([first, second])


def test_the_entity_forgets_the_cycle_once_its_results_are_read():
    entity = RealEntity(vm_queue, ("put", "load", "next", "results"))
    assert entity.call(CYCLE, "load", loaded(jobs(2))) == 2
    first = entity.call(CYCLE, "next", None)
    second = entity.call(CYCLE, "next", {"index": first["index"], "error": "boom"})
    assert (first["index"], second["index"]) == (0, 1)
    assert entity.call(CYCLE, "next", {"index": 1, "error": "bang"}) is None
    assert entity.call(CYCLE, "results", None) == {"0": {"error": "boom"}, "1": {"error": "bang"}}
    assert CYCLE not in entity.states, "deleted: nothing is left per cycle"
    # A re-run of the same cycle id starts from a fresh queue.
    entity.call(CYCLE, "load", loaded(jobs(1)))
    assert entity.call(CYCLE, "next", None)["index"] == 0


def points(vm_id: str) -> list[dict[str, Any]]:
    """Stand-ins for a VM's taken DiskOutcomes (the queue keeps them as they are)."""
    return [{"diskId": f"{vm_id}-os", "point": {"id": f"{vm_id}-os-point"}}]


def test_points_put_before_the_load_are_joined_to_their_vms_and_kept_until_answered():
    entity = RealEntity(vm_queue, ("put", "load", "next", "results"))
    three = jobs(3)
    ids = [job["vm"]["id"] for job in three]
    # Two take batches put their points (vm2's batch failed: it has none).
    entity.call(CYCLE, "put", {ids[0]: points(ids[0])})
    entity.call(CYCLE, "put", {ids[1]: points(ids[1])})
    assert entity.call(CYCLE, "load", loaded(three)) == 3
    first = entity.call(CYCLE, "next", None)
    assert first["job"]["taken"] == points(ids[0]), "the queue hands out the VM's points"
    second = entity.call(CYCLE, "next", {"index": 0, "outcome": {"ok": 0}})
    assert second["job"]["taken"] == points(ids[1])
    third = entity.call(CYCLE, "next", {"index": 1, "error": "protect_vm failed"})
    assert third["job"]["taken"] is None, "vm2's protect_vm takes its points itself"
    # vm2's lane dies holding it: nothing answers for it.
    answers = entity.call(CYCLE, "results", None)
    assert answers["0"] == {"outcome": {"ok": 0}}, "an outcome needs no points beside it"
    assert answers["1"] == {"error": "protect_vm failed", "taken": points(ids[1])}
    assert "2" not in answers


def test_results_give_the_points_of_vms_no_lane_answered_for():
    entity = RealEntity(vm_queue, ("put", "load", "next", "results"))
    two = jobs(2)
    ids = [job["vm"]["id"] for job in two]
    entity.call(CYCLE, "put", {vm_id: points(vm_id) for vm_id in ids})
    entity.call(CYCLE, "load", loaded(two))
    entity.call(CYCLE, "next", None)  # vm0 handed out; its lane then fails; vm1 never is
    assert entity.call(CYCLE, "results", None) == {
        "0": {"taken": points(ids[0])},
        "1": {"taken": points(ids[1])},
    }


def scripted(failing: set[str]) -> Any:
    """protect_vm answering each VM at once; the VMs named in ``failing`` fail."""

    def protect(payload: dict[str, Any]) -> dict[str, Any]:
        job = ProtectJob.from_dict(payload)
        if job.vm.name in failing:
            raise TaskFailed(f"Orchestrator function 'protect_vm' failed: {job.vm.name}")
        return VmOutcome.start(job).to_dict()

    return protect


def lane_world(failing: set[str] = frozenset()) -> tuple[RealEntity, dict[str, Any]]:
    entity = RealEntity(vm_queue, ("put", "load", "next", "results"))
    responders = {**entity.responders(), "protect_vm": scripted(failing)}
    return entity, responders


def test_a_lane_continues_as_new_and_hands_in_the_answer_it_carried(monkeypatch):
    monkeypatch.setattr(cycle_module, "LANE_VMS_PER_EXECUTION", 2)
    entity, responders = lane_world(failing={"vm2"})
    entity.call(CYCLE, "load", loaded(jobs(5)))
    context = FakeContext({"cycle": CYCLE}, instance_id=f"{CYCLE}:lane:000")
    output = run(orchestrator_function(protect_lane), context, responders)

    assert output == {"vms": 5}
    assert context.generations == 3, "two VMs per execution, then a fresh history"
    names = [ProtectJob.from_dict(t.input).vm.name for t in context.calls("protect_vm")]
    assert names == [f"vm{n}" for n in range(5)]
    # The answer of the last VM of an execution travels in the next execution's input and
    # is handed in with its first call: no answer is lost across continue_as_new.
    answers = entity.call(CYCLE, "results", None)
    assert sorted(answers, key=int) == ["0", "1", "2", "3", "4"]
    assert "protect_vm' failed: vm2" in answers["2"]["error"], "a failed VM reports"
    assert all("outcome" in answers[str(n)] for n in (0, 1, 3, 4)), "the others go on"


def test_a_vm_whose_lane_failed_reports_it_and_the_other_lanes_protect_the_rest():
    azure = FakeAzure(vms=[vm(f"vm{n}", "Premium_LRS") for n in range(4)])
    entity, responders = lane_world()
    responders = {**azure.responders(), **responders}
    responders["take_batch"] = Nested(take_batch, responders)
    lanes_started = []

    def lane_that_dies_holding_a_vm(payload: dict[str, Any]) -> Any:
        lanes_started.append(payload)
        if len(lanes_started) == 1:  # takes a VM, then fails (e.g. a bad deploy)
            entity.call(payload["cycle"], "next", None)
            raise TaskFailed("Orchestrator function 'protect_lane' failed: KeyError")
        child = FakeContext(payload, instance_id=f"{CYCLE}:lane:{len(lanes_started):03d}")
        return run(orchestrator_function(protect_lane), child, responders)

    responders["protect_lane"] = lane_that_dies_holding_a_vm
    context = FakeContext(cycle_input(LOCAL, vms_in_flight=2, prune=False), instance_id=CYCLE)
    report = run(orchestrator_function(backup_cycle), context, responders)

    by_name = {v["vmName"]: v for v in report["vms"]}
    assert list(by_name) == ["vm0", "vm1", "vm2", "vm3"], "every VM reports, in order"
    message = by_name["vm0"]["error"]["message"]
    assert "no lane reported its outcome; a lane failed" in message and "KeyError" in message
    assert all(by_name[name]["error"] is None for name in ("vm1", "vm2", "vm3"))
    assert by_name["vm0"]["disks"][0]["point"], "its points taken in phase 1 stay reported"
    assert report["phase"] == "PartiallyFailed"
    assert CYCLE not in entity.states
