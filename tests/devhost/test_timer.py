"""The timer trigger on the world clock: a missed occurrence fires once, past due."""

from __future__ import annotations

import json
import sqlite3

import pytest

from devhost.testing import DevHost
from diskdr.clock import WorldClock
from tests.devhost.conftest import basic_env, copy_app

pytestmark = pytest.mark.slow

SCALE = 60  # one world minute per real second


def fired(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_missed_occurrence_after_downtime_fires_once_past_due(tmp_path, basic_files):
    app_dir = copy_app("basic", tmp_path)
    env = {**basic_env(basic_files), "BASIC_TICK": "0 * * * * *"}  # every world minute
    host = DevHost(app_dir, time_scale=SCALE, env=env)
    timer_file = basic_files["timer"]
    host.start()
    try:
        host.wait_until(lambda: len(fired(timer_file)) >= 1, what="a first tick")
        assert fired(timer_file)[0]["pastDue"] is False
        host.stop()
        ticks_before = len(fired(timer_file))
        with sqlite3.connect(host.state_dir / "durable.sqlite") as db:
            (next_due,) = db.execute(
                "SELECT next FROM timer_triggers WHERE function_name = 'yearly'"
            ).fetchone()
        clock = WorldClock(SCALE, host.clock_anchor)
        # Down for more than one occurrence: two world minutes past the one that was due.
        host.wait_until(lambda: clock.time() > next_due + 120, what="downtime")
        host.start()
        host.wait_until(
            lambda: len(fired(timer_file)) >= ticks_before + 2, what="catch-up and a regular tick"
        )
    finally:
        host.stop()
    after_restart = fired(timer_file)[ticks_before:]
    assert after_restart[0]["pastDue"] is True
    assert [t["pastDue"] for t in after_restart[1:]] == [False] * (len(after_restart) - 1)
