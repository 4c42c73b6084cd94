"""Benchmark: one retention decision over 1,000,000 recovery points.

Goal (issue 2): under 2 s of CPU per decision. Prints, per scenario, the CPU seconds of
``retention.apply`` (``time.process_time``, median of three runs) and the peak memory it
allocates (``tracemalloc``, measured in a separate run because tracing slows Python down).
Run with ``make bench`` or ``python bench/retention.py [--points N]``; results go to
docs/performance.md by hand, with the machine they were taken on.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from diskdr.retention import PointInfo, RetentionRules, apply

OWNER = "install-bench"
NEWEST = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)
NOW = NEWEST + timedelta(minutes=30)

GFS = {"last": 6, "daily": 7, "weekly": 4, "monthly": 12, "yearly": 3}
# Bucket rules that never run out: every point's bucket keys are computed (worst case for
# the zone conversion), while only one point in 24 is kept.
EVERY_BUCKET = {"daily": 10**7, "weekly": 10**7, "monthly": 10**7, "yearly": 10**7}


def make_points(count: int) -> list[PointInfo]:
    """Hourly points, oldest first (the order Azure lists one disk's points by name).

    Mixed as in a real estate: 1 in 50 still in progress, 1 in 997 failed, 1 in 5,000 on
    hold, the newest 3 complete points copy bases.
    """
    points = []
    for age in range(count - 1, -1, -1):
        in_progress = age % 50 == 7
        failed = age % 997 == 3
        points.append(
            PointInfo(
                id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/p{age:07d}",
                slot=NEWEST - timedelta(hours=age),
                owner=OWNER,
                usable=not (in_progress or failed),
                failed=failed and not in_progress,
                hold=age % 5000 == 11,
                copy_base=age in (1, 2, 4),
            )
        )
    return points


def cpu_seconds(run: Callable[[], object], repeat: int = 3) -> float:
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        samples.append(time.process_time() - start)
    return statistics.median(samples)


def peak_mib(run: Callable[[], object]) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="retention decision benchmark")
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args(argv)

    started = time.process_time()
    listed = make_points(args.points)
    build = time.process_time() - started
    shuffled = list(listed)
    random.Random(42).shuffle(shuffled)

    scenarios = [
        ("GFS 6/7/4/12/3, UTC", listed, RetentionRules(**GFS)),
        ("GFS 6/7/4/12/3, Europe/Berlin", listed, RetentionRules(**GFS, time_zone="Europe/Berlin")),
        (
            "GFS + within P7D, America/New_York",
            listed,
            RetentionRules(**GFS, within=timedelta(days=7), time_zone="America/New_York"),
        ),
        ("GFS 6/7/4/12/3, UTC, shuffled input", shuffled, RetentionRules(**GFS)),
        ("every point bucketed, UTC", listed, RetentionRules(**EVERY_BUCKET)),
        (
            "every point bucketed, Europe/Berlin",
            listed,
            RetentionRules(**EVERY_BUCKET, time_zone="Europe/Berlin"),
        ),
    ]
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs; {args.points:,} points "
        f"(built in {build:.1f} s CPU, not counted below)"
    )
    print(f"{'scenario':<40} {'kept':>8} {'CPU s':>7} {'peak MiB':>9}")
    for label, points, rules in scenarios:

        def decide(points: list[PointInfo] = points, rules: RetentionRules = rules) -> object:
            return apply(points, rules, NOW, OWNER)

        decision = apply(points, rules, NOW, OWNER)
        kept = len(decision.keep)
        del decision
        seconds = cpu_seconds(decide)
        memory = peak_mib(decide)
        print(f"{label:<40} {kept:>8,} {seconds:>7.2f} {memory:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
