"""Benchmark: one orchestration fanning out N no-op activities under devhost.

    .venv/bin/python bench/devhost_fanout.py [--sizes 100 1000 5000]

For each N: total wall time, episodes (orchestrator replays), history size, and the
per-activity overhead. Replay cost is linear per episode in the SDK; devhost delivers all
completions that are ready in one episode, so the episode count stays far below N and
the total grows about linearly. The numbers go into docs/performance.md (## devhost).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import textwrap
import time
from pathlib import Path

from devhost.history import EventType
from devhost.testing import DevHost

APP = """
import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity(noop, i) for i in range(count)])
    return len(results)


@app.activity_trigger(input_name="index")
def noop(index: int) -> int:
    return index
"""

HOST_JSON = (
    '{"version": "2.0", "extensions": {"durableTask": {"hubName": "bench", '
    '"maxConcurrentActivityFunctions": 8, "maxConcurrentOrchestratorFunctions": 4}}}'
)


def run(sizes: list[int]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        app_dir = Path(folder)
        (app_dir / "function_app.py").write_text(textwrap.dedent(APP))
        (app_dir / "host.json").write_text(HOST_JSON)
        with DevHost(app_dir) as host:
            client = host.client()
            for size in sizes:
                started = time.perf_counter()
                instance_id = host.run(client.start_new("fan_out", None, size))
                status = host.wait_for(instance_id, timeout=1800)
                elapsed = time.perf_counter() - started
                assert status["output"] == size, status
                events, episodes = history_size(host, instance_id)
                rows.append(
                    {
                        "activities": size,
                        "seconds": elapsed,
                        "episodes": episodes,
                        "history_events": events,
                        "ms_per_activity": 1000 * elapsed / size,
                    }
                )
    return rows


def history_size(host: DevHost, instance_id: str) -> tuple[int, int]:
    """(history events, episodes) of an instance, read from devhost's state."""
    assert host.state_dir is not None
    with sqlite3.connect(host.state_dir / "durable.sqlite") as db:
        (events,) = db.execute(
            "SELECT COUNT(*) FROM history WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        (episodes,) = db.execute(
            "SELECT COUNT(*) FROM history WHERE instance_id = ? "
            "AND json_extract(event, '$.EventType') = ?",
            (instance_id, int(EventType.ORCHESTRATOR_STARTED)),
        ).fetchone()
    return int(events), int(episodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    rows = run(parser.parse_args().sizes)
    print("| activities | total s | episodes | history events | ms per activity |")
    print("|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['activities']:,} | {row['seconds']:.2f} | {row['episodes']} | "
            f"{row['history_events']:,} | {row['ms_per_activity']:.2f} |"
        )


if __name__ == "__main__":
    main()
