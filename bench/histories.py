"""Benchmark: how big the orchestration histories of one backup cycle get, and its reads.

    .venv/bin/python bench/histories.py [--vms 100] [--copy-seconds 3600] [--time-scale 600]

One scheduled cycle of N VMs (an OS and a data disk each, Premium SSD) replicated to a
second region, copies taking ``--copy-seconds`` world seconds. While it runs, devhost's
history table is sampled (every poll of the wait): for ``replicate_point``,
``prune_policy`` and ``backup_cycle``, the largest history any instance of it held
(events, and bytes of event JSON). Then the ARM reads per disk the emulator counted. The
numbers go into docs/performance.md (## Histories).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import textwrap
import time
from collections import defaultdict
from pathlib import Path

from twin.bench_estate import bench_estate, bench_policy
from twin.harness import Twin

NAMES = ("replicate_point", "prune_policy", "backup_cycle")


def sample(database: Path, largest: dict[str, list[int]]) -> None:
    """Fold the current history sizes (per instance) into ``largest`` (per name)."""
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT i.name, COUNT(h.seq), COALESCE(SUM(LENGTH(h.event)), 0) FROM instances i "
            "JOIN history h ON h.instance_id = i.instance_id GROUP BY i.instance_id"
        ).fetchall()
    for name, events, size in rows:
        if name in NAMES:
            largest[name][0] = max(largest[name][0], int(events))
            largest[name][1] = max(largest[name][1], int(size))


def run(count: int, copy_seconds: float, time_scale: float) -> dict:
    largest: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "policies.yaml"
        policy.write_text(bench_policy(replicate=True))
        twin = Twin(
            policy_file=policy,
            time_scale=time_scale,
            tick_schedule="0 */10 * * * *",
            settings={"DISKDR_VM_BATCH_SIZE": "25"},
            state_dir=Path(folder) / "twin",
        )
        twin.start(host=False)
        try:
            twin.control.estate(bench_estate(count, [(128, "Premium_LRS")], replica_group=True))
            twin.control.config(copy={"baseSeconds": copy_seconds, "bytesPerSecond": 50 << 20})
            started = time.monotonic()
            twin.start_host()
            host = twin.host
            client = host.client()
            database = host.state_dir / "durable.sqlite"

            def finished():
                sample(database, largest)
                statuses = host.run(client.get_status_all())
                done = [
                    s for s in statuses
                    if s.instance_id.startswith("cycle-") and s.instance_id.count(":") == 1
                    and s.runtime_status and s.runtime_status.value in ("Completed", "Failed")
                ]  # fmt: skip
                return done or None

            (cycle, *_) = host.wait_until(finished, timeout=3600, what="the cycle")
            sample(database, largest)
            real = time.monotonic() - started
            stats = twin.control.stats()
        finally:
            twin.stop()
    requests = stats["requests"]
    disks = count * 2
    reads = sum(n for op, n in requests.items() if op.partition("_")[2].startswith(("Get", "List")))
    summary = (cycle.output or {}).get("summary", {})
    return {
        "vms": count,
        "disks": disks,
        "phase": (cycle.output or {}).get("phase"),
        "replicated": summary.get("replicated"),
        "real_s": round(real, 1),
        "reads_per_disk": round(reads / disks, 2),
        "largest": {name: tuple(largest[name]) for name in NAMES},
        "reads": {
            op: n for op, n in requests.items() if op.partition("_")[2].startswith(("Get", "List"))
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=textwrap.dedent(__doc__ or ""))
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--copy-seconds", type=float, default=3600.0)
    parser.add_argument("--time-scale", type=float, default=600.0)
    args = parser.parse_args()
    r = run(args.vms, args.copy_seconds, args.time_scale)
    print(
        f"{r['vms']} VMs / {r['disks']} disks, copies {args.copy_seconds:.0f} s: {r['phase']}, "
        f"{r['replicated']} replicated, {r['real_s']} s, {r['reads_per_disk']} reads/disk"
    )
    print(f"reads: {r['reads']}")
    print("| instance | largest history (events) | largest history (KB) |")
    print("|---|---:|---:|")
    for name, (events, size) in r["largest"].items():
        print(f"| `{name}` | {events:,} | {size / 1024:,.1f} |")


if __name__ == "__main__":
    main()
