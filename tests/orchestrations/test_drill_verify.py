"""The drill's verify script, stepped as a generator: started once, watched with durable
timers until its execution state ends; only ``Succeeded`` with exit 0 passes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrations.drill import VERIFY_DEADLINE, drill_vm, run_verify_script
from tests.orchestrations.conftest import orchestrator_function
from tests.orchestrations.fake_context import DEFAULT_NOW, FakeContext, TaskFailed, run
from tests.unit.test_restore import plan

SUBNET = "/subscriptions/s/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v/subnets/a"
DRILL_VM = orchestrator_function(drill_vm)
PLAN = replace(plan("vm", subnet=SUBNET), verify_script="test -s /data/db || exit 1")


def verify(states: list[dict[str, Any]], start: dict[str, Any] | None = None):
    answers = iter(states)
    context = FakeContext()
    responders = {
        "begin_verify_script": lambda _: start or {"id": "x"},
        "verify_script_state": lambda _: next(answers),
    }
    output = run(lambda ctx: run_verify_script(ctx, PLAN), context, responders)
    return output, context


def test_the_script_is_polled_until_it_ends_and_its_exit_code_reported() -> None:
    states = [
        {"executionState": "Pending"},
        {"executionState": None},  # a read that failed for now: asked again
        {"executionState": "Running"},
        {"executionState": "Failed", "exitCode": 1, "error": "no database"},
    ]
    output, context = verify(states)
    assert output == states[-1]
    [start] = context.calls("begin_verify_script")
    assert start.input["verifyScript"] == PLAN.verify_script
    assert len(context.calls("verify_script_state")) == 4 and len(context.timers) == 3


def test_a_timeout_is_no_pass_and_a_refused_start_is_reported() -> None:
    output, _ = verify([{"executionState": "TimedOut", "exitCode": 0}])
    assert output["exitCode"] is None
    error = {"code": "OperationNotAllowed", "message": "VM is stopped"}
    output, context = verify([], start={"id": "x", "error": error})
    assert output == {"executionState": "NotStarted", "exitCode": None, "error": error}
    assert context.calls("verify_script_state") == []


def test_a_script_still_running_at_the_deadline_fails() -> None:
    output, context = verify([{"executionState": "Running"}] * 200)
    assert output["error"]["code"] == "DeadlineExceeded" and output["exitCode"] is None
    # It waited exactly up to the deadline (the last timer is cut short there), no longer.
    assert context.current_utc_datetime - DEFAULT_NOW == VERIFY_DEADLINE


def drill_one(verify_state: Any) -> tuple[dict[str, Any], set[str]]:
    """A whole ``drill_vm`` of PLAN against fake Azure; its report and what is left."""
    existing: set[str] = set()

    def begin(resource: str) -> dict[str, Any]:
        existing.add(resource)
        return {"id": resource}

    def delete(resource: str) -> dict[str, Any]:
        existing.discard(resource)
        return {"id": resource}

    responders = {
        "begin_restore_disk": lambda disk: begin(
            next(d.restored_disk_id for d in PLAN.disks if d.name == disk["name"])
        ),
        "begin_restore_nic": lambda _: begin(PLAN.nic_resource_id or ""),
        "begin_restore_vm": lambda _: begin(PLAN.vm_resource_id or ""),
        "restored_states": lambda ids: {
            r: ({"state": "Succeeded", "sizeGB": 64} if r in existing else None) for r in ids
        },
        "check_restored_content": lambda _: {"result": "passed", "details": []},
        "begin_verify_script": lambda _: {"id": "x"},
        "verify_script_state": verify_state,
        "begin_delete_restored": delete,
    }
    context = FakeContext(PLAN.to_dict())
    return run(DRILL_VM, context, responders), existing


def test_a_drill_vm_fails_on_a_non_zero_exit_or_a_lost_activity_and_cleans_up() -> None:
    report, left = drill_one(lambda _: {"executionState": "Succeeded", "exitCode": 0})
    assert report["contentCheck"] == "passed" and report["cleanedUp"] and not left
    report, left = drill_one(lambda _: {"executionState": "Failed", "exitCode": 1})
    assert report["contentCheck"] == "failed" and report["verifyScript"]["exitCode"] == 1
    assert report["cleanedUp"] and not left

    def crash(_: Any) -> Any:
        raise TaskFailed("activity lost")

    report, left = drill_one(crash)
    assert report["contentCheck"] == "failed" and report["verifyScript"]["error"]["code"] == (
        "Unexpected"
    )
    assert report["cleanedUp"] and not left
