"""diskdr's health: whether its settings and its policy are usable, as one JSON document.

A broken setting or policy must never stop the app from loading (every function would be
down, silently): it is reported here, by ``GET /api/health``, and by the scheduler tick
failing on each run. The check reads and parses; it makes no Azure call.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from diskdr.errors import ConfigError, PolicyError
from diskdr.policy import PolicySet
from diskdr.settings import Settings, indexed_tick_schedule


def _problem(code: str, message: str, target: str | None) -> dict[str, str]:
    problem = {"code": code, "message": message}
    if target:
        problem["target"] = target
    return problem


def _setting_of(message: str) -> str | None:
    """The setting a ConfigError names (its messages start with ``NAME:``)."""
    head = message.split(":", 1)[0].split()[0] if message else ""
    return head if head.isupper() or head.startswith("DISKDR_") else None


def health(
    policies: Callable[[Settings], PolicySet],
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``{"status": "healthy"|"unhealthy", "problems": [...], "policies": [...]}``, plus
    ``error`` (the API's error shape, code ``Unhealthy``) when unhealthy.

    ``policies`` loads the policy set for the settings (the service's loader: the same
    file or app setting the functions use).
    """
    env = os.environ if environ is None else environ
    problems: list[dict[str, str]] = []
    names: list[str] = []
    _, tick_error = indexed_tick_schedule(env)
    if tick_error:
        problems.append(_problem("BadSetting", tick_error, "DISKDR_TICK_SCHEDULE"))
    try:
        settings = Settings.from_env(env)
    except ConfigError as error:
        problems.append(_problem("BadSetting", str(error), _setting_of(str(error))))
    else:
        try:
            names = [policy.name for policy in policies(settings).policies]
        except (PolicyError, ConfigError) as error:
            source = "DISKDR_POLICY_TEXT" if settings.policy_text else "DISKDR_POLICY_FILE"
            problems.append(_problem("BadPolicy", str(error), source))
    report: dict[str, Any] = {
        "status": "unhealthy" if problems else "healthy",
        "problems": problems,
        "policies": names,
    }
    if problems:
        # An unhealthy answer is also an error in the API's shape (the first problem's
        # target; every problem is in ``problems``).
        first = problems[0]
        report["error"] = {
            "code": "Unhealthy",
            "message": "; ".join(problem["message"] for problem in problems),
            **({"target": first["target"]} if "target" in first else {}),
        }
    return report
