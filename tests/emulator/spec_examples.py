"""Round-trip the Azure REST specs' own examples against the emulator.

An example file holds a request (``parameters``) and the answers Azure gives
(``responses`` by status code). ``check_shape`` asserts that the emulator's answer has
every property of the example's answer, with the same JSON type (values may differ: ids,
times, states); ``deserialize`` runs it through the SDK's own model. Other providers' tests
(restore points, VMs) reuse these helpers with their own example tables.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.core.rest import HttpRequest, HttpResponse

EXAMPLES_DIR = Path(
    os.environ.get("DISKDR_AZURE_API_DIR") or Path(__file__).resolve().parent / "azure-api"
)
# The team's shared reference copy, when it sits next to the repository.
SHARED_DIR = Path(__file__).resolve().parents[3] / "shared" / "azure-api"


@dataclass
class Example:
    path: Path
    parameters: dict[str, Any]
    responses: dict[str, dict[str, Any]]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def api_version(self) -> str:
        return str(self.parameters["api-version"])

    def body(self, status: str) -> Any:
        return self.responses.get(status, {}).get("body")

    def headers(self, status: str) -> dict[str, str]:
        return self.responses.get(status, {}).get("headers", {})


def example_files(*folders: str) -> list[str]:
    """The example files in ``folders`` (relative to ``EXAMPLES_DIR``), sorted."""
    return sorted(
        f"{folder}/{p.name}" for folder in folders for p in (EXAMPLES_DIR / folder).glob("*.json")
    )


def example_name(relative: str) -> str:
    """``.../Disk_Get.json`` → ``Disk_Get``."""
    return relative.rsplit("/", 1)[1].removesuffix(".json")


def cases(
    relatives: Iterable[str], out_of_scope: dict[str, str], placeholders: dict[str, str]
) -> list[Any]:
    """One ``(relative, status)`` case per example and status it documents; an example out
    of scope is one skipped case that gives the reason."""
    out = []
    for relative in relatives:
        name = example_name(relative)
        if name in out_of_scope:
            out.append(
                pytest.param(relative, "-", id=name, marks=pytest.mark.skip(out_of_scope[name]))
            )
            continue
        for status in sorted(load(relative, placeholders).responses):
            out.append(pytest.param(relative, status, id=f"{name}-{status}"))
    return out


def substitute(value: Any, placeholders: dict[str, str]) -> Any:
    """``value`` with every placeholder (e.g. ``{subscription-id}``) replaced in strings."""
    if isinstance(value, str):
        for placeholder, replacement in placeholders.items():
            value = value.replace(placeholder, replacement)
        return value
    if isinstance(value, dict):
        return {k: substitute(v, placeholders) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, placeholders) for v in value]
    return value


def load(relative: str, placeholders: dict[str, str]) -> Example:
    path = EXAMPLES_DIR / relative
    data = json.loads(path.read_text())
    return Example(
        path=path,
        parameters=substitute(data["parameters"], placeholders),
        responses=substitute(data["responses"], placeholders),
    )


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_errors(actual: Any, expected: Any, where: str = "$") -> list[str]:
    """What ``actual`` lacks of ``expected``'s shape (empty when it has it all).

    Objects: every key of ``expected`` present with the same JSON type, recursively. Arrays:
    each expected element compared with the actual element at the same index. ``null`` in
    the example constrains nothing.
    """
    if expected is None:
        return []
    if json_type(actual) != json_type(expected):
        return [f"{where}: {json_type(actual)} where the example has {json_type(expected)}"]
    errors: list[str] = []
    if isinstance(expected, dict):
        for key, value in expected.items():
            if value is None:
                continue  # an explicit null in the example: nothing to match
            if key not in actual:
                errors.append(f"{where}.{key}: missing")
            else:
                errors += shape_errors(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        if len(actual) < len(expected):
            errors.append(f"{where}: {len(actual)} items where the example has {len(expected)}")
        for index, (a, e) in enumerate(zip(actual, expected, strict=False)):
            errors += shape_errors(a, e, f"{where}[{index}]")
    return errors


def check_shape(actual: Any, expected: Any, what: str = "response") -> None:
    errors = shape_errors(actual, expected)
    assert not errors, f"{what} does not have the example's shape:\n  " + "\n  ".join(errors)


def deserialize(model: type, body: Any) -> Any:
    """The SDK's own deserialization of a response body into ``model``."""
    from azure.mgmt.compute._utils.model_base import _deserialize

    return _deserialize(model, body)


def all_pages(client: Any, first_page: dict[str, Any]) -> list[Any]:
    """The items of a list answer and of every page its ``nextLink`` leads to."""
    items = list(first_page["value"])
    link = first_page.get("nextLink")
    while link:
        page = client.send_request(HttpRequest("GET", link))
        page.read()
        body = page.json()
        items += body["value"]
        link = body.get("nextLink")
    return items


def send(
    client: Any,
    method: str,
    path: str,
    api_version: str,
    body: Any = None,
    params: dict[str, str] | None = None,
) -> HttpResponse:
    """One raw request through the SDK client's pipeline (auth, retries, TLS)."""
    request = HttpRequest(
        method,
        path,
        params={"api-version": api_version, **(params or {})},
        json=body,
    )
    response = client.send_request(request)
    response.read()
    return response
