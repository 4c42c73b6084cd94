"""Crash safety: SIGKILL mid-run, restart, resume; and an orchestrator edited in between."""

from __future__ import annotations

import collections
import shutil

import pytest

from devhost.testing import DevHost
from tests.devhost.conftest import copy_app

pytestmark = pytest.mark.slow


def test_killed_host_resumes_and_runs_each_activity_at_most_twice(tmp_path):
    app_dir = copy_app("crash", tmp_path)
    lines_file = tmp_path / "steps.txt"
    host = DevHost(app_dir, env={"CRASH_FILE": str(lines_file)})
    host.start()
    try:
        client = host.client()
        instance_id = host.run(client.start_new("twenty_steps", None, None))
        host.wait_until(
            lambda: lines_file.exists() and len(lines_file.read_text().splitlines()) >= 6,
            what="six steps written",
        )
        host.kill()
        written_before_kill = len(lines_file.read_text().splitlines())
        assert written_before_kill < 20, "the orchestration ended before the kill"
        host.start()
        status = host.wait_for(instance_id, timeout=90)
    finally:
        host.stop()
    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == list(range(20))
    counts = collections.Counter(lines_file.read_text().splitlines())
    assert set(counts) == {f"step {n}" for n in range(20)}
    assert max(counts.values()) <= 2


def test_orchestrator_edited_between_runs_is_non_deterministic(tmp_path):
    app_dir = copy_app("nondeterministic", tmp_path)
    host = DevHost(app_dir)
    host.start()
    try:
        client = host.client()
        instance_id = host.run(client.start_new("flow", None, None))
        host.wait_until(
            lambda: any(
                e["EventType"] == "TaskCompleted"
                for e in host.status(instance_id, showHistory=True)["historyEvents"]
            ),
            what="step_a completed",
        )
        host.kill()
        shutil.copy(app_dir / "function_app_v2.py.txt", app_dir / "function_app.py")
        host.start()
        host.run(client.raise_event(instance_id, "go", None))
        status = host.wait_for(instance_id)
    finally:
        host.stop()
    assert status["runtimeStatus"] == "Failed"
    message = status["output"]
    assert "non-deterministic orchestrator" in message.lower()
    assert "'step_b'" in message and "'step_a'" in message
