"""devhost crash test app: 20 sequential activities, each appending one line to a file."""

import os
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)


@app.orchestration_trigger(context_name="context")
def twenty_steps(context: df.DurableOrchestrationContext):
    done = []
    for step in range(20):
        done.append((yield context.call_activity(append_line, step)))
    return done


@app.activity_trigger(input_name="step")
def append_line(step: int) -> int:
    with open(os.environ["CRASH_FILE"], "a") as handle:
        handle.write(f"step {step}\n")
    time.sleep(0.1)  # long enough for the test to kill the host mid-run
    return step
