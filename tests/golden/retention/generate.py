"""Golden retention decisions: a fixed two-year list of 4-hourly points under a table of rules.

Like restic's ``testdata``: the expected keep lists are checked in, one file per case, and
tests/unit/test_retention_golden.py compares today's decisions with them. A change in a
file is a change in what users keep, so files are rewritten only on purpose:

    python tests/golden/retention/generate.py            # compare, exit 1 on a difference
    python tests/golden/retention/generate.py --update   # rewrite the files

Review the diff of the rewritten files before committing them.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from diskdr.retention import PointInfo, RetentionRules, apply, iso_duration

HERE = Path(__file__).resolve().parent
OWNER = "install-golden"
FIRST_SLOT = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
LAST_SLOT = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
STEP = timedelta(hours=4)
NOW = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)

# A few points are not plain complete points, as in a real estate: the newest is still
# being copied, one failed, one is on hold, one is the base of the next replica copy.
IN_PROGRESS = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)
FAILED = datetime(2026, 12, 31, 8, 0, tzinfo=UTC)
HOLD = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
COPY_BASE = datetime(2026, 12, 30, 4, 0, tzinfo=UTC)

CASES: dict[str, RetentionRules] = {
    "last-only": RetentionRules(last=10),
    "gfs-6-7-4-12": RetentionRules(last=6, daily=7, weekly=4, monthly=12),
    "hourly-daily": RetentionRules(hourly=24, daily=14),
    "within-p7d-monthly": RetentionRules(within=timedelta(days=7), monthly=6),
    "yearly": RetentionRules(yearly=5),
    "gfs-europe-berlin": RetentionRules(
        last=6, daily=7, weekly=4, monthly=12, yearly=3, time_zone="Europe/Berlin"
    ),
    "daily-america-new-york": RetentionRules(daily=10, weekly=6, time_zone="America/New_York"),
    "all-zero": RetentionRules(),
    "all-zero-min-keep-5": RetentionRules(min_keep=5),
}


def slot_text(slot: datetime) -> str:
    return f"{slot:%Y-%m-%dT%H:%M}Z"


def golden_points() -> list[PointInfo]:
    """4,380 points, every 4 hours from 2025-01-01T00:00Z to 2026-12-31T20:00Z (oldest first)."""
    points = []
    slot = FIRST_SLOT
    while slot <= LAST_SLOT:
        points.append(
            PointInfo(
                id=f"rp-{slot_text(slot)}",
                slot=slot,
                owner=OWNER,
                usable=slot not in (IN_PROGRESS, FAILED),
                failed=slot == FAILED,
                hold=slot == HOLD,
                copy_base=slot == COPY_BASE,
            )
        )
        slot += STEP
    return points


def describe(rules: RetentionRules) -> str:
    parts = [
        f"{name}={getattr(rules, name)}"
        for name in ("last", "hourly", "daily", "weekly", "monthly", "yearly")
        if getattr(rules, name)
    ]
    if rules.within is not None:
        parts.append(f"within={iso_duration(rules.within)}")
    parts += [f"min_keep={rules.min_keep}", f"time_zone={rules.time_zone}"]
    return " ".join(parts)


def render(case: str) -> str:
    """The golden text of one case: a header, then one line per kept point, newest first."""
    rules = CASES[case]
    points = golden_points()
    decision = apply(points, rules, NOW, OWNER)
    lines = [
        f"# diskdr retention golden file, case {case}: written by generate.py, do not edit.",
        f"# rules: {describe(rules)}",
        f"# points: {len(points)} every 4h from {slot_text(FIRST_SLOT)} to "
        f"{slot_text(LAST_SLOT)}; now: {slot_text(NOW)}",
        f"# kept {len(decision.keep)}, removed {len(decision.remove)}",
    ]
    lines += [
        f"{slot_text(point.slot)}  {', '.join(decision.reasons[point.id])}"
        for point in decision.keep
    ]
    return "\n".join(lines) + "\n"


def path_of(case: str) -> Path:
    return HERE / f"{case}.txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the golden files")
    args = parser.parse_args(argv)
    differences = 0
    for case in CASES:
        text, path = render(case), path_of(case)
        current = path.read_text() if path.exists() else ""
        if text == current:
            continue
        if args.update:
            path.write_text(text)
            print(f"wrote {path.name}")
        else:
            differences += 1
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"{path.name} (checked in)",
                    f"{path.name} (now)",
                )
            )
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
