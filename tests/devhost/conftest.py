"""Shared fixtures of the devhost tests: the test apps and a module-wide devhost."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

APPS = Path(__file__).parent / "apps"


def copy_app(name: str, destination: Path) -> Path:
    """A private copy of a test app (its state and any edits stay in ``destination``)."""
    target = destination / name
    shutil.copytree(APPS / name, target, ignore=shutil.ignore_patterns(".state", "__pycache__"))
    return target


@pytest.fixture(scope="module")
def basic_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("basic-files")
    return {
        "events": folder / "events.jsonl",
        "timer": folder / "timer.jsonl",
        "startup": folder / "startup.jsonl",
    }


def basic_env(files: dict[str, Path]) -> dict[str, str]:
    return {
        "BASIC_EVENTS_FILE": str(files["events"]),
        "BASIC_TIMER_FILE": str(files["timer"]),
        "BASIC_STARTUP_FILE": str(files["startup"]),
        "BASIC_OVERRIDDEN": "from the environment",
    }
