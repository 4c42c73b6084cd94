"""History events of the Durable Task Framework, as the Durable SDK's replay reads them.

Each event is a plain dict in the shape the 1.x out-of-process protocol sends to
``Orchestrator.handle``: ``EventType``, ``EventId``, ``IsPlayed``, ``Timestamp`` and the
fields of its type (``TaskScheduledId``, ``TimerId``, ``Name``, ``Input``, ``Result``...).
Payloads (``Input``, ``Result``) are JSON text inside the JSON, as on the real host.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from dateutil.parser import isoparse


class EventType(IntEnum):
    """``HistoryEventType`` of the SDK (the DTFx numbering)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16


class ActionType(IntEnum):
    """``ActionType`` of the SDK: what an orchestrator asks the host to do."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


# Completion events and the field that names the task they complete.
COMPLETION_KEYS = {
    EventType.TASK_COMPLETED: "TaskScheduledId",
    EventType.TASK_FAILED: "TaskScheduledId",
    EventType.SUB_ORCHESTRATION_COMPLETED: "TaskScheduledId",
    EventType.SUB_ORCHESTRATION_FAILED: "TaskScheduledId",
    EventType.TIMER_FIRED: "TimerId",
}

# Events that record work the orchestrator scheduled; their EventId is the sequence number.
SCHEDULING_EVENTS = {
    EventType.TASK_SCHEDULED,
    EventType.SUB_ORCHESTRATION_CREATED,
    EventType.TIMER_CREATED,
    EventType.EVENT_SENT,
}


def format_time(unix_seconds: float) -> str:
    """World time as the ISO 8601 UTC text the host writes (microseconds, ``Z``)."""
    moment = datetime.fromtimestamp(unix_seconds, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> float:
    """ISO 8601 text (naive means UTC) to Unix seconds."""
    moment = isoparse(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def event(event_type: EventType, timestamp: float, event_id: int = -1, **fields: Any) -> dict:
    """One history event; ``None`` fields are left out as the host does."""
    record: dict[str, Any] = {
        "EventType": int(event_type),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": format_time(timestamp),
    }
    record.update({key: value for key, value in fields.items() if value is not None})
    return record


def completed_task_id(record: dict) -> int | None:
    """The task id a completion event completes, or None for other events."""
    key = COMPLETION_KEYS.get(EventType(record["EventType"]))
    return None if key is None else record.get(key)


def public_history(events: list[dict], with_output: bool) -> list[dict]:
    """History in the friendly shape of the management API's ``showHistory`` answer."""
    names_by_id: dict[int, str] = {}
    scheduled_at: dict[int, str] = {}
    shown: list[dict] = []
    for record in events:
        kind = EventType(record["EventType"])
        if kind in (EventType.ORCHESTRATOR_STARTED, EventType.ORCHESTRATOR_COMPLETED):
            continue
        if kind in SCHEDULING_EVENTS:
            names_by_id[record["EventId"]] = record.get("Name") or record.get("InstanceId", "")
            scheduled_at[record["EventId"]] = record["Timestamp"]
            if kind != EventType.TIMER_CREATED:
                continue
        entry: dict[str, Any] = {"EventType": _pascal(kind), "Timestamp": record["Timestamp"]}
        task_id = completed_task_id(record)
        if task_id is not None:
            entry["EventId"] = task_id
            if kind != EventType.TIMER_FIRED:
                entry["FunctionName"] = names_by_id.get(task_id, "")
            entry["ScheduledTime"] = scheduled_at.get(task_id)
        for key in ("Name", "FireAt", "Reason", "Details", "OrchestrationStatus"):
            if key in record:
                entry["FunctionName" if key == "Name" else key] = record[key]
        if with_output:
            for key in ("Input", "Result"):
                if key in record:
                    entry[key] = json_or_text(record[key])
        shown.append(entry)
    return shown


def _pascal(kind: EventType) -> str:
    return "".join(part.capitalize() for part in kind.name.split("_")).replace(
        "SubOrchestration", "SubOrchestrationInstance"
    )


def json_or_text(text: Any) -> Any:
    """A stored JSON text as its value; text that is not JSON (or not text) as it is."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
