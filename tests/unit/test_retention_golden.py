"""Golden retention decisions: today's keep lists must equal the checked-in ones.

The files in tests/golden/retention/ are rewritten only on purpose, with
``python tests/golden/retention/generate.py --update`` (then review the diff).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

GENERATOR = Path(__file__).resolve().parents[1] / "golden" / "retention" / "generate.py"


def _load_generator():
    spec = importlib.util.spec_from_file_location("retention_golden", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


golden = _load_generator()


def test_the_golden_points_are_two_years_every_four_hours():
    points = golden.golden_points()
    assert len(points) == 2 * 365 * 6
    assert points[0].slot.isoformat() == "2025-01-01T00:00:00+00:00"
    assert points[-1].slot.isoformat() == "2026-12-31T20:00:00+00:00"
    assert sum(not p.usable and not p.failed for p in points) == 1
    assert sum(p.failed for p in points) == 1


@pytest.mark.parametrize("case", sorted(golden.CASES))
def test_decision_matches_the_golden_file(case):
    path = golden.path_of(case)
    assert path.exists(), f"missing {path.name}: run generate.py --update and review it"
    expected = path.read_text()
    actual = golden.render(case)
    assert actual == expected, (
        f"retention decision for {case} changed; if intended, run "
        "python tests/golden/retention/generate.py --update and review the diff"
    )


def test_every_golden_file_has_a_case():
    files = {path.stem for path in golden.HERE.glob("*.txt")}
    assert files == set(golden.CASES)
