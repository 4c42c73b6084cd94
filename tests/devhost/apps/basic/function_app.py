"""devhost test app: one function per feature devhost must support."""

import json
import os
import threading
import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from diskdr.clock import utc_now

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
_lock = threading.Lock()


def _append(env_name: str, record: dict) -> None:
    path = os.environ.get(env_name)
    if path:
        with _lock, open(path, "a") as handle:
            handle.write(json.dumps(record) + "\n")


# -- HTTP -----------------------------------------------------------------------------
@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    instance_id = await client.start_new(
        req.route_params["name"], req.params.get("id"), json.loads(body) if body else None
    )
    return client.create_check_status_response(req, instance_id)


@app.route(route="run/{name}", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@app.durable_client_input(client_name="client")
async def run_and_wait(req: func.HttpRequest, client) -> func.HttpResponse:
    instance_id = await client.start_new(req.route_params["name"], None, req.get_json())
    return await client.wait_for_completion_or_create_check_status_response(
        req, instance_id, timeout_in_milliseconds=20000, retry_interval_in_milliseconds=100
    )


@app.route(route="open", auth_level=func.AuthLevel.ANONYMOUS)
def open_endpoint(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(
            {
                "greeting": os.environ.get("BASIC_GREETING"),
                "overridden": os.environ.get("BASIC_OVERRIDDEN"),
                "worldNow": utc_now().timestamp(),
                "method": req.method,
            }
        ),
        mimetype="application/json",
    )


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> str:
    return "admin ok"


@app.route(route="items/{id:int}/{label?}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(dict(req.route_params)), status_code=200)


@app.route(route="boom", auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("boom")


# -- Event Grid and timer -------------------------------------------------------------
@app.event_grid_trigger(arg_name="event")
def on_event(event: func.EventGridEvent) -> None:
    _append(
        "BASIC_EVENTS_FILE",
        {
            "id": event.id,
            # A CloudEvent arrives as func.CloudEvent (``type``), Event Grid schema as
            # func.EventGridEvent (``event_type``).
            "type": getattr(event, "event_type", None) or getattr(event, "type", None),
            "subject": event.subject,
            "data": event.get_json(),
        },
    )


@app.timer_trigger(schedule="%BASIC_TICK%", arg_name="timer", use_monitor=True)
def yearly(timer: func.TimerRequest) -> None:
    _append("BASIC_TIMER_FILE", {"pastDue": timer.past_due})


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True, use_monitor=False)
def on_startup(timer: func.TimerRequest) -> None:
    _append("BASIC_STARTUP_FILE", {"pastDue": timer.past_due, "status": timer.schedule_status})


# -- orchestrators --------------------------------------------------------------------
@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext):
    value = context.get_input()
    replay_flags = []
    for step in range(3):
        replay_flags.append(context.is_replaying)
        value = yield context.call_activity(double, value)
        context.set_custom_status({"step": step + 1})
    return {
        "value": value,
        "uuid": context.new_uuid(),
        "now": context.current_utc_datetime.isoformat(),
        "firstReplayFlag": replay_flags[0],
    }


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity(double, i) for i in range(count)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def probe_fan_out(context: df.DurableOrchestrationContext):
    peaks = yield context.task_all([context.call_activity(probe, i) for i in range(12)])
    return max(peaks)


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=60_000, max_number_of_attempts=4)
    first = yield context.call_activity_with_retry(flaky, options, context.get_input())
    try:
        yield context.call_activity_with_retry(always_fails, df.RetryOptions(60_000, 2), "hopeless")
        exhausted = None
    except Exception as error:  # the SDK raises a plain Exception with the reason
        exhausted = str(error)
    return {"first": first, "exhausted": exhausted}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    named = yield context.call_sub_orchestrator(child, 1, f"{context.instance_id}-named")
    unnamed = yield context.call_sub_orchestrator(child, 2)
    retried = yield context.call_sub_orchestrator_with_retry(
        flaky_child, df.RetryOptions(60_000, 3), context.instance_id
    )
    try:
        yield context.call_sub_orchestrator(failing, None)
        child_error = None
    except Exception as error:
        child_error = str(error)
    return {"named": named, "unnamed": unnamed, "retried": retried, "childError": child_error}


