"""Transient Azure errors (throttling, server errors) are waited out, not reported as final:
a refused point is asked for again, an unreadable state is read again, a refused copy is
started again — each within its deadline."""

from __future__ import annotations

from typing import Any

from diskdr.backup import DiskOutcome, Failure, PointJob, VmOutcome
from orchestrations.protect_vm import protect_vm
from orchestrations.replicate_point import replicate_point
from tests.orchestrations.conftest import orchestrator_function
from tests.orchestrations.estate import LOCAL, FakeAzure, FakeGate, protect_input, vm
from tests.orchestrations.fake_context import FakeContext, Nested, run
from tests.orchestrations.test_replicate_point import replicate

THROTTLED = Failure("Too many requests", code="TooManyRequests", status=429, transient=True)


def test_a_throttled_point_is_asked_for_again_and_lands():
    azure = FakeAzure()
    refusals = {"web-data0": 2}

    def take_point(payload: dict[str, Any]) -> dict[str, Any]:
        job = PointJob.from_dict(payload)
        if refusals.get(job.disk.name, 0) > 0:
            refusals[job.disk.name] -= 1
            return DiskOutcome(job.disk.id, job.disk.name, job.disk.lun, error=THROTTLED).to_dict()
        return azure.take_point(payload)

    responders = {**azure.responders(), "take_point": take_point}
    context = FakeContext(protect_input(vm("web", "Premium_LRS"), LOCAL), instance_id="p")
    outcome = VmOutcome.from_dict(run(orchestrator_function(protect_vm), context, responders))
    assert outcome.state == "complete" and all(d.error is None for d in outcome.disks)
    taken = [PointJob.from_dict(t.input).disk.name for t in context.calls("take_point")]
    assert taken == ["web-os", "web-data0", "web-data0", "web-data0"]
    assert len(context.timers) == 2  # backoff between the attempts


def test_a_point_throttled_until_the_deadline_reports_the_last_error():
    azure = FakeAzure()

    def take_point(payload: dict[str, Any]) -> dict[str, Any]:
        job = PointJob.from_dict(payload)
        return DiskOutcome(job.disk.id, job.disk.name, job.disk.lun, error=THROTTLED).to_dict()

    responders = {**azure.responders(), "take_point": take_point}
    job = protect_input(vm("web"), LOCAL, group_deadline_seconds=60)
    context = FakeContext(job, instance_id="p")
    outcome = VmOutcome.from_dict(run(orchestrator_function(protect_vm), context, responders))
    (disk,) = outcome.disks
    assert outcome.state == "failed" and disk.error is not None
    assert (disk.error.code, disk.error.status, disk.error.transient) == (
        "TooManyRequests",
        429,
        True,
    )


def test_an_unreadable_state_is_read_again():
    azure = FakeAzure(states={"web-os": ["pending:10", "pending:50", "usable"]})
    reads = {"n": 0}

    def point_states(point_ids: list[str]) -> dict[str, Any]:
        reads["n"] += 1
        if reads["n"] == 1:
            return {}  # the read was throttled: nothing known yet
        return azure.point_states(point_ids)

    gate = FakeGate()
    responders = {**azure.responders(), **gate.responders(), "point_states": point_states}
    responders["replicate_point"] = Nested(replicate_point, responders)
    context = FakeContext(protect_input(vm("web")), instance_id="p")
    outcome = VmOutcome.from_dict(run(orchestrator_function(protect_vm), context, responders))
    assert outcome.state == "complete" and outcome.replicated
    assert reads["n"] >= 3


def test_a_copy_refused_transiently_is_started_again_under_a_lease():
    azure = FakeAzure()
    calls = {"n": 0}

    def start_copy(payload: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            return {"action": "start", "error": THROTTLED.to_dict()}
        return azure.start_copy(payload)

    azure_responders = azure.responders()
    azure.responders = lambda: {**azure_responders, "start_copy": start_copy}  # type: ignore[method-assign]
    outcome, context, _ = replicate(azure)
    assert outcome["error"] is None and outcome["replica"]["state"] == "usable"
    assert calls["n"] == 2 and len(context.timers) >= 1
