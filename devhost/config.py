"""devhost's configuration: command line, host.json, local.settings.json and keys.

Mirrors Core Tools (``func start``): ``local.settings.json`` (else the committed
``local.settings.sample.json``) ``Values`` become environment variables unless the
environment already sets them; host.json gives the task hub, the concurrency limits and
the HTTP route prefix; function keys live in ``<state-dir>/keys.json``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("devhost")

ENV_FUNCTION_KEY = "DEVHOST_FUNCTION_KEY"


@dataclass
class HostSettings:
    """What devhost reads from host.json."""

    hub_name: str = "TestHubName"
    max_activities: int = 10
    max_orchestrators: int = 10
    route_prefix: str = "api"
    function_timeout: str | None = None  # host.json functionTimeout, e.g. "00:10:00"

    @classmethod
    def load(cls, app_dir: Path) -> HostSettings:
        path = app_dir / "host.json"
        if not path.is_file():
            return cls()
        document = json.loads(path.read_text())
        extensions = document.get("extensions", {})
        durable = extensions.get("durableTask", {})
        http = extensions.get("http", {})
        return cls(
            hub_name=str(durable.get("hubName") or cls.hub_name),
            max_activities=int(durable.get("maxConcurrentActivityFunctions") or 10),
            max_orchestrators=int(durable.get("maxConcurrentOrchestratorFunctions") or 10),
            route_prefix=str(http.get("routePrefix", "api")),
            function_timeout=document.get("functionTimeout"),
        )


def load_local_settings(app_dir: Path) -> Path | None:
    """Export ``Values`` of local.settings.json (or the sample) to the environment."""
    for name in ("local.settings.json", "local.settings.sample.json"):
        path = app_dir / name
        if path.is_file():
            values = json.loads(path.read_text()).get("Values", {})
            for key, value in values.items():
                # Variables already in the environment win, as with Core Tools.
                os.environ.setdefault(key, "" if value is None else str(value))
            return path
    return None


@dataclass
class Keys:
    """Host keys: the default function key, the master key and extension system keys."""

    function_key: str
    master_key: str
    durabletask_key: str
    eventgrid_key: str

    @classmethod
    def load(cls, state_dir: Path) -> Keys:
        path = state_dir / "keys.json"
        document: dict = {}
        if path.is_file():
            document = json.loads(path.read_text())
        changed = False

        def ensure(section: str, name: str | None) -> str:
            nonlocal changed
            if name is None:
                if not document.get(section):
                    document[section] = _new_key()
                    changed = True
                return str(document[section])
            keys = document.setdefault(section, {})
            if not keys.get(name):
                keys[name] = _new_key()
                changed = True
            return str(keys[name])

        function_key = ensure("functionKeys", "default")
        master_key = ensure("masterKey", None)
        durabletask_key = ensure("systemKeys", "durabletask_extension")
        eventgrid_key = ensure("systemKeys", "eventgrid_extension")
        if changed:
            state_dir.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(json.dumps(document, indent=2) + "\n")
            os.chmod(temporary, 0o600)
            temporary.replace(path)
        override = os.environ.get(ENV_FUNCTION_KEY)
        return cls(override or function_key, master_key, durabletask_key, eventgrid_key)


def _new_key() -> str:
    return secrets.token_urlsafe(40)
