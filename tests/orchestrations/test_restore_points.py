"""protect_vm and backup_cycle with VM restore points, stepped as generators: one restore
point for all disks, waiting for Azure's limits (scheduled runs) or skipping (on-demand),
waiting for pending disk restore points, the copy through the gate in order and within
Azure's copies per hour, and the take phase of a cycle."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from diskdr.backup import ProtectJob, RunOptions, VmOutcome
from diskdr.restore_points import LIMIT_MARGIN, restore_point_of
from orchestrations.backup_cycle import backup_cycle, protect_lane, take_batch
from orchestrations.protect_vm import protect_vm
from orchestrations.prune_policy import prune_policy
from orchestrations.replicate_restore_point import replicate_restore_point
from tests.orchestrations.conftest import orchestrator_function
from tests.orchestrations.estate import (
    INSTALL,
    SLOT,
    FakeAzure,
    FakeGate,
    cycle_input,
    queue_responders,
    vm,
)
from tests.orchestrations.fake_context import FakeContext, Nested, run
from tests.orchestrations.restore_point_estate import (
    APP_LOCAL,
    CRASH,
    FakeCopies,
    FakeRestorePoints,
    at,
)

INSTANCE = "cycle-gold-202603010400:vm:abc"
PROTECT = orchestrator_function(protect_vm)
CYCLE = orchestrator_function(backup_cycle)


def responders(azure: FakeRestorePoints, gate: FakeGate, copies: FakeCopies) -> dict[str, Any]:
    table = {**azure.responders(), **gate.responders(), **copies.responders()}
    table["replicate_restore_point"] = Nested(replicate_restore_point, table)
    return table


def protect(
    azure: FakeRestorePoints,
    machine=None,
    policy=CRASH,
    trigger: str = "schedule",
    gate: FakeGate | None = None,
    copies: FakeCopies | None = None,
    **options: Any,
) -> tuple[VmOutcome, FakeContext]:
    machine = machine or vm("web", "Premium_LRS", "Premium_LRS")
    job = ProtectJob(machine, SLOT, policy, INSTALL, RunOptions(**options), trigger=trigger)
    gate = gate or FakeGate()
    context = FakeContext(job.to_dict(), instance_id=INSTANCE)
    output = run(PROTECT, context, responders(azure, gate, copies or FakeCopies()))
    assert gate.holders == [], "every copy lease is released"
    return VmOutcome.from_dict(output), context


def test_one_restore_point_holds_every_disk_and_is_copied_whole():
    azure = FakeRestorePoints()
    copies = FakeCopies()
    outcome, context = protect(azure, copies=copies)

    assert outcome.state == "complete" and outcome.error is None and outcome.replicated
    assert [d.disk_name for d in outcome.disks] == ["web-os", "web-data0", "web-data1"]
    [restore_point] = {restore_point_of(d.point.id) for d in outcome.disks}
    [replica] = {restore_point_of(d.replica.id) for d in outcome.disks}
    assert "/resourceGroups/rg-dr/" in replica
    for disk in outcome.disks:
        assert disk.point.consistency == "crash-multi" and disk.point.group == outcome.group
        assert disk.replica.role == "replica" and disk.replica.region == "westus2"
        assert disk.replica.disk_id == disk.point.disk_id
    # One take (retried only for unexpected failures), nothing to poll, one copy.
    [take] = context.calls("take_restore_point")
    assert take.retry is not None and context.calls("take_point") == []
    assert context.calls("restore_point_state") == []
    [copy] = context.calls("replicate_restore_point")
    assert copy.instance_id == f"{INSTANCE}:copy:rp"
    assert copy.input["copy"]["sourceId"] == restore_point
    # The copy was recorded as the VM's newest, with its start time.
    [state] = copies.state.values()
    assert state["newest"]["replicaId"] == replica and len(state["starts"]) == 1
    assert context.custom_status["phase"] == "done"


def test_a_scheduled_run_waits_for_azures_spacing_then_takes_the_point():
    azure = FakeRestorePoints(refusals={"web": ["too-soon:40"]})
    outcome, context = protect(azure)

    assert outcome.state == "complete" and azure.takes["web"] == 2
    # One durable timer, to the instant Azure allows the point.
    assert [timer.fire_at for timer in context.timers][:1] == [at(40)]
    takes = context.calls("take_restore_point")
    assert takes[0].input == takes[1].input


def test_on_demand_and_vm_change_runs_skip_with_the_reason():
    for trigger in ("on-demand", "vm-change"):
        azure = FakeRestorePoints(refusals={"web": ["too-soon:40"]})
        outcome, context = protect(azure, trigger=trigger)
        assert outcome.state == "failed" and context.timers == []
        assert {d.error.code for d in outcome.disks} == {"RestorePointTooSoon"}
        assert azure.takes["web"] == 1 and context.calls("replicate_restore_point") == []


def test_a_refusal_past_the_deadline_is_not_waited_for():
    azure = FakeRestorePoints(refusals={"web": ["too-soon:200"]})
    outcome, context = protect(azure, group_deadline_seconds=3600)
    assert context.timers == [] and azure.takes["web"] == 1
    assert {d.error.code for d in outcome.disks} == {"RestorePointTooSoon"}


def test_transient_refusals_are_asked_again_with_backoff():
    azure = FakeRestorePoints(refusals={"web": ["transient", "throttled:3"]})
    outcome, context = protect(azure)
    assert outcome.state == "complete" and azure.takes["web"] == 3
    first, second = (t.fire_at for t in context.timers[:2])
    assert (first - context.started_at).total_seconds() == 15  # backoff after the 503
    assert second == at(3)  # then the instant the 429 named


def test_a_failed_restore_point_reports_azures_code_and_is_not_copied():
    azure = FakeRestorePoints(states={"web": ["failed"]})
    outcome, context = protect(azure)
    assert outcome.state == "failed"
    assert {d.error.code for d in outcome.disks} == {"VMRestorePointClientError"}
    assert context.calls("replicate_restore_point") == []


def test_pending_disk_restore_points_are_polled_with_durable_timers():
    pending = ["pending"] * 6 + ["usable"]
    azure = FakeRestorePoints(states={"web": pending})
    outcome, context = protect(azure, policy=APP_LOCAL)

    assert outcome.state == "complete" and not outcome.replicate
    polls = context.calls("restore_point_state")
    assert len(polls) == 6
    assert {p.input for p in polls} == {restore_point_of(outcome.disks[0].point.id)}
    wake_ups = [context.started_at] + [timer.fire_at for timer in context.timers]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(wake_ups)]
    assert gaps == [15, 30, 60, 120, 240]
    assert outcome.disks[0].point.consistency == "crash-multi"  # as the fake's mode says


def test_the_group_deadline_ends_the_wait_and_nothing_is_copied():
    azure = FakeRestorePoints(states={"web": ["pending"]})
    outcome, context = protect(azure, group_deadline_seconds=120)
    assert outcome.state == "in-progress"
    late = outcome.disks[-1]
    assert late.error.code == "DeadlineExceeded" and late.point.state == "pending"
    assert context.calls("replicate_restore_point") == []


def test_a_copy_waits_while_azures_copies_per_hour_are_used_up():
    copies = FakeCopies()
    # Three copies of this VM's points started within the last hour (run once to learn the
    # entity key, then fill its start times).
    protect(FakeRestorePoints(), copies=copies)
    [key] = copies.state
    starts = {f"r{n}": at(-50 + 10 * n).isoformat() for n in range(3)}
    copies.state[key] = {**copies.state[key], "starts": starts}
    copies.state[key]["newest"] = None
    azure = FakeRestorePoints()
    outcome, context = protect(azure, copies=copies)
    child = context.children[f"{INSTANCE}:copy:rp"]
    assert child.timers[0].fire_at == at(10) + LIMIT_MARGIN
    assert outcome.replicated and azure.copy_calls["web"] == 1


def test_a_copy_behind_another_of_the_vm_waits_and_a_superseded_one_is_noted():
    azure = FakeRestorePoints(copy_steps={"web": ["busy", "busy", "start"]})
    outcome, context = protect(azure)
    # Each wait ended a generation of the copy (continue_as_new): one timer in each.
    child = context.children[f"{INSTANCE}:copy:rp"]
    assert child.generations >= 3 and len(child.timers) <= child.generations
    assert outcome.replicated and azure.copy_calls["web"] == 3
    skipped = FakeRestorePoints(copy_steps={"web": ["superseded"]})
    outcome, _ = protect(skipped)
    assert outcome.state == "complete" and outcome.replicated  # noted, not failed
    assert {d.replica_note for d in outcome.disks} == {"superseded: web"}
    assert all(d.replica is None and d.replica_error is None for d in outcome.disks)


def test_a_refused_copy_reports_the_code_on_every_disk():
    azure = FakeRestorePoints(copy_steps={"web": ["error:OperationNotAllowed"]})
    outcome, _ = protect(azure)
    assert outcome.state == "complete" and not outcome.replicated
    assert {d.replica_error.code for d in outcome.disks} == {"OperationNotAllowed"}


def test_a_cycle_takes_every_vms_restore_point_first_and_retakes_refused_ones():
    machines = [vm(f"vm{n}", "Premium_LRS") for n in range(3)]
    azure = FakeRestorePoints(refusals={"vm1": ["too-soon:20", "too-soon:20"]})
    fake = FakeAzure(vms=machines)
    gate, copies = FakeGate(), FakeCopies()
    table = {**fake.responders(), **responders(azure, gate, copies), **queue_responders()}
    table["take_batch"] = Nested(take_batch, table)
    table["protect_vm"] = Nested(protect_vm, table)
    table["protect_lane"] = Nested(protect_lane, table)
    table["prune_policy"] = Nested(prune_policy, table)
    context = FakeContext(cycle_input(CRASH, vm_batch_size=2), instance_id="cycle-gold")
    report = run(CYCLE, context, table)

    assert report["phase"] == "Completed", report
    assert report["summary"]["groupsComplete"] == 3 and report["summary"]["replicated"] == 6
    # The take phase: two batches (2 + 1 VMs); vm1, refused for 20 minutes, is taken again
    # by its protect_vm (still refused: a timer to the instant Azure allows it, then taken);
    # the others are not taken twice.
    batches = context.calls("take_batch")
    assert [len(b.input["job"]["vms"]) for b in batches] == [2, 1]
    assert all(b.input["queue"] == "cycle-gold" for b in batches)  # their points go there
    assert azure.takes == {"vm0": 1, "vm1": 3, "vm2": 1}
    retook = [
        c
        for c in context.descendants()
        if ":vm:" in c.instance_id and c.calls("take_restore_point")
    ]
    assert len(retook) == 1 and [t.fire_at for t in retook[0].timers][:1] == [at(20)]
    assert retook[0].get_input()["vm"]["name"] == "vm1"
    assert context.calls("take_point") == []
