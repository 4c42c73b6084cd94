"""devhost non-determinism test app, version 1: step_a, wait for 'go', step_b."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.orchestration_trigger(context_name="context")
def flow(context: df.DurableOrchestrationContext):
    first = yield context.call_activity(step_a, "x")
    yield context.wait_for_external_event("go")
    second = yield context.call_activity(step_b, first)
    return second


@app.activity_trigger(input_name="value")
def step_a(value: str) -> str:
    return value + "a"


@app.activity_trigger(input_name="value")
def step_b(value: str) -> str:
    return value + "b"
