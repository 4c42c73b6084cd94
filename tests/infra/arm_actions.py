"""The ARM actions diskdr's code performs, derived from the code itself.

Every Azure call goes through a port in ``diskdr/azure/`` as ``<client>.<operation
group>.<method>(...)`` on an ``azure-mgmt-*`` management client. This module finds those
calls in the source (``ast``), asks the installed SDK which HTTP request each one sends
(its ``build_<group>_<method>_request`` function, called with placeholder arguments), and
turns method + URL template into the RBAC action Azure checks, by ARM's rule: the resource
type path after the provider namespace, then ``read`` (GET), ``write`` (PUT, PATCH),
``delete`` (DELETE), or ``<verb>/action`` (POST to a verb). A port that starts using a new
client, operation group or method is picked up with no change here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PORTS = ROOT / "diskdr" / "azure"

# Management clients the ports may import; a new one (e.g. azure.mgmt.network for
# restores) is found by its import and needs no entry here.
_CLIENT_IMPORT = re.compile(r"^azure\.mgmt\.[a-z_.]+$")


@dataclass(frozen=True, order=True)
class SdkCall:
    """One call site ``<client>.<group>.<method>`` in a port."""

    client_module: str  # e.g. azure.mgmt.compute
    group: str  # e.g. snapshots
    method: str  # e.g. begin_create_or_update
    where: str  # file:line


def _clients_imported(tree: ast.Module) -> dict[str, str]:
    """``{client class name: module}`` for each ``from azure.mgmt.X import YClient``."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and _CLIENT_IMPORT.match(node.module):
            for alias in node.names:
                if alias.name.endswith("ManagementClient"):
                    found[alias.asname or alias.name] = node.module
    return found


def _operation_groups(module: str, client_name: str) -> set[str]:
    client = getattr(importlib.import_module(module), client_name)
    source = inspect.getsource(client.__init__)
    return set(re.findall(r"self\.([a-z_]+) = [A-Z][A-Za-z]*Operations\(", source))


def sdk_calls(root: Path = PORTS) -> list[SdkCall]:
    """Every call of an operation group's method in the ports, with the client it is on."""
    calls = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        groups = {
            group: module
            for client, module in _clients_imported(tree).items()
            for group in _operation_groups(module, client)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and owner.attr in groups:
                calls.append(
                    SdkCall(
                        groups[owner.attr],
                        owner.attr,
                        node.func.attr,
                        f"{path.relative_to(root.parent.parent)}:{node.lineno}",
                    )
                )
    return sorted(calls)


PLACEHOLDER = "x"


def request_of(call: SdkCall) -> tuple[str, str]:
    """(HTTP method, URL) the SDK sends for a call, every path parameter ``x``."""
    operations = importlib.import_module(f"{call.client_module}.operations._operations")
    name = call.method.removeprefix("begin_")
    builder = getattr(operations, f"build_{call.group}_{name}_request", None)
    if builder is None:
        raise LookupError(f"{call.where}: no SDK request builder for {call.group}.{call.method}")
    arguments = {
        parameter.name: PLACEHOLDER
        for parameter in inspect.signature(builder).parameters.values()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        and parameter.default is parameter.empty
    }
    request = builder(**arguments)
    return request.method, request.url


def arm_action(method: str, url: str) -> str:
    """The RBAC action ARM checks for a request (Azure's operation naming): the resource
    type path after the provider namespace, then ``read`` (GET, a list included), ``write``
    (PUT, PATCH), ``delete``, or ``<verb>/action`` for a POST to a verb."""
    path = url.split("?", 1)[0]
    at = path.lower().rfind("/providers/")
    if at < 0:
        raise ValueError(f"not a provider URL: {url}")
    namespace, *rest = path[at + len("/providers/") :].strip("/").split("/")
    types = rest[0::2]  # type, name, type, name, ... (a list URL ends on a type)
    if method == "POST":
        if len(rest) % 2 == 0:
            raise ValueError(f"a POST to a resource, not a verb: {url}")
        verb = types.pop()
        return "/".join([namespace, *types, verb, "action"])
    verb = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}[method]
    return "/".join([namespace, *types, verb])


def actions_used(root: Path = PORTS) -> dict[str, list[str]]:
    """``{action: [call sites]}`` for every ARM action the ports' calls need."""
    used: dict[str, list[str]] = {}
    for call in sdk_calls(root):
        action = arm_action(*request_of(call))
        used.setdefault(action, []).append(f"{call.where} {call.group}.{call.method}")
    return used
