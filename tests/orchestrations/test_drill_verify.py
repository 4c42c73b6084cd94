"""The drill's verify script, stepped as a generator: started once, watched with durable
timers until its execution state ends; only ``Succeeded`` with exit 0 passes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from orchestrations.drill import VERIFY_DEADLINE, run_verify_script
from tests.orchestrations.fake_context import DEFAULT_NOW, FakeContext, run
from tests.unit.test_restore import plan

SUBNET = "/subscriptions/s/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v/subnets/a"
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
