"""Spans and metrics of one on-demand run's activities, seen by the OpenTelemetry SDK's
in-memory exporters: the activity functions of function_app run in this process against the
emulator (take each disk's point, one refused by Azure; copy one to the secondary region;
prune one), and the compliance report feeds the RPO gauge. Then a whole on-demand run, its
orchestrations replayed by devhost's engine in this process: every activity span carries
the run's instance id."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import diskdr.service
from activities import points, prune
from devhost.discovery import AppFunctions, index_functions
from devhost.engine import Engine
from devhost.store import TERMINAL_STATES, Store
from diskdr import clock, telemetry
from diskdr.backup import CycleJob, PolicyRef, RunOptions, copy_job, point_jobs
from diskdr.compliance import evaluate_vm
from diskdr.model import RecoveryPoint
from diskdr.policy import parse_policy_text
from diskdr.service import Service
from orchestrations import correlation
from tests.support import emulator_settings, poll
from triggers import http_api
from twin.harness import REPO_ROOT

SUB = "00000000-0000-0000-0000-000000000001"
INSTALL = "diskdr-otel"
POLICY = parse_policy_text(
    """\
version: 1
policies:
  - name: gold
    target: {tags: {backup: gold}}
    schedules: [{cron: "0 0 * * * *"}]
    retention: {last: 2}
    replicate: {region: westus2, resourceGroup: rg-dr, retention: {last: 2}}
    rpo: PT4H
""",
    "policies.yaml",
).policies[0]
SEED = {
    "subscriptions": [
        {
            "id": SUB,
            "resourceGroups": [
                {
                    "name": "rg-otel",
                    "location": "eastus",
                    "vms": [
                        {
                            "name": "vm-o1",
                            "tags": {"backup": "gold"},
                            "osDisk": {"sizeGB": 32, "sku": "Premium_LRS"},
                            "dataDisks": [{"lun": 0, "sizeGB": 32, "sku": "Premium_LRS"}],
                        }
                    ],
                },
                {"name": "rg-dr", "location": "westus2"},
            ],
        }
    ]
}
APP_SCRIPT = REPO_ROOT / "function_app.py"
_SPANS = InMemorySpanExporter()
_METRICS = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def providers():
    """The SDK's providers with in-memory exporters, once per process (the API allows one)."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_SPANS))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[_METRICS]))
    telemetry.reset_instruments()
    yield
    telemetry.reset_instruments()


def user_function(builder: Any) -> Any:
    return builder._function.get_user_function()


