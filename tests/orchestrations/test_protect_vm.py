"""protect_vm stepped as a generator: points per disk, waiting on Pending, deadline, copies."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from diskdr.backup import VmOutcome
from orchestrations.protect_vm import protect_vm
from orchestrations.replicate_point import replicate_point
from orchestrations.taking import ACTIVITY_RETRY
from tests.orchestrations.conftest import orchestrator_function
from tests.orchestrations.estate import LOCAL, FakeAzure, FakeGate, protect_input, vm
from tests.orchestrations.fake_context import FakeContext, Nested, TaskFailed, run

INSTANCE = "cycle-gold-202603010400:vm:abc"
PROTECT = orchestrator_function(protect_vm)


def protect(
    azure: FakeAzure, job: dict[str, Any], gate: FakeGate | None = None
) -> tuple[VmOutcome, FakeContext]:
    """Run protect_vm against ``azure`` (copies through the real replicate_point)."""
    gate = gate or FakeGate()
    responders = {**azure.responders(), **gate.responders()}
    responders["replicate_point"] = Nested(replicate_point, responders)
    context = FakeContext(job, instance_id=INSTANCE)
    output = run(PROTECT, context, responders)
    assert gate.holders == [], "every copy lease is released"
    return VmOutcome.from_dict(output), context


def disks_by_name(outcome: VmOutcome) -> dict[str, Any]:
    return {disk.disk_name: disk for disk in outcome.disks}


def test_all_disks_usable_and_copied():
    machine = vm("web", "Premium_LRS", "Premium_LRS")
    outcome, context = protect(FakeAzure(), protect_input(machine))

    assert outcome.state == "complete" and outcome.error is None
    assert outcome.replicate and outcome.replicated
    assert [d.disk_name for d in outcome.disks] == ["web-os", "web-data0", "web-data1"]
    for disk in outcome.disks:
        assert disk.usable and disk.error is None
        assert disk.replica is not None and disk.replica.state == "usable"
        assert disk.replica.role == "replica" and disk.replica.region == "westus2"
        assert disk.replica.source_id == disk.point.id.lower()
    # Every disk's point is taken at once, with retries for unexpected failures only.
    first = context.awaited[0]
    assert first.kind == "all" and [t.name for t in first.children] == ["take_point"] * 3
    assert all(t.retry is ACTIVITY_RETRY for t in first.children)
    # Usable at once: no polling, no timers; one copy per disk, ids by position.
    assert context.calls("point_states") == [] and context.timers == []
    copies = context.calls("replicate_point")
    assert [c.instance_id for c in copies] == [f"{INSTANCE}:copy:{n}" for n in range(3)]
    assert context.custom_status == {
        "phase": "done",
        "disks": 3,
        "usable": 3,
        "failed": 0,
        "replicated": 3,
    }


def test_a_failing_disk_reports_its_azure_error_and_the_others_still_succeed():
    machine = vm("db", "Premium_LRS", "Premium_LRS")
    azure = FakeAzure(take_errors={"db-data0": "SnapshotsLimitReached"})
    outcome, context = protect(azure, protect_input(machine))

    disks = disks_by_name(outcome)
    failed = disks["db-data0"]
    assert failed.point is None and failed.replica is None
    assert failed.error is not None
    assert (failed.error.code, failed.error.status, failed.error.request_id) == (
        "SnapshotsLimitReached",
        409,
        "req-db-data0",
    )
    for name in ("db-os", "db-data1"):
        assert disks[name].usable and disks[name].replicated and disks[name].error is None
    assert outcome.state == "partial" and outcome.error is None
    # Only the usable points are copied.
    copied = [c.input["copy"]["point"]["name"] for c in context.calls("replicate_point")]
    assert copied == [disks["db-os"].point.name, disks["db-data1"].point.name]
    assert context.custom_status["failed"] == 1 and context.custom_status["replicated"] == 2


def test_pending_points_are_polled_with_durable_timers_and_backoff():
    machine = vm("analytics", "PremiumV2_LRS")
    # Premium SSD v2: the point stays Pending while its background copy fills it.
    pending = [f"pending:{n * 10}" for n in range(9)] + ["usable"]
    azure = FakeAzure(states={"analytics-data0": pending})
    outcome, context = protect(azure, protect_input(machine))

    assert outcome.state == "complete" and outcome.replicated
    data = disks_by_name(outcome)["analytics-data0"]
    polls = context.calls("point_states")
    assert len(polls) == 9
    assert all(poll.input == [data.point.id] for poll in polls), "only unsettled points polled"
    # Backoff doubles from 15 s up to 5 minutes, each timer from the previous wake-up.
    wake_ups = [context.started_at] + [timer.fire_at for timer in context.timers]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(wake_ups)]
    assert gaps == [15, 30, 60, 120, 240, 300, 300, 300]
    assert {"phase": "waiting", "disks": 2, "usable": 1, "failed": 0, "replicated": 0} in (
        context.statuses
    )


def test_the_group_deadline_ends_the_wait_and_the_late_point_is_reported():
    machine = vm("analytics", "PremiumV2_LRS", "Premium_LRS")
    azure = FakeAzure(states={"analytics-data0": ["pending:5"]})  # never completes
    outcome, context = protect(azure, protect_input(machine, group_deadline_seconds=120))

    late = disks_by_name(outcome)["analytics-data0"]
    assert late.point is not None and late.point.state == "pending"
    assert late.error is not None and late.error.code == "DeadlineExceeded"
    assert late.replica is None
    assert outcome.state == "in-progress" and outcome.error is None
    # The last timer is cut short at the deadline; one last look, then no more waiting.
    fire_offsets = [(t.fire_at - context.started_at).total_seconds() for t in context.timers]
    assert fire_offsets == [15, 45, 105, 120]
    assert len(context.calls("point_states")) == 5
    # The usable disks are still copied.
    others = [d for d in outcome.disks if d.disk_name != "analytics-data0"]
    assert all(d.usable and d.replicated for d in others)
    assert len(context.calls("replicate_point")) == 2


def test_a_point_that_fails_or_vanishes_while_pending_reports_why():
    machine = vm("analytics", "PremiumV2_LRS", "PremiumV2_LRS")
    azure = FakeAzure(
        states={
            "analytics-data0": ["pending:0", "pending:50", "failed:InternalDiskManagementError"],
            "analytics-data1": ["pending:0", "gone"],
        }
    )
    outcome, _ = protect(azure, protect_input(machine))

    disks = disks_by_name(outcome)
    assert disks["analytics-data0"].error.code == "InternalDiskManagementError"
    assert disks["analytics-data0"].point.state == "failed"
    assert disks["analytics-data1"].error.code == "NotFound"
    assert disks["analytics-data1"].point is None
    assert disks["analytics-os"].usable and disks["analytics-os"].replicated
    assert outcome.state == "partial"


def test_a_local_policy_takes_points_and_copies_nothing():
    outcome, context = protect(FakeAzure(), protect_input(vm("web", "Premium_LRS"), LOCAL))

    assert outcome.state == "complete" and not outcome.replicate
    assert all(d.usable and d.replica is None for d in outcome.disks)
    assert context.calls("replicate_point") == []


def test_when_no_point_is_usable_nothing_is_copied_and_no_error_is_invented():
    machine = vm("db", "Premium_LRS")
    azure = FakeAzure(take_errors={"db-os": "OperationNotAllowed", "db-data0": "QuotaExceeded"})
    outcome, context = protect(azure, protect_input(machine, group_deadline_seconds=60))

    assert outcome.state == "failed"
    assert [d.error.code for d in outcome.disks] == ["OperationNotAllowed", "QuotaExceeded"]
    assert context.calls("replicate_point") == []
    # Every disk's own error says what happened; the VM itself did not fail.
    assert outcome.error is None
    assert context.calls("point_states") == []


def test_an_unexpected_failure_becomes_the_vms_error_and_made_points_are_recovered():
    machine = vm("web", "Premium_LRS")
    azure = FakeAzure(crashes={"web-data0"})
    outcome, context = protect(azure, protect_input(machine))

    assert outcome.error is not None and "RuntimeError: web-data0" in outcome.error.message
    # The state of every point this run may have made was read back.
    [recovery] = context.calls("point_states")
    assert len(recovery.input) == 2
    disks = disks_by_name(outcome)
    assert disks["web-os"].usable, "the point made before the failure is still reported"
    assert disks["web-data0"].point is None
    assert outcome.state == "partial"
    assert context.calls("replicate_point") == []
    assert context.custom_status["phase"] == "done"


def test_when_recovery_fails_too_the_vm_still_reports():
    machine = vm("web")
    azure = FakeAzure(crashes={"web-os"})
    responders = azure.responders()

    def broken_states(_point_ids: list[str]) -> dict[str, Any]:
        raise TaskFailed("Activity function 'point_states' failed: ConnectionError")

    responders["point_states"] = broken_states
    output = run(PROTECT, FakeContext(protect_input(machine), instance_id=INSTANCE), responders)

    outcome = VmOutcome.from_dict(output)
    assert outcome.state == "failed" and outcome.error is not None
    assert [d.disk_name for d in outcome.disks] == ["web-os"]
