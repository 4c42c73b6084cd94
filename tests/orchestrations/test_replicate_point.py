"""replicate_point stepped as a generator: the copy gate, CopyStart's answers, the poll to 100 %.

Every path must leave the gate without this copy's lease (the gate here is the real lease
table of ``diskdr.copy_slots``), or copies in flight would leak slots of the region's cap.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Any

from diskdr import copy_slots
from diskdr.backup import copy_job
from orchestrations.replicate_point import LEASE_TTL, replicate_point
from tests.orchestrations.conftest import orchestrator_function
from tests.orchestrations.estate import GOLD, INSTALL, SUB, FakeAzure, FakeGate
from tests.orchestrations.fake_context import FakeContext, run
from tests.unit.points import point

INSTANCE = "cycle-gold-202603010400:vm:abc:copy:0"
SOURCE = point(vm="web", disk="web-os", owner=INSTALL)


def replicate(
    azure: FakeAzure, gate: FakeGate | None = None, *, max_copies: int = 100, deadline: float = 3600
) -> tuple[dict[str, Any], FakeContext, FakeGate]:
    gate = gate or FakeGate()
    request = {
        "copy": copy_job(SOURCE, GOLD, INSTALL).to_dict(),
        "maxCopies": max_copies,
        "deadlineSeconds": deadline,
    }
    context = FakeContext(request, instance_id=INSTANCE)
    outcome = run(
        orchestrator_function(replicate_point), context, {**azure.responders(), **gate.responders()}
    )
    assert gate.holders == [], "the lease is released on every path"
    assert gate.watch["replicas"] == {}, "the copy watch forgets the replica"
    return outcome, context, gate


def gate_operations(context: FakeContext) -> list[str]:
    return [t.name.split(".")[1] for t in context.scheduled if t.name.startswith("copy_gate.")]


def seconds_between_timers(context: FakeContext) -> list[float]:
    wake_ups = [context.started_at] + [t.fire_at for t in context.timers]
    return [(later - earlier).total_seconds() for earlier, later in pairwise(wake_ups)]


def test_a_copy_holds_a_lease_polls_to_100_percent_and_releases_it():
    azure = FakeAzure(
        replica_states={"web-os": ["pending:0", "pending:35", "pending:70", "usable"]}
    )
    outcome, context, _ = replicate(azure, max_copies=7)

    replica = outcome["replica"]
    assert outcome["error"] is None and outcome["note"] is None
    assert (replica["state"], replica["completionPercent"]) == ("usable", 100.0)
    assert replica["role"] == "replica" and replica["region"] == "westus2"
    assert replica["sourceId"] == SOURCE.id.lower()
    # The lease names this copy, the snapshot family and the configured cap, at the gate
    # of the source's subscription and the target region.
    first_acquire = context.calls("copy_gate.acquire")[0]
    assert first_acquire.entity_key == copy_slots.gate_key(SUB, "westus2")
    assert first_acquire.input == {
        "holder": INSTANCE,
        "disk": f"{SOURCE.disk_id}#{SOURCE.disk_uid}",
        "limit": 7,
        "ttlSeconds": LEASE_TTL.total_seconds(),
    }
    # Poll, renewing the lease before each look; release with a call (not a signal).
    assert gate_operations(context) == ["acquire"] + ["acquire"] * 3 + ["release"]
    assert [t.kind for t in context.scheduled if t.name == "copy_gate.release"] == ["entity"]
    assert len(context.calls("copy_progress")) == 3
    assert seconds_between_timers(context) == [15, 30, 60]
    assert {"phase": "copying", "completionPercent": 35.0} in context.statuses


def test_a_refused_lease_is_retried_with_backoff_until_the_gate_grants_it():
    outcome, context, gate = replicate(FakeAzure(), FakeGate(refusals=3))

    assert outcome["replica"]["state"] == "usable"
    assert gate.acquires[INSTANCE] == 5  # three refusals, the grant, one renewal
    # No copy is started before the lease is granted.
    first_copy = context.scheduled.index(context.calls("start_copy")[0])
    acquires_before = [t for t in context.scheduled[:first_copy] if t.name == "copy_gate.acquire"]
    assert len(acquires_before) == 4
    assert seconds_between_timers(context)[:3] == [15, 30, 60]
    assert context.statuses[0] == {"phase": "waiting-for-copy-slot"}


def test_no_slot_before_the_deadline_gives_up_without_copying():
    outcome, context, _ = replicate(FakeAzure(), FakeGate(refusals=1000), deadline=100)

    assert outcome["error"]["code"] == "CopySlotTimeout" and outcome["replica"] is None
    assert context.calls("start_copy") == []
    # The last wait is cut short at the deadline; one last try there, then give up.
    offsets = [(t.fire_at - context.started_at).total_seconds() for t in context.timers]
    assert offsets == [15, 45, 100]
    assert len(context.calls("copy_gate.acquire")) == 4


def test_a_busy_disk_is_waited_for_with_the_lease_renewed_then_copied():
    azure = FakeAzure(copy_steps={"web-os": ["busy", "busy", "start"]})
    outcome, context, _ = replicate(azure)

    assert outcome["replica"]["state"] == "usable" and outcome["error"] is None
    assert azure.copy_calls["web-os"] == 3
    operations = [
        t.name if t.kind != "timer" else "timer"
        for t in context.scheduled
        if t.name != "copy_progress"
    ]
    assert operations[:10] == [
        "copy_gate.acquire",
        "copy_order.get",
        "start_copy",
        "timer",
        "copy_gate.acquire",
        "copy_order.get",
        "start_copy",
        "timer",
        "copy_gate.acquire",
        "copy_order.get",
    ]


def test_a_disk_busy_past_the_deadline_is_reported_busy():
    azure = FakeAzure(copy_steps={"web-os": ["busy"]})
    outcome, context, _ = replicate(azure, deadline=60)

    assert outcome["error"]["code"] == "CopyBusy"
    assert "in flight" in outcome["error"]["message"]
    assert gate_operations(context)[-1] == "release"


def test_a_superseded_point_is_skipped_with_a_note():
    azure = FakeAzure(copy_steps={"web-os": ["superseded"]})
    outcome, context, _ = replicate(azure)

    assert outcome["replica"] is None and outcome["error"] is None
    assert "newer point" in outcome["note"]
    assert context.calls("copy_progress") == [] and context.timers == []
    assert gate_operations(context) == ["acquire", "release"]


def test_an_existing_copy_of_this_point_is_adopted():
    azure = FakeAzure(copy_steps={"web-os": ["adopt"]}, replica_states={"web-os": ["usable"]})
    outcome, context, _ = replicate(azure)

    assert outcome["replica"]["state"] == "usable"
    assert context.calls("copy_progress") == [], "an adopted usable copy needs no polling"


def test_copystart_refused_by_azure_reports_its_error_code():
    azure = FakeAzure(copy_steps={"web-os": ["error:OperationNotAllowed"]})
    outcome, context, _ = replicate(azure)

    assert outcome["error"]["code"] == "OperationNotAllowed"
    assert outcome["error"]["requestId"] == "req-copy" and outcome["replica"] is None
    assert gate_operations(context) == ["acquire", "release"]


def test_a_copy_that_fails_reports_its_copy_completion_error_code():
    # The copy's failure shows on the replica (copyCompletionError.errorCode).
    azure = FakeAzure(
        replica_states={"web-os": ["pending:0", "pending:20", "failed:CopySourceNotFound"]}
    )
    outcome, context, _ = replicate(azure)

    assert outcome["error"]["code"] == "CopySourceNotFound"
    assert outcome["error"]["message"] == "the cross-region copy failed"
    assert outcome["replica"]["state"] == "failed"
    assert gate_operations(context)[-1] == "release"


def test_a_copy_not_done_by_the_deadline_times_out_and_keeps_its_slot_until_the_lease_lapses():
    azure, gate = FakeAzure(replica_states={"web-os": ["pending:10", "pending:45"]}), FakeGate()
    request = {
        "copy": copy_job(SOURCE, GOLD, INSTALL).to_dict(),
        "maxCopies": 100,
        "deadlineSeconds": 600,
    }
    context = FakeContext(request, instance_id=INSTANCE)
    responders = {**azure.responders(), **gate.responders()}
    outcome = run(orchestrator_function(replicate_point), context, responders)

    assert outcome["error"]["code"] == "CopyTimeout"
    assert outcome["replica"]["completionPercent"] == 45.0
    assert context.current_utc_datetime - context.started_at == timedelta(seconds=600)
    # Azure is still copying: the slot stays taken (the lease lapses by itself) so that
    # another copy cannot push the region past its cap.
    assert "release" not in gate_operations(context)
    assert gate.holders == [INSTANCE]


def test_a_replica_that_vanishes_while_copying_is_reported():
    azure = FakeAzure(replica_states={"web-os": ["pending:10", "gone"]})
    outcome, _, _ = replicate(azure)

    assert outcome["error"]["code"] == "NotFound" and outcome["replica"] is None


def test_an_unexpected_failure_is_reported_and_the_lease_is_still_freed():
    azure = FakeAzure(copy_steps={"web-os": ["crash"]})
    outcome, context, gate = replicate(azure)

    assert "KeyError" in outcome["error"]["message"] and outcome["replica"] is None
    # The release is a signal: the orchestrator must not wait on anything more here.
    [release] = [t for t in context.scheduled if t.name == "copy_gate.release"]
    assert release.kind == "signal" and release.input == INSTANCE
    assert gate.holders == []


def test_no_copy_starts_after_the_lease_was_lost_while_the_disk_was_busy():
    """A lease can lapse (its TTL passes while the run is starved) and its slot go to
    another copy; the renewal is then refused, and starting the copy would exceed the cap."""
    azure = FakeAzure(copy_steps={"web-os": ["busy", "start"]})
    gate = FakeGate()
    responders = {**azure.responders(), **gate.responders()}
    started_without_lease = []

    def lapse_and_refill(lease: dict[str, Any]) -> bool:
        if gate.acquires[INSTANCE] == 1:  # our lease lapsed; another copy took the one slot
            gate.table = copy_slots.release(gate.table, INSTANCE, now=0.0)
            gate.acquire({**lease, "holder": "another-run", "disk": "another-disk"})
        return gate.acquire(lease)

    def start_copy(job: dict[str, Any]) -> dict[str, Any]:
        if INSTANCE not in gate.holders:
            started_without_lease.append(job["name"])
        return azure.start_copy(job)

    responders["copy_gate.acquire"] = lapse_and_refill
    responders["start_copy"] = start_copy
    request = {
        "copy": copy_job(SOURCE, GOLD, INSTALL).to_dict(),
        "maxCopies": 1,
        "deadlineSeconds": 3600,
    }
    run(
        orchestrator_function(replicate_point),
        FakeContext(request, instance_id=INSTANCE),
        responders,
    )

    assert started_without_lease == []


def test_each_copy_is_recorded_as_its_disks_newest_and_handed_to_the_next():
    azure, gate = FakeAzure(), FakeGate()
    first, _, _ = replicate(azure, gate)
    [(key, newest)] = gate.newest.items()
    assert key.startswith("westus2|")
    assert newest["replicaId"] == first["replica"]["id"]
    assert newest["slot"] == SOURCE.slot.isoformat()
    # The next copy of the same disk (a later run) is told about it.
    _, context, _ = replicate(azure, gate)
    [call] = context.calls("start_copy")
    assert call.input["newestCopy"] == newest


def test_each_wait_ends_a_generation_that_carries_the_copy_on():
    """A copy of many rounds: one wait per generation (``continue_as_new``), so a history
    never grows with the copy's length; the deadline, backoff and writes carry over."""
    pending = [f"pending:{n * 10}" for n in range(9)]
    azure = FakeAzure(replica_states={"web-os": [*pending, "usable"]})
    gate = FakeGate(refusals=2)
    write = {"operation": "Snapshots_CreateOrUpdate", "requestId": "req-1"}
    responders = {
        **azure.responders(),
        **gate.responders(),
        "start_copy": lambda job: {**azure.start_copy(job), "writes": [write]},
    }
    request = {
        "copy": copy_job(SOURCE, GOLD, INSTALL).to_dict(),
        "maxCopies": 100,
        "deadlineSeconds": 86400,
    }
    context = FakeContext(request, instance_id=INSTANCE)
    outcome = run(orchestrator_function(replicate_point), context, responders)

    assert outcome["replica"]["state"] == "usable" and gate.holders == []
    assert outcome["writes"] == [write]  # sent by the first generation, reported by the last
    # Two refused slots, then nine reads: one wait per generation (the last read finds
    # the copy done and its generation answers).
    assert len(context.timers) == 2 + 9
    assert context.generations == len(context.timers)
    # The backoff goes on across generations (restarting at 15 s once the copy started).
    assert seconds_between_timers(context) == [15, 30] + [15, 30, 60, 120, 240] + [300] * 4
    assert context.get_input()["carried"]["replica"]["state"] == "pending"
