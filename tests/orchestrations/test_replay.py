"""The orchestrators under the Durable SDK's own replay: deterministic, and as the fake says."""

from __future__ import annotations

import itertools

import azure.durable_functions as df
import pytest

from orchestrations.backup_cycle import backup_cycle, protect_lane, take_batch
from orchestrations.protect_vm import protect_vm
from orchestrations.prune_policy import prune_policy
from tests.orchestrations.conftest import orchestrator_function
from tests.orchestrations.estate import (
    LOCAL,
    FakeAzure,
    cycle_input,
    protect_input,
    queue_responders,
    vm,
)
from tests.orchestrations.fake_context import FakeContext, Nested, run
from tests.orchestrations.replay import NonDeterminism, ReplayRun
from tests.unit.points import point


def waiting_azure() -> FakeAzure:
    # A Premium SSD v2 point Pending for a few looks: activities with retry, timers, backoff.
    return FakeAzure(
        states={"analytics-data0": ["pending:0", "pending:40", "pending:80", "usable"]}
    )


def test_protect_vm_replays_deterministically_and_ends_as_under_the_fake():
    job = protect_input(vm("analytics", "PremiumV2_LRS"), LOCAL)
    replay = ReplayRun(protect_vm, job, waiting_azure().responders(), "cycle:vm:1")
    output = replay.run()

    assert output["state"] == "complete"
    assert replay.episodes > 4, "each wake-up replayed the orchestrator from its start"
    kinds = [action["actionType"] for action in replay.actions]
    assert kinds.count(5) == 2 and kinds.count(1) == 2  # two timers, two take_point (retry)
    fake = run(
        orchestrator_function(protect_vm),
        FakeContext(job, instance_id="cycle:vm:1"),
        waiting_azure().responders(),
    )
    assert output == fake


def test_backup_cycle_with_its_sub_orchestrations_replays_deterministically():
    vms = [vm(f"vm{n}", "PremiumV2_LRS") for n in range(3)]

    def world() -> tuple[FakeAzure, dict]:
        azure = FakeAzure(
            vms=vms,
            states={f"vm{n}-data0": ["pending:0"] * (n + 1) + ["usable"] for n in range(3)},
            prune_remove=[point(hours=-48), point(hours=-44)],
        )
        responders = {**azure.responders(), **queue_responders()}
        responders["protect_vm"] = Nested(protect_vm, responders)
        responders["protect_lane"] = Nested(protect_lane, responders)
        responders["take_batch"] = Nested(take_batch, responders)
        responders["prune_policy"] = Nested(prune_policy, responders)
        return azure, responders

    azure, responders = world()
    replay = ReplayRun(backup_cycle, cycle_input(LOCAL, vm_batch_size=2), responders, "cycle-1")
    report = replay.run()

    assert report["phase"] == "Completed" and report["summary"]["pruned"] == 2
    assert sorted(azure.deleted) == sorted(p.id for p in [point(hours=-48), point(hours=-44)])
    # two take_batch (batches of 2), three protect_lane (here the first one takes every VM
    # from the queue: each lane runs to its end before the next) and prune_policy
    assert len(replay.children) == 6
    _, fake_responders = world()
    fake = run(
        orchestrator_function(backup_cycle),
        FakeContext(cycle_input(LOCAL, vm_batch_size=2), instance_id="cycle-1"),
        fake_responders,
    )
    assert report == fake, "the fake context and the SDK agree, clock included"


bp = df.Blueprint()
flips = itertools.count()


@bp.orchestration_trigger(context_name="context")
def empty_fan_out(context: df.DurableOrchestrationContext):
    results = yield context.task_all([])
    return {"results": results}


@bp.orchestration_trigger(context_name="context")
def reads_the_outside_world(context: df.DurableOrchestrationContext):
    # Wrong on purpose: the choice changes from one replay to the next.
    first = "take_point" if next(flips) % 2 == 0 else "point_states"
    yield context.call_activity(first, None)
    yield context.call_activity("take_point", None)
    return "done"


def test_the_sdk_resolves_an_empty_task_all_to_none_as_the_fake_does():
    assert ReplayRun(empty_fan_out, None, {}).run() == {"results": None}
    assert run(orchestrator_function(empty_fan_out), FakeContext(), {}) == {"results": None}


def test_the_replay_loop_catches_a_non_deterministic_orchestrator():
    answer = {"take_point": lambda _input: {}, "point_states": lambda _input: {}}
    with pytest.raises(NonDeterminism):
        ReplayRun(reads_the_outside_world, None, answer).run()
