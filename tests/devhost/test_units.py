"""devhost's pure parts: schedules, routes, action numbering, body decoding."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from devhost.engine import describe_action, flatten_actions, json_text_of_body, retry_delay_seconds
from devhost.ncrontab import Schedule
from devhost.routing import RouteTemplate
from devhost.server import _world_clock, parse_args
from diskdr.errors import ScheduleError


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("0 */5 * * * *", datetime(2024, 1, 1, 0, 3, 7), datetime(2024, 1, 1, 0, 5)),
        ("*/10 * * * * *", datetime(2024, 1, 1, 0, 0, 5), datetime(2024, 1, 1, 0, 0, 10)),
        ("0 30 9 * Jan Mon", datetime(2024, 2, 1), datetime(2025, 1, 6, 9, 30)),
        ("0 0 0 29 Feb *", datetime(2024, 3, 1), datetime(2028, 2, 29)),
        ("0 0 12 * * 1-5", datetime(2024, 6, 7, 13), datetime(2024, 6, 10, 12)),
        ("0 0 0 * * 7", datetime(2024, 6, 3), datetime(2024, 6, 9)),
        ("00:05:00", datetime(2024, 1, 1, 0, 0, 5), datetime(2024, 1, 1, 0, 5, 5)),
    ],
)
def test_ncrontab_next_occurrence(expression, after, expected):
    schedule = Schedule(expression)
    found = schedule.next_after(after.replace(tzinfo=UTC))
    assert found == expected.replace(tzinfo=UTC)
    assert schedule.matches(found)


@pytest.mark.parametrize("expression", ["* * * * *", "61 * * * * *", "0 0 0 * Foo *", "a b"])
def test_ncrontab_rejects_bad_expressions(expression):
    with pytest.raises(ScheduleError):
        Schedule(expression)


def test_route_templates():
    route = RouteTemplate("api/vms/{id:int}/{disk?}")
    assert route.match("/api/vms/3") == {"id": "3"}
    assert route.match("/API/VMS/3/os/") == {"id": "3", "disk": "os"}
    assert route.match("/api/vms/x") is None
    assert RouteTemplate("api/{*rest}").match("/api/a/b") == {"rest": "a/b"}
    assert RouteTemplate("api/backups").precedence < RouteTemplate("api/{name}").precedence


def test_actions_are_numbered_depth_first_through_compounds():
    activity = {"actionType": 0, "functionName": "a", "input": "1"}
    timer = {"actionType": 5, "fireAt": "2024-01-01T00:00:00Z", "isCanceled": False}
    event = {"actionType": 6, "externalEventName": "go", "reason": "ExternalEvent"}
    nested = {
        "actionType": 12,
        "compoundActions": [{"actionType": 11, "compoundActions": [event, timer]}, activity],
    }
    atomic = flatten_actions([[activity, nested]])
    assert [describe_action(a)[0] for a in atomic] == [
        "activity",
        "external event",
        "timer",
        "activity",
    ]


def test_retry_delay_follows_dtfx():
    options = {"firstRetryIntervalInMilliseconds": 1000, "maxNumberOfAttempts": 5}
    assert retry_delay_seconds(options, 1) == 1.0
    backoff = {**options, "backoffCoefficient": 2, "maxRetryIntervalInMilliseconds": 3000}
    assert [retry_delay_seconds(backoff, n) for n in (1, 2, 3)] == [1.0, 2.0, 3.0]


def test_body_json_text_unwraps_the_sdk_double_encoding():
    assert json_text_of_body(json.dumps(json.dumps({"a": 1})).encode()) == '{"a": 1}'
    assert json_text_of_body(b'{"a": 1}') == '{"a": 1}'
    assert json_text_of_body(b'"plain text"') == '"plain text"'
    assert json_text_of_body(b"") is None
    with pytest.raises(ValueError):
        json_text_of_body(b"{oops")


def test_world_clock_flags_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("DISKDR_TIME_SCALE", "60")
    monkeypatch.setenv("DISKDR_CLOCK_ANCHOR", "1000.5")
    from_env = _world_clock(parse_args([]))
    assert (from_env.scale, from_env.anchor) == (60.0, 1000.5)
    flags = _world_clock(parse_args(["--time-scale", "600", "--clock-anchor", "7"]))
    assert (flags.scale, flags.anchor) == (600.0, 7.0)
    monkeypatch.delenv("DISKDR_TIME_SCALE")
    monkeypatch.delenv("DISKDR_CLOCK_ANCHOR")
    before = time.time()
    real = _world_clock(parse_args([]))
    assert real.scale == 1.0 and before <= real.anchor <= time.time()