def metric_points() -> dict[str, list[Any]]:
    data = _METRICS.get_metrics_data()
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def test_one_runs_activities_make_spans_and_metrics(emulator, monkeypatch):
    emulator.control.reset()
    created = emulator.control.estate(SEED)["created"]
    data_disk = next(d for d in created["disks"] if d.endswith("-data-0"))
    emulator.control.faults(
        [{"method": "PUT", "path": r"/snapshots/dr-vm-o1-data-0-[^/]*$", "status": 409,
          "code": "OperationNotAllowed", "message": "not now"}]
    )  # fmt: skip
    service = Service(emulator_settings(emulator, INSTALL, SUB))
    monkeypatch.setattr(diskdr.service, "_service", service)
    _SPANS.clear()

    vm = service.protected_vm(service.get_vm(created["vms"][0]), POLICY)
    slot = datetime.now(UTC).replace(second=0, microsecond=0)
    _, jobs = point_jobs(vm, slot, "gold", INSTALL)
    outcomes = [user_function(points.take_point)(job.to_dict()) for job in jobs]

    spans = {span.attributes["diskdr.disk"]: span for span in _SPANS.get_finished_spans()}
    assert set(spans) == {disk.id for disk in vm.disks}
    refused = spans[data_disk]
    assert refused.name == "diskdr.take_point"
    assert refused.attributes["error.type"] == "OperationNotAllowed"
    assert re.fullmatch(r"[0-9a-f-]{36}", refused.attributes["azure.request_id"])
    assert not refused.status.is_ok
    taken = next(span for disk, span in spans.items() if disk != data_disk)
    assert taken.status.is_ok
    for name in ("diskdr.policy", "diskdr.slot", "diskdr.vm", "diskdr.region", "diskdr.group"):
        assert taken.attributes[name], name
    good = next(o for o in outcomes if o["point"] is not None)
    assert taken.attributes["diskdr.point"] == good["point"]["id"]
    # The audit trail of each: the PUT sent (each try), with Azure's request id.
    for outcome in outcomes:
        assert outcome["writes"], outcome
        assert {w["method"] for w in outcome["writes"]} == {"PUT"}
        assert all(w["resource"].endswith(outcome["writes"][0]["resource"].rsplit("/", 1)[1])
                   for w in outcome["writes"])  # fmt: skip
    refused_writes = next(o for o in outcomes if o["error"])["writes"]
    assert refused_writes[-1]["status"] == 409
    assert refused_writes[-1]["requestId"] == refused.attributes["azure.request_id"]

    # The copy of the good point to the secondary region.
    point = RecoveryPoint.from_dict(good["point"])
    copy = copy_job(point, PolicyRef.from_policy(POLICY), INSTALL)
    result = user_function(points.start_copy)(copy.to_dict())
    assert result["action"] == "start" and result["replica"], result
    assert [w["method"] for w in result["writes"]] == ["PUT"]
    copy_span = _SPANS.get_finished_spans()[-1]
    assert copy_span.name == "diskdr.start_copy"
    assert copy_span.attributes["diskdr.region"] == "westus2"
    assert copy_span.attributes["diskdr.point"] == point.id

    # The orchestration reads the replica's state until it is complete: then it counts as
    # replicated, with the copy's duration.
    replica_id = result["replica"]["id"]

    def complete() -> bool:
        states = user_function(points.point_states)([replica_id])
        return states[replica_id]["state"] == "usable"

    poll(complete, timeout=120, what="the replica to complete")
    states_span = _SPANS.get_finished_spans()[-1]
    assert states_span.name == "diskdr.point_states"
    assert states_span.attributes["diskdr.items"] == 1

    # Pruning deletes the replica.
    deleted = user_function(prune.delete_point)(result["replica"]["id"])
    assert deleted["deleted"] is True
    assert [w["method"] for w in deleted["writes"]] == ["DELETE"]
    assert _SPANS.get_finished_spans()[-1].name == "diskdr.delete_point"

    # Compliance feeds the RPO gauge per VM and region.
    # (the VM's group is complete for its good disk only: the refused disk has no point)
    good_only = replace(vm, disks=tuple(d for d in vm.disks if d.id != data_disk))
    fresh = service.point_states([point.id])[point.id]
    report = evaluate_vm(good_only, POLICY, [fresh], emulator.clock.now(), None).to_dict()
    telemetry.record_compliance([report])

    found = metric_points()
    assert sum(p.value for p in found["diskdr.points.created"]) == 1
    failed = found["diskdr.points.failed"]
    assert [p.attributes["error.type"] for p in failed] == ["OperationNotAllowed"]
    assert sum(p.value for p in found["diskdr.copies.started"]) == 1
    assert sum(p.value for p in found["diskdr.points.replicated"]) == 1
    (duration,) = found["diskdr.copy.duration"]
    assert duration.count == 1 and duration.sum >= 0
    assert duration.attributes["diskdr.region"] == "westus2"
    assert sum(p.value for p in found["diskdr.prune.deletions"]) == 1
    # ARM's remaining-writes header of the calls above (clients.py's response hook).
    throttle = {p.attributes["diskdr.kind"]: p.value for p in found["diskdr.throttle.remaining"]}
    assert 0 < throttle["writes"] <= 1200 and throttle["reads"] > 0
    ages = {p.attributes["diskdr.region"]: p.value for p in found["diskdr.rpo.age"]}
    assert set(ages) == {"eastus"} and ages["eastus"] >= 0


