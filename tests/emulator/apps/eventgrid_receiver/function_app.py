"""A Functions app whose only function receives the emulator's Event Grid events (run by
devhost in ``tests/emulator/test_eventgrid.py``): each event is appended to the file named by
``RECEIVED_EVENTS_FILE``."""

import json
import os

import azure.functions as func

app = func.FunctionApp()


@app.event_grid_trigger(arg_name="event")
def vm_changed(event: func.EventGridEvent) -> None:
    with open(os.environ["RECEIVED_EVENTS_FILE"], "a") as received:
        record = {
            "id": event.id,
            "eventType": event.event_type,
            "subject": event.subject,
            "topic": event.topic,
            "data": event.get_json(),
        }
        received.write(json.dumps(record) + "\n")
