"""Reading infra/ offline: the Bicep files (parsed with pycep-parser), the parameter
defaults, and the app settings main.bicep and app/function.bicep give the app."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@cache
def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


def parameter_defaults(path: Path) -> dict[str, Any]:
    return {
        name: spec.get("default")
        for name, spec in (parse(path).get("parameters") or {}).items()
        if "default" in spec
    }


def diskdr_settings() -> dict[str, Any]:
    """The ``diskdrSettings`` object main.bicep passes to the function app (pycep form)."""
    return parse(INFRA / "main.bicep")["modules"]["app"]["config"]["params"]["diskdrSettings"]


def platform_settings() -> dict[str, Any]:
    """The other app settings app/function.bicep sets (host storage, telemetry, Durable)."""
    variables = parse(INFRA / "app" / "function.bicep")["variables"]
    names = ("hostStorage", "telemetry", "durableHub", "durableScheduler")
    return {key: value for name in names for key, value in variables[name]["value"].items()}
