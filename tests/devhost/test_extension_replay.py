"""devhost replays orchestrator actions as the Durable extension does on Azure.

Each test names the extension (azure-functions-durable-extension, ``src/WebJobs.Extensions.
DurableTask/``) or SDK (azure-functions-durable 1.7) source it follows; ``docs/devhost.md``
("Replay as the extension does") has the line numbers.
"""

from __future__ import annotations

import json
import time

import pytest

from devhost.testing import DevHost
from tests.devhost.conftest import basic_env, copy_app

pytestmark = pytest.mark.slow

SCALE = 600


@pytest.fixture(scope="module")
def host(tmp_path_factory, basic_files):
    app_dir = copy_app("basic", tmp_path_factory.mktemp("faithful"))
    with DevHost(app_dir, time_scale=SCALE, env=basic_env(basic_files)) as running:
        yield running


def start(host, name, value=None, instance_id=None):
    return host.run(host.client().start_new(name, instance_id, value))


def test_sliding_window_serialises_as_on_azure_and_not_under_fast_replay(tmp_path, basic_files):
    # OutOfProcOrchestrationShim.ProcessAsyncActionsV2 awaits each action before invoking the
    # next; the SDK's WhenAny holds only the newly scheduled child (Task.py CompoundTask), so
    # past the first window each child waits for the one before it.
    spec = {"items": 10, "window": 3}
    seen = {}
    for mode, fast in (("faithful", False), ("fast", True)):
        app_dir = copy_app("basic", tmp_path / mode)
        with DevHost(app_dir, time_scale=SCALE, env=basic_env(basic_files), fast_replay=fast) as h:
            status = h.wait_for(start(h, "sliding_window", spec), timeout=120)
        assert status["runtimeStatus"] == "Completed", status
        seen[mode] = status["output"]
    # Children 5.. start after the first window drained: alone on Azure (faithful) ...
    assert seen["faithful"][5:] == [1] * 5
    # ... while the fast path kept the window full.
    assert max(seen["fast"][5:]) >= 2


def test_timer_beyond_six_days_is_split_as_the_sdk_v3_does(tmp_path, basic_files):
    # The host offers schema V3 with the Azure Storage limits (maximumShortTimerDuration 6
    # days, longRunningTimerIntervalDuration 3 days); the SDK then waits 8 days as a 3-day
    # timer and a 5-day one.
    app_dir = copy_app("basic", tmp_path)
    with DevHost(app_dir, time_scale=86400 * 4, env=basic_env(basic_files)) as h:
        instance_id = start(h, "long_sleep", 8)
        status = h.wait_for(instance_id, timeout=60)
        history = h.status(instance_id, showHistory=True)["historyEvents"]
    assert status["runtimeStatus"] == "Completed", status
    assert status["output"] >= 8 * 86400
    created = [e for e in history if e["EventType"] == "TimerCreated"]
    assert len(created) == 2


def test_function_timeout_from_host_json_fails_the_activity(tmp_path, basic_files):
    app_dir = copy_app("basic", tmp_path)
    settings = json.loads((app_dir / "host.json").read_text())
    settings["functionTimeout"] = "00:00:01"
    (app_dir / "host.json").write_text(json.dumps(settings))
    with DevHost(app_dir, time_scale=SCALE, env=basic_env(basic_files)) as h:
        status = h.wait_for(start(h, "sleepy_call", 4), timeout=60)
    assert status["runtimeStatus"] == "Completed", status
    # TaskActivityShim: "Activity function '{name}' failed: {message}", the host's message.
    assert (
        "Activity function 'sleeper' failed: Timeout value of 00:00:01 was exceeded by "
        in (status["output"])
    )


def test_custom_status_over_16_kb_fails_the_orchestration(host):
    # DurableOrchestrationContext.SetCustomStatus: at most 16 KB of UTF-16 JSON.
    fits = host.wait_for(start(host, "loud_status", 16))
    assert fits["runtimeStatus"] == "Completed", fits
    refused = host.wait_for(start(host, "loud_status", 17))
    assert refused["runtimeStatus"] == "Failed"
    assert "must not exceed 16 KB. The current payload size is 17 KB" in refused["output"]


def test_a_terminated_sub_orchestration_leaves_its_parent_waiting(host):
    parent_id = start(host, "terminated_child_parent")
    child_id = f"{parent_id}-child"
    host.wait_until(
        lambda: (host.status(child_id) or {}).get("runtimeStatus") == "Running",
        what="child running",
    )
    host.run(host.client().terminate(child_id, "operator stop"))
    host.wait_until(
        lambda: host.status(child_id)["runtimeStatus"] == "Terminated", what="child terminated"
    )
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # nothing must come; give it every chance to
        assert host.status(parent_id)["runtimeStatus"] == "Running"
        time.sleep(0.1)
    host.run(host.client().terminate(parent_id, "cleanup"))
