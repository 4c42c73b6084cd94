"""A bad setting or a broken policy never takes the app down at import: the app loads,
GET /api/health answers 503 naming each problem, and the scheduler tick fails loudly on
every run. Driven in a fresh interpreter, as the Functions worker imports the app."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import azure.functions as func
import pytest

import diskdr.service
from diskdr.health import health
from diskdr.settings import DEFAULT_TICK_SCHEDULE, indexed_tick_schedule
from triggers import health as health_trigger

ROOT = Path(__file__).resolve().parents[2]
SUB = "00000000-0000-0000-0000-000000000001"
GOOD_POLICY = """\
version: 1
policies:
  - name: nightly
    target: {tags: {backup: nightly}}
    schedules: [{cron: "0 0 1 * * *"}]
    retention: {daily: 7}
"""


def test_a_bad_tick_schedule_falls_back_at_indexing_and_is_reported():
    assert indexed_tick_schedule({"DISKDR_TICK_SCHEDULE": "0 */10 * * * *"}) == (
        "0 */10 * * * *",
        None,
    )
    schedule, error = indexed_tick_schedule({"DISKDR_TICK_SCHEDULE": "every five minutes"})
    assert schedule == DEFAULT_TICK_SCHEDULE
    assert error is not None and error.startswith("DISKDR_TICK_SCHEDULE:")


@pytest.fixture()
def service_reset(monkeypatch):
    monkeypatch.setattr(diskdr.service, "_service", None)


def call_health(monkeypatch, env: dict[str, str]) -> tuple[int, dict]:
    for name in ("DISKDR_TICK_SCHEDULE", "DISKDR_POLICY_TEXT", "DISKDR_POLICY_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    request = func.HttpRequest("GET", "/api/health", body=b"")
    response = health_trigger.health_status._function._func(request)
    return response.status_code, json.loads(response.get_body())


def test_health_is_200_with_the_policies_when_all_is_well(monkeypatch, service_reset):
    monkeypatch.setenv("DISKDR_SUBSCRIPTION_IDS", SUB)
    monkeypatch.setenv("DISKDR_INSTALL_ID", "health-test")
    status, body = call_health(monkeypatch, {"DISKDR_POLICY_TEXT": GOOD_POLICY})
    assert (status, body) == (200, {"status": "healthy", "problems": [], "policies": ["nightly"]})


def test_health_names_a_broken_policy_with_its_line(monkeypatch, service_reset):
    monkeypatch.setenv("DISKDR_SUBSCRIPTION_IDS", SUB)
    monkeypatch.setenv("DISKDR_INSTALL_ID", "health-test")
    broken = GOOD_POLICY.replace("daily: 7", "daily: seven")
    status, body = call_health(monkeypatch, {"DISKDR_POLICY_TEXT": broken})
    assert status == 503 and body["status"] == "unhealthy"
    [problem] = body["problems"]
    assert problem["code"] == "BadPolicy" and problem["target"] == "DISKDR_POLICY_TEXT"
    assert problem["message"].startswith("DISKDR_POLICY_TEXT:6: policies[0].retention.daily:")
    assert body["error"] == {
        "code": "Unhealthy",
        "message": problem["message"],
        "target": "DISKDR_POLICY_TEXT",
    }


def test_health_names_each_bad_setting():
    report = health(
        lambda settings: pytest.fail("no policy is read with broken settings"),
        {"DISKDR_SUBSCRIPTION_IDS": "not-a-guid", "DISKDR_TICK_SCHEDULE": "bad"},
    )
    assert report["status"] == "unhealthy"
    assert [p["target"] for p in report["problems"]] == [
        "DISKDR_TICK_SCHEDULE",
        "DISKDR_SUBSCRIPTION_IDS",
    ]


@pytest.mark.slow
def test_the_app_loads_with_a_bad_schedule_and_policy_and_fails_loudly_where_it_should():
    probe = textwrap.dedent(
        """
        import asyncio, json, types
        import azure.functions as func
        import function_app
        from diskdr.errors import ConfigError
        from triggers import health, timer

        functions = sorted(f.get_function_name() for f in function_app.app.get_functions())
        request = func.HttpRequest("GET", "/api/health", body=b"")
        response = health.health_status._function._func(request)
        tick = timer.scheduler_tick._function._func.__wrapped__
        try:
            asyncio.run(tick(timer=types.SimpleNamespace(past_due=False), client=None))
            tick_error = None
        except ConfigError as error:
            tick_error = str(error)
        print(json.dumps({"functions": functions, "schedule": timer.TICK_SCHEDULE,
                          "health": [response.status_code, json.loads(response.get_body())],
                          "tick": tick_error}))
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DISKDR_SUBSCRIPTION_IDS": SUB,
        "DISKDR_INSTALL_ID": "import-test",
        "DISKDR_TICK_SCHEDULE": "*/5 * * * *",  # five fields: NCRONTAB has six
        "DISKDR_POLICY_TEXT": "version: 2\npolicies: []\n",
        "AzureWebJobsScriptRoot": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"scheduler_tick", "vm_changed", "health_status", "start_backup"} <= set(
        found["functions"]
    )
    assert found["schedule"] == DEFAULT_TICK_SCHEDULE
    status, body = found["health"]
    assert status == 503
    assert [p["target"] for p in body["problems"]] == ["DISKDR_TICK_SCHEDULE", "DISKDR_POLICY_TEXT"]
    assert found["tick"].startswith("DISKDR_TICK_SCHEDULE:")
    assert "DISKDR_TICK_SCHEDULE" in result.stderr  # logged at import, once
