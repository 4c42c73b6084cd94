"""Benchmark: a throttle-bound backup cycle, with and without throttle-aware pacing.

    .venv/bin/python bench/throttle_pacing.py [--vms 100] [--time-scale 30]

The emulator refuses requests over its token buckets (``--throttle``), with the write
bucket scaled down (20 burst, 0.05 per world second) so the cycle is bound by it: 100 VMs
with three Premium SSD disks each need 300 snapshot PUTs, at least ``300 / 0.05`` = 6000
world seconds. diskdr is told the same buckets (``DISKDR_ARM_BUCKETS``). For each mode:
the cycle's makespan (world time from the tick's start to the cycle's end) against that
lower bound, the 429s the emulator answered, points failed, and the cycle's phase. The
numbers go into docs/performance.md (## Throttle-aware pacing).
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

from twin.bench_estate import bench_estate, bench_policy
from twin.harness import Twin

WRITE_BURST = 20
WRITE_RATE = 0.05  # tokens per world second
BUCKETS = {
    "reads": {"burst": 250, "rate": 25},
    "writes": {"burst": WRITE_BURST, "rate": WRITE_RATE},
    "deletes": {"burst": 200, "rate": 10},
}


def run(count: int, time_scale: float, paced: bool) -> dict:
    buckets = ",".join(f"{kind}={b['burst']}/{b['rate']}" for kind, b in BUCKETS.items())
    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "policies.yaml"
        policy.write_text(bench_policy(replicate=False))
        twin = Twin(
            policy_file=policy,
            time_scale=time_scale,
            throttle=True,
            tick_schedule="0 */10 * * * *",
            settings={
                "DISKDR_VM_BATCH_SIZE": "20",
                "DISKDR_GROUP_DEADLINE": "PT12H",
                "DISKDR_ARM_PACING": "true" if paced else "false",
                "DISKDR_ARM_BUCKETS": buckets,
            },
            state_dir=Path(folder) / "twin",
        )
        twin.start(host=False)
        try:
            twin.control.estate(
                bench_estate(
                    count, [(128, "Premium_LRS"), (128, "Premium_LRS")], replica_group=False
                )
            )
            twin.control.config(buckets=BUCKETS)
            world_start = twin.clock.time()
            twin.start_host()
            host = twin.host
            client = host.client()

            def finished():
                statuses = host.run(client.get_status_all())
                done = [
                    s for s in statuses
                    if s.instance_id.startswith("cycle-") and s.instance_id.count(":") == 1
                    and s.runtime_status
                    and s.runtime_status.value in ("Completed", "Failed")
                ]  # fmt: skip
                return done or None

            (cycle, *_) = host.wait_until(finished, timeout=3600, what="the cycle")
            world = twin.clock.time() - world_start
            stats = twin.control.stats()
        finally:
            twin.stop()
    writes = count * 3
    output = cycle.output or {}
    summary = output.get("summary", {})
    bound = writes / WRITE_RATE
    return {
        "mode": "paced" if paced else "unpaced",
        "disks": writes,
        "phase": output.get("phase"),
        "usable": summary.get("usable"),
        "failed": summary.get("failed"),
        "makespan_s": round(world),
        "bound_s": round(bound),
        "ratio": round(world / bound, 3),
        "throttled": stats["throttled"],
        "puts": stats["requests"].get("Snapshots_CreateOrUpdate", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=textwrap.dedent(__doc__ or ""))
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--time-scale", type=float, default=30.0)
    args = parser.parse_args()
    print("| mode | disks | phase | usable | failed | makespan world s | lower bound s "
          "| ratio | 429s | snapshot PUTs |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for paced in (True, False):
        started = time.monotonic()
        r = run(args.vms, args.time_scale, paced)
        print(
            f"| {r['mode']} | {r['disks']} | {r['phase']} | {r['usable']} | {r['failed']} "
            f"| {r['makespan_s']} | {r['bound_s']} | {r['ratio']} | {r['throttled']} "
            f"| {r['puts']} |  <!-- {time.monotonic() - started:.0f} s real -->",
            flush=True,
        )


if __name__ == "__main__":
    main()
