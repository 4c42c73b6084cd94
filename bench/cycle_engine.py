"""Benchmark: the Durable engine's side of one backup cycle, under the faithful devhost.

    .venv/bin/python bench/cycle_engine.py [--vms 250 500] [--lanes queue round-robin]
        [--time-scale 30] [--in-flight 100]

One scheduled cycle of N VMs on the offline twin, each VM with three disks as in
bench/backup_cycle.py (an OS disk and a data disk on Premium SSD, a data disk on Premium
SSD v2), replicated with ``DISKDR_MAX_VMS_IN_FLIGHT`` and ``DISKDR_MAX_COPIES_PER_REGION``
both at ``--in-flight`` and ``DISKDR_VM_BATCH_SIZE=50``. Copies last 10 to 19 world
minutes (0 to 9 written 4 MiB blocks, a world minute each, on a 10-minute base), so VMs
end at different times, as they do on Azure.

Lanes: ``queue`` is this repository's complete phase (lanes pulling VMs from the cycle's
vm_queue entity); ``round-robin`` runs the same app with ``orchestrations/backup_cycle.py``
as it was before (``ROUND_ROBIN_COMMIT``: VMs dealt round-robin into fixed lanes), taken
from git into a temporary copy of the app — the old code path lives only here.

For each run: ``protect_vm`` instances Running, sampled every two real seconds through the
durable management API, min / median / max while work remains (from the first sample
with 90 % of the lanes' VMs running, as tests/e2e/test_vm_window.py counts, to the last
with a VM not yet started), and the whole series; the largest history (events in
devhost's ``history`` table: a continue_as_new generation's own) per orchestrator name;
orchestrator episodes (replays) and entity batches per VM, from devhost's log; devhost's
CPU seconds (the whole process: replays, activities, entities, HTTP) per VM; real seconds
from devhost's start to the cycle's end. The numbers go into docs/performance.md
(## Durable engine).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devhost.history import EventType
from devhost.store import TERMINAL_STATES
from devhost.testing import DevHost
from twin.bench_estate import bench_estate, bench_policy
from twin.harness import REPO_ROOT, Twin

# A commit whose orchestrations/backup_cycle.py has the round-robin lanes (unchanged on main
# until the queue replaced them).
ROUND_ROBIN_COMMIT = "25ec6162b79700c113ab3d1e6b5c1a8a0e206148"
APP_PARTS = ("function_app.py", "host.json", "activities", "diskdr", "orchestrations", "triggers")
BLOCK = 4 * 1024 * 1024
SAMPLE_EVERY = 2.0  # real seconds
TOP_TYPES = 8


class AppTwin(Twin):
    """The twin with devhost running the app in ``app_dir`` (a copy of this one)."""

    def __init__(self, app_dir: Path, **options: Any) -> None:
        super().__init__(**options)
        self.app_dir = app_dir

    def start_host(self) -> DevHost:
        self.host = DevHost(
            self.app_dir,
            time_scale=self.time_scale,
            clock_anchor=self.anchor,
            state_dir=self.state_dir / "devhost",
            env=self.app_settings(),
        )
        self.host.start()
        return self.host


def app_copy(destination: Path, lanes: str) -> Path:
    """This app copied to ``destination``; with the old backup_cycle for round-robin."""
    destination.mkdir()
    for part in APP_PARTS:
        source = REPO_ROOT / part
        if source.is_dir():
            shutil.copytree(
                source, destination / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / part)
    if lanes == "round-robin":
        old = subprocess.run(
            ["git", "show", f"{ROUND_ROBIN_COMMIT}:orchestrations/backup_cycle.py"],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (destination / "orchestrations" / "backup_cycle.py").write_text(old)
    return destination


def vary_copies(twin: Twin, disks: list[str]) -> None:
    twin.control.config(copy={"baseSeconds": 600, "bytesPerSecond": BLOCK / 60})
    for number, disk_id in enumerate(sorted(disks)):
        if number % 10:
            twin.control.write(disk_id, blocks=number % 10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def protect_vm_counts(host: DevHost, cycle_id: str) -> tuple[int, int]:
    """(Running, existing) protect_vm instances of the cycle, through the management API."""
    base = "/runtime/webhooks/durabletask/instances/?instanceIdPrefix=" + quote(f"{cycle_id}:vm:")
    counts = []
    for query in ("&runtimeStatus=Running", ""):
        status, body = host.request("GET", base + query, key=host.master_key)
        assert status == 200, body
        counts.append(sum(1 for i in body if i["name"] == "protect_vm"))  # not replicate_point
    return counts[0], counts[1]


def run(count: int, lanes: str, time_scale: float, in_flight: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "policies.yaml"
        policy.write_text(bench_policy(replicate=True))
        twin = AppTwin(
            app_copy(Path(folder) / "app", lanes),
            policy_file=policy,
            time_scale=time_scale,
            tick_schedule="0 */10 * * * *",
            settings={
                "DISKDR_MAX_VMS_IN_FLIGHT": str(in_flight),
                "DISKDR_MAX_COPIES_PER_REGION": str(in_flight),
                "DISKDR_VM_BATCH_SIZE": "50",
            },
            state_dir=Path(folder) / "twin",
        )
        twin.start(host=False)
        try:
            vary_copies(
                twin,
                twin.control.estate(
                    bench_estate(
                        count, [(256, "PremiumV2_LRS"), (128, "Premium_LRS")], replica_group=True
                    )
                )["created"]["disks"],
            )
            started = time.monotonic()
            host = twin.start_host()
            cpu_start = cpu_seconds(host.pid)
            cycle_id, samples = watch(host, count)
            real = time.monotonic() - started
            cpu = cpu_seconds(host.pid) - cpu_start
            report = host.status(cycle_id)["output"] or {}
            histories = history_sizes(host)
            episodes = episode_counts(host)
        finally:
            twin.stop()
    full = 0.9 * min(in_flight, count)  # as tests/e2e/test_vm_window.py counts
    first = next((n for n, (running, _) in enumerate(samples) if running >= full), 0)
    window = [running for running, made in samples[first:] if made < count] or [0]
    summary = report.get("summary", {})
    return {
        "vms": count,
        "disks": 3 * count,
        "lanes": lanes,
        "phase": report.get("phase"),
        "usable": summary.get("usable"),
        "replicated": summary.get("replicated"),
        "window_min": min(window),
        "window_median": statistics.median(window),
        "window_max": max(window),
        "samples": len(window),
        "real_s": round(real),
        "cpu_per_vm": round(cpu / count, 2),
        "episodes_per_vm": round(sum(episodes.values()) / count, 1),
        "episodes": episodes,
        "series": " ".join(f"{running}/{made}" for running, made in samples),
        **histories,
    }


def episode_counts(host: DevHost) -> Counter[str]:
    """Orchestrator episodes (replays) and entity batches per function, from devhost's log
    (one line each); unlike histories, they count the generations continue_as_new ended."""
    counts: Counter[str] = Counter()
    for line in host.log_path.read_text(errors="replace").splitlines():
        if "(Orchestrator)' " in line:
            counts[line.split("Function '", 1)[1].split(" (Orchestrator)", 1)[0]] += 1
        elif "Executing 'Functions." in line and "Reason='entity " in line:
            counts[line.split("Functions.", 1)[1].split("'", 1)[0] + " (entity)"] += 1
    return counts


def watch(host: DevHost, count: int) -> tuple[str, list[tuple[int, int]]]:
    """Wait for the cycle (the tick starts it) to end, sampling the protect_vm window."""
    samples: list[tuple[int, int]] = []

    def the_cycle() -> str | None:
        listed = host.request(
            "GET", "/runtime/webhooks/durabletask/instances/?instanceIdPrefix=cycle-",
            key=host.master_key,
        )[1]  # fmt: skip
        cycles = [i["instanceId"] for i in listed if i["name"] == "backup_cycle"]
        return cycles[0] if cycles else None

    cycle_id = host.wait_until(the_cycle, timeout=600, what="the scheduled cycle")
    deadline = time.monotonic() + 7200
    while time.monotonic() < deadline:
        samples.append(protect_vm_counts(host, cycle_id))
        if host.status(cycle_id)["runtimeStatus"] in TERMINAL_STATES:
            return cycle_id, samples
        time.sleep(SAMPLE_EVERY)
    raise TimeoutError(f"{cycle_id} of {count} VMs did not end in two hours")


def history_sizes(host: DevHost) -> dict[str, Any]:
    """The largest histories per orchestrator name, and the events all replays read."""
    assert host.state_dir is not None
    with sqlite3.connect(host.state_dir / "durable.sqlite") as db:
        rows = db.execute(
            "SELECT i.name, COUNT(*) FROM history h "
            "JOIN instances i ON i.instance_id = h.instance_id GROUP BY h.instance_id"
        ).fetchall()
        (replayed,) = db.execute(
            "SELECT COALESCE(SUM(seq), 0) FROM history "
            "WHERE json_extract(event, '$.EventType') = ?",
            (int(EventType.ORCHESTRATOR_STARTED),),
        ).fetchone()
    largest: dict[str, int] = {}
    instances: Counter[str] = Counter()
    for name, events in rows:
        largest[name] = max(largest.get(name, 0), events)
        instances[name] += 1
    ranked = sorted(largest, key=lambda name: -largest[name])[:TOP_TYPES]
    return {
        "largest": [(name, largest[name], instances[name]) for name in ranked],
        "replayed_events": int(replayed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=textwrap.dedent(__doc__ or ""))
    parser.add_argument("--vms", type=int, nargs="+", default=[250, 500])
    parser.add_argument("--lanes", nargs="+", default=["queue", "round-robin"])
    parser.add_argument("--time-scale", type=float, default=30.0)
    parser.add_argument("--in-flight", type=int, default=100)
    args = parser.parse_args()
    print("| VMs | disks | lanes | phase | usable | replicated | protect_vm running min / median "
          "/ max (samples) | largest history | episodes per VM | devhost CPU s per VM "
          "| real s |")  # fmt: skip
    print("|---:|---:|---|---|---:|---:|---|---:|---:|---:|---:|")
    details = []
    for count in args.vms:
        for lanes in args.lanes:
            r = run(count, lanes, args.time_scale, args.in_flight)
            print(
                f"| {r['vms']} | {r['disks']} | {r['lanes']} | {r['phase']} | {r['usable']} "
                f"| {r['replicated']} | {r['window_min']} / {r['window_median']} / "
                f"{r['window_max']} ({r['samples']}) | {r['largest'][0][1]:,} "
                f"| {r['episodes_per_vm']} | {r['cpu_per_vm']} | {r['real_s']} |",
                flush=True,
            )
            details.append(r)
    for r in details:
        print(f"\nLargest histories, {r['vms']} VMs, {r['lanes']} lanes (events, instances):")
        for name, events, instances in r["largest"]:
            print(f"- {name}: {events:,} ({instances:,} instances)")
        print("Episodes:", ", ".join(f"{name} {n:,}" for name, n in r["episodes"].most_common()))
        print(f"Events replayed in the kept histories: {r['replayed_events']:,}")
        print("protect_vm running/started every", SAMPLE_EVERY, "s:", r["series"])


if __name__ == "__main__":
    main()