def test_http_triggers_make_spans_with_their_status():
    request = func.HttpRequest("GET", "https://app.example/api/openapi.json", body=b"")
    answer = asyncio.run(user_function(http_api.openapi)(request))
    assert answer.status_code == 200
    (span,) = [s for s in _SPANS.get_finished_spans() if s.name == "diskdr.http.openapi"][-1:]
    assert span.attributes["http.response.status_code"] == 200
    assert span.status.is_ok


# --- the run id on every activity span of a run --------------------------------------------
def app_functions() -> AppFunctions:
    """function_app's functions as devhost indexes them, from a private copy of the module:
    an app's ``get_functions()`` may run only once, and other tests use ``function_app``."""
    spec = importlib.util.spec_from_file_location("function_app_copy", APP_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return index_functions(module.app.get_functions(), "api")


async def run_orchestration(
    state_dir: Any, world: clock.WorldClock, name: str, instance_id: str, payload: Any
) -> dict[str, Any]:
    """Run one orchestration of function_app to its end with devhost's engine in this
    process (the Durable SDK's replay, activities in the engine's threads): its output."""
    store = Store(state_dir / "durable.sqlite")
    engine = Engine(store, app_functions(), world, 4, 4, "{}")
    await engine.start()
    try:
        engine.start_new(name, instance_id, json.dumps(payload))
        deadline = time.monotonic() + 120
        while (instance := store.get_instance(instance_id)).status not in TERMINAL_STATES:
            assert time.monotonic() < deadline, f"{instance_id} still {instance.status}"
            await asyncio.sleep(0.05)
    finally:
        await engine.stop()
        store.close()
    assert instance.status == "Completed", instance
    return json.loads(instance.output or "null")


def test_every_activity_span_of_an_on_demand_run_carries_its_run_id(
    emulator, monkeypatch, tmp_path
):
    emulator.control.reset()
    created = emulator.control.estate(SEED)["created"]
    monkeypatch.setattr(clock, "_default", emulator.clock)  # the app's clock is the world's
    service = Service(emulator_settings(emulator, INSTALL, SUB))
    monkeypatch.setattr(diskdr.service, "_service", service)
    vm = service.protected_vm(service.get_vm(created["vms"][0]), POLICY)
    slot = emulator.clock.now().replace(second=0, microsecond=0)
    job = CycleJob(
        policy=PolicyRef.from_policy(POLICY),
        slot=slot,
        install_id=INSTALL,
        trigger="on-demand",
        options=RunOptions.from_settings(service.settings, prune=False),
        vms=(vm,),
    )
    run_id = http_api.on_demand_instance_id(POLICY.name, slot, [vm])
    _SPANS.clear()

    report = asyncio.run(
        run_orchestration(tmp_path, emulator.clock, "backup_cycle", run_id, job.to_dict())
    )

    assert report["phase"] == "Completed" and report["summary"]["replicated"] == 2, report
    spans = _SPANS.get_finished_spans()
    names = {span.name for span in spans}
    assert {"diskdr.take_point", "diskdr.start_copy", "diskdr.point_states"} <= names, names
    for span in spans:  # a user querying diskdr.run_id finds every span of the run
        assert span.attributes["diskdr.run_id"] == run_id, span.name
        assert span.attributes["diskdr.instance_id"].startswith(run_id), span.name
    # ... and each span also names the (sub-)orchestration that called it.
    callers = {span.attributes["diskdr.instance_id"] for span in spans}
    assert len(callers) > 1 and all(":" in c[len(run_id) :] for c in callers - {run_id}), callers


def test_every_orchestrator_and_activity_of_the_app_is_correlated():
    """A new orchestrator or activity without its decorator would drop out of the run."""
    app = app_functions()
    wrapper = correlation.correlated(lambda context: context).__code__
    for name, spec in app.orchestrators.items():
        assert spec.func.orchestrator_function.__code__ is wrapper, name
    marker = telemetry.correlated(lambda value: value).__code__
    for name, spec in app.activities.items():
        assert spec.func.__code__ is marker, name
