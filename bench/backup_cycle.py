"""Benchmark: one scheduled backup cycle of N VMs on the offline twin.

    .venv/bin/python bench/backup_cycle.py [--vms 10 50] [--time-scale 1200]
    .venv/bin/python bench/backup_cycle.py --vms 100 --time-scale 120

Each VM has an OS disk (Premium SSD) and two data disks (one Premium SSD v2, whose points
stay Pending for a while); the policy replicates to a second region with a copy cap of
20. For each N: real seconds from the tick to the cycle's end, world minutes, ARM calls
per disk (reads / writes / deletes as the emulator counts them, i.e. the share of ARM's
throttling budget diskdr spends per point), and the number of orchestration instances.
The numbers go into docs/performance.md (## Backup cycle).
"""

from __future__ import annotations

import argparse
import tempfile
import textwrap
import time
from pathlib import Path

from twin.bench_estate import bench_estate, bench_policy
from twin.harness import Twin


def run(count: int, time_scale: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "policies.yaml"
        policy.write_text(bench_policy(replicate=True))
        twin = Twin(
            policy_file=policy,
            time_scale=time_scale,
            tick_schedule="0 */10 * * * *",
            settings={"DISKDR_MAX_COPIES_PER_REGION": "20", "DISKDR_VM_BATCH_SIZE": "10"},
            state_dir=Path(folder) / "twin",
        )
        twin.start(host=False)
        try:
            twin.control.estate(
                bench_estate(
                    count, [(256, "PremiumV2_LRS"), (128, "Premium_LRS")], replica_group=True
                )
            )
            started = time.monotonic()
            world_start = twin.clock.time()
            twin.start_host()
            host = twin.host
            client = host.client()

            def finished():
                statuses = host.run(client.get_status_all())
                cycles = [
                    s for s in statuses
                    if s.instance_id.startswith("cycle-") and s.instance_id.count(":") == 1
                ]  # fmt: skip
                done = [
                    s for s in cycles
                    if s.runtime_status and s.runtime_status.value in ("Completed", "Failed")
                ]  # fmt: skip
                return (done, len(statuses)) if done else None

            (cycle, *_), instances = host.wait_until(finished, timeout=1800, what="the cycle")
            real = time.monotonic() - started
            world = (twin.clock.time() - world_start) / 60
            stats = twin.control.stats()
        finally:
            twin.stop()
    requests = stats["requests"]
    disks = count * 3
    reads = sum(n for op, n in requests.items() if op.endswith(("_Get", "_List", "_ListAll"))
                or "ListBy" in op or op == "Operations_GetStatus")  # fmt: skip
    writes = sum(n for op, n in requests.items() if op.endswith(("_CreateOrUpdate", "_Update")))
    deletes = sum(n for op, n in requests.items() if op.endswith("_Delete"))
    summary = (cycle.output or {}).get("summary", {})
    return {
        "vms": count,
        "disks": disks,
        "phase": (cycle.output or {}).get("phase"),
        "usable": summary.get("usable"),
        "replicated": summary.get("replicated"),
        "real_s": round(real, 1),
        "world_min": round(world, 1),
        "reads_per_disk": round(reads / disks, 1),
        "writes_per_disk": round(writes / disks, 2),
        "deletes": deletes,
        "instances": instances,
        "peak_copies": max(stats["peakCopies"].values(), default=0),
        "violations": len(stats["limitViolations"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=textwrap.dedent(__doc__ or ""))
    parser.add_argument("--vms", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--time-scale", type=float, default=1200.0)
    args = parser.parse_args()
    print("| VMs | disks | phase | usable | replicated | real s | world min | reads/disk "
          "| writes/disk | instances | peak copies | violations |")  # fmt: skip
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for count in args.vms:
        r = run(count, args.time_scale)
        print(
            f"| {r['vms']} | {r['disks']} | {r['phase']} | {r['usable']} | {r['replicated']} "
            f"| {r['real_s']} | {r['world_min']} | {r['reads_per_disk']} "
            f"| {r['writes_per_disk']} | {r['instances']} | {r['peak_copies']} "
            f"| {r['violations']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