@app.orchestration_trigger(context_name="context")
def child(context: df.DurableOrchestrationContext):
    value = yield context.call_activity(double, context.get_input())
    return {"value": value, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def flaky_child(context: df.DurableOrchestrationContext):
    yield context.call_activity(flaky, f"child-{context.get_input()}")
    return "child ok"


@app.orchestration_trigger(context_name="context")
def timer_wait(context: df.DurableOrchestrationContext):
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(seconds=context.get_input()))
    return {"started": started.isoformat(), "woke": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(hours=context.get_input())
    timeout = context.create_timer(deadline)
    answer = context.wait_for_external_event("approve")
    winner = yield context.task_any([answer, timeout])
    if winner == answer:
        timeout.cancel()
        return {"approved": answer.result}
    return {"approved": None, "timedOut": True}


@app.orchestration_trigger(context_name="context")
def two_events(context: df.DurableOrchestrationContext):
    first = yield context.wait_for_external_event("a")
    second = yield context.wait_for_external_event("b")
    return [first, second]


@app.orchestration_trigger(context_name="context")
def eternal(context: df.DurableOrchestrationContext):
    state = context.get_input()
    yield context.call_activity(double, 0)
    if state["round"] >= state["rounds"]:
        return state
    context.continue_as_new({"round": state["round"] + 1, "rounds": state["rounds"]})


@app.orchestration_trigger(context_name="context")
def eternal_parent(context: df.DurableOrchestrationContext):
    """A parent of ``eternal``: gets the output of its last generation, as on Azure."""
    rounds = context.get_input()
    return (yield context.call_sub_orchestrator(eternal, {"round": 0, "rounds": rounds}))


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    yield context.call_activity(double, 1)
    raise ValueError("orchestrator gave up")


@app.orchestration_trigger(context_name="context")
def forever(context: df.DurableOrchestrationContext):
    yield context.wait_for_external_event("never")
    return "impossible"


@app.orchestration_trigger(context_name="context")
def counter_user(context: df.DurableOrchestrationContext):
    entity = df.EntityId("counter", context.get_input())
    yield context.call_entity(entity, "add", 5)
    context.signal_entity(entity, "add", 10)
    value = yield context.call_entity(entity, "get")
    try:
        yield context.call_entity(entity, "explode")
        entity_error = None
    except Exception as error:
        entity_error = str(error)
    return {"value": value, "entityError": entity_error}


@app.orchestration_trigger(context_name="context")
def sliding_window(context: df.DurableOrchestrationContext):
    """diskdr's old ``complete_all``: keep ``window`` children running, re-yield ``task_any``.

    Returns what each child saw: how many ran at once while it ran.
    """
    spec = context.get_input()
    queue = list(range(spec["items"]))
    running: list[tuple] = []
    seen: dict[int, int] = {}
    while queue or running:
        while queue and len(running) < spec["window"]:
            index = queue.pop(0)
            running.append((context.call_activity(slow_probe, index), index))
        finished = yield context.task_any([task for task, _ in running])
        entry = next(item for item in running if item[0] is finished)
        running.remove(entry)
        seen[entry[1]] = finished.result
    return [seen[index] for index in range(spec["items"])]


@app.orchestration_trigger(context_name="context")
def long_sleep(context: df.DurableOrchestrationContext):
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(days=context.get_input()))
    return (context.current_utc_datetime - started).total_seconds()


@app.orchestration_trigger(context_name="context")
def loud_status(context: df.DurableOrchestrationContext):
    # input: kilobytes of UTF-16 (an ASCII character is 2 bytes there)
    context.set_custom_status("x" * (context.get_input() * 512))
    yield context.call_activity(double, 1)
    return "said it"


@app.orchestration_trigger(context_name="context")
def sleepy_call(context: df.DurableOrchestrationContext):
    try:
        yield context.call_activity(sleeper, context.get_input())
        return "finished"
    except Exception as error:
        return str(error)


@app.orchestration_trigger(context_name="context")
def terminated_child_parent(context: df.DurableOrchestrationContext):
    yield context.call_sub_orchestrator(forever, None, f"{context.instance_id}-child")
    return "child ended"


# -- activities and entities ----------------------------------------------------------
@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


_in_flight = {"now": 0}


@app.activity_trigger(input_name="index")
def probe(index: int) -> int:
    """Reports how many activities ran at once while it ran (host.json allows 4)."""
    with _lock:
        _in_flight["now"] += 1
        peak = _in_flight["now"]
    time.sleep(0.05)
    with _lock:
        peak = max(peak, _in_flight["now"])
        _in_flight["now"] -= 1
    return peak


@app.activity_trigger(input_name="index")
def slow_probe(index: int) -> int:
    """Like probe, but long enough (0.5 s) that overlapping calls surely overlap."""
    with _lock:
        _in_flight["window"] = _in_flight.get("window", 0) + 1
        peak = _in_flight["window"]
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        time.sleep(0.02)
        with _lock:
            peak = max(peak, _in_flight["window"])
    with _lock:
        _in_flight["window"] -= 1
    return peak


@app.activity_trigger(input_name="seconds")
def sleeper(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


_attempts: dict[str, int] = {}


@app.activity_trigger(input_name="key")
def flaky(key: str) -> str:
    with _lock:
        _attempts[key] = _attempts.get(key, 0) + 1
        attempt = _attempts[key]
    if attempt < 3:
        raise RuntimeError(f"transient failure {attempt} of {key}")
    return f"{key} ok after {attempt} attempts"


@app.activity_trigger(input_name="what")
async def always_fails(what: str) -> str:
    raise RuntimeError(f"{what} always fails")


@app.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        value += context.get_input()
    elif operation == "reset":
        value = 0
    elif operation == "explode":
        raise RuntimeError("counter cannot explode")
    context.set_state(value)
    context.set_result(value)
