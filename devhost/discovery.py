"""Loading ``function_app.py`` and finding its functions, as the Python worker's indexing does.

The worker imports the script, takes the ``FunctionApp`` object it defines (``app``) and
asks it once for its functions (``get_functions()`` may be called only once per app). Each
function's binding JSON says what triggers it and what it receives; devhost keeps what it
needs to route and invoke it.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.routing import RouteTemplate

log = logging.getLogger("devhost")

SUPPORTED_TRIGGERS = {
    "httpTrigger",
    "timerTrigger",
    "eventGridTrigger",
    "orchestrationTrigger",
    "activityTrigger",
    "entityTrigger",
}


@dataclass
class FunctionSpec:
    """One function of the app: its name, trigger, bindings and Python callable."""

    name: str
    trigger_type: str
    trigger: dict
    bindings: list[dict]
    func: Callable[..., Any]
    client_params: list[str] = field(default_factory=list)
    route: RouteTemplate | None = None
    methods: list[str] | None = None
    auth_level: str = "function"

    @property
    def trigger_param(self) -> str:
        return str(self.trigger["name"])

    @property
    def wants_context(self) -> bool:
        """True if the Python function takes the worker's ``context`` parameter."""
        try:
            parameters = inspect.signature(self.func).parameters
        except (TypeError, ValueError):
            return False
        bound = {binding["name"] for binding in self.bindings}
        return "context" in parameters and "context" not in bound

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)


@dataclass
class AppFunctions:
    """The app's functions grouped by trigger."""

    functions: dict[str, FunctionSpec]
    orchestrators: dict[str, FunctionSpec]
    activities: dict[str, FunctionSpec]
    entities: dict[str, FunctionSpec]  # keyed by lower-case entity name
    http: list[FunctionSpec]
    timers: list[FunctionSpec]
    eventgrid: dict[str, FunctionSpec]


def load_app(app_dir: Path, route_prefix: str) -> AppFunctions:
    """Import ``function_app.py`` from ``app_dir`` and index its functions."""
    script = app_dir / "function_app.py"
    if not script.is_file():
        raise FileNotFoundError(f"{script} not found: --app-dir must hold function_app.py")
    # The app imports its own packages (triggers/, activities/, ...) relative to its root.
    sys.path.insert(0, str(app_dir))
    spec = importlib.util.spec_from_file_location("function_app", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["function_app"] = module
    spec.loader.exec_module(module)
    app = getattr(module, "app", None)
    if app is None or not hasattr(app, "get_functions"):
        raise RuntimeError(f"{script} defines no FunctionApp named 'app'")
    return index_functions(app.get_functions(), route_prefix)


def index_functions(functions: list[Any], route_prefix: str) -> AppFunctions:
    """Sort the worker's ``Function`` objects by trigger."""
    indexed = AppFunctions({}, {}, {}, {}, [], [], {})
    for function in functions:
        name = function.get_function_name()
        bindings = [_plain(b) for b in function.get_bindings_dict()["bindings"]]
        triggers = [b for b in bindings if str(b["type"]).endswith("Trigger")]
        if len(triggers) != 1:
            log.warning("function %s has no trigger: skipped", name)
            continue
        trigger = triggers[0]
        if trigger["type"] not in SUPPORTED_TRIGGERS:
            log.warning(
                "function %s: trigger %s is not supported by devhost: skipped",
                name,
                trigger["type"],
            )
            continue
        for binding in bindings:
            if binding is trigger or binding["type"] in ("durableClient", "http"):
                continue
            log.warning(
                "function %s: binding %s (%s) is not supported by devhost",
                name,
                binding["name"],
                binding["type"],
            )
        spec = FunctionSpec(
            name=name,
            trigger_type=trigger["type"],
            trigger=trigger,
            bindings=bindings,
            func=function.get_user_function(),
            client_params=[b["name"] for b in bindings if b["type"] == "durableClient"],
        )
        indexed.functions[name] = spec
        kind = trigger["type"]
        if kind == "httpTrigger":
            route = trigger.get("route") or name
            spec.route = RouteTemplate(_join_route(route_prefix, route))
            methods = trigger.get("methods")
            spec.methods = [m.upper() for m in methods] if methods else None
            spec.auth_level = str(trigger.get("authLevel", "function")).lower()
            indexed.http.append(spec)
        elif kind == "timerTrigger":
            indexed.timers.append(spec)
        elif kind == "eventGridTrigger":
            indexed.eventgrid[name] = spec
        elif kind == "orchestrationTrigger":
            indexed.orchestrators[trigger.get("orchestration") or name] = spec
        elif kind == "activityTrigger":
            indexed.activities[trigger.get("activity") or name] = spec
        elif kind == "entityTrigger":
            indexed.entities[(trigger.get("entityName") or name).lower()] = spec
    # Literal segments win over parameters, as in ASP.NET Core routing.
    indexed.http.sort(key=lambda s: s.route.precedence if s.route else (0, 0))
    return indexed


def resolve_setting(value: str) -> str:
    """``%NAME%`` in a binding property is replaced by the app setting NAME, as the host does."""

    def lookup(match: re.Match[str]) -> str:
        setting = match.group(1)
        if setting not in os.environ:
            raise KeyError(f"app setting {setting} (referenced as %{setting}%) is not set")
        return os.environ[setting]

    return re.sub(r"%([^%]+)%", lookup, value)


def _join_route(prefix: str, route: str) -> str:
    prefix = prefix.strip("/")
    route = route.strip("/")
    return f"{prefix}/{route}" if prefix else route


def _plain(binding: dict) -> dict:
    """Binding dict with enums turned into their string values."""
    plain: dict[str, Any] = {}
    for key, value in binding.items():
        if hasattr(value, "value") and not isinstance(value, (str, int, float, bool)):
            value = value.value
        elif isinstance(value, list):
            value = [getattr(item, "value", item) for item in value]
        plain[key] = value
    return plain
