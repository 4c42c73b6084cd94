"""Requests, responses and the route table that maps ARM paths to handlers.

A provider registers its routes moto-style in its ``urls.py``: method + path regex + the
spec's operationId + the api-versions it accepts + a handler taking an ``ArmRequest`` and
returning an ``ArmResponse``. The server knows nothing about providers beyond this table,
so a new resource type is added by appending routes (see ``emulator/compute/urls.py``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from emulator.errors import InvalidParameter, InvalidRequestContent

if TYPE_CHECKING:
    from emulator.world import World


@dataclass
class ArmRequest:
    """One parsed ARM request, as handlers see it."""

    method: str
    path: str
    query: Mapping[str, str]  # keys lower-cased
    headers: Mapping[str, str]
    raw_body: bytes
    params: dict[str, str]  # named groups of the route's regex
    base_url: str  # https://127.0.0.1:PORT
    api_version: str
    operation_id: str
    world: World
    principal: str = ""
    request_id: str = ""

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (400 ``InvalidRequestContent`` otherwise)."""
        if not self.raw_body.strip():
            return {}
        try:
            body = json.loads(self.raw_body)
        except ValueError as err:
            raise InvalidRequestContent(
                f"The request content was invalid and could not be deserialized: {err}."
            ) from err
        if not isinstance(body, dict):
            raise InvalidRequestContent("The request content must be a JSON object.")
        return body

    def url_for(self, path: str, **query: str) -> str:
        """An absolute URL on this emulator (for Location headers and nextLinks)."""
        qs = urlencode({"api-version": self.api_version, **query}, safe="$")
        return f"{self.base_url}{path}?{qs}"


@dataclass
class ArmResponse:
    status: int = 200
    body: Any = None  # JSON-serializable, or None for no body
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[ArmRequest], ArmResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    operation_id: str
    api_versions: tuple[str, ...]
    handler: Handler


class Router:
    """Ordered route table; ARM paths match case-insensitively."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        pattern: str,
        operation_id: str,
        api_versions: Sequence[str],
        handler: Handler,
    ) -> None:
        self.routes.append(
            Route(
                method.upper(),
                re.compile(f"^{pattern}/?$", re.IGNORECASE),
                operation_id,
                tuple(api_versions),
                handler,
            )
        )

    def extend(self, routes: Iterable[tuple[str, str, str, Sequence[str], Handler]]) -> None:
        for route in routes:
            self.add(*route)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path params, whether the path matched some other method)."""
        path_known = False
        for route in self.routes:
            m = route.pattern.match(path)
            if not m:
                continue
            if route.method == method:
                return route, m.groupdict(), True
            path_known = True
        return None, {}, path_known


# --- paging -----------------------------------------------------------------------------


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as err:
        raise InvalidParameter(
            "The $skiptoken is invalid.", target="$skiptoken", code="InvalidSkipToken"
        ) from err


def paged(
    request: ArmRequest,
    items: Iterable[Any],
    *,
    key: Callable[[Any], str],
    serialize: Callable[[Any], dict[str, Any]],
    extra_query: Mapping[str, str] | None = None,
) -> ArmResponse:
    """One page of a list, ordered by ``key``, with a ``nextLink`` when more remain.

    The skip token is the key of the last item served (keyset paging), so items created or
    deleted between pages neither repeat nor shift the rest.
    """
    page_size = request.world.config.page_size
    ordered = sorted(items, key=key)
    token = request.query.get("$skiptoken")
    if token:
        after = _decode_token(token)
        ordered = [item for item in ordered if key(item) > after]
    page = ordered[:page_size]
    body: dict[str, Any] = {"value": [serialize(item) for item in page]}
    if len(ordered) > page_size:
        query = dict(extra_query or {})
        query["$skiptoken"] = _encode_token(key(page[-1]))
        body["nextLink"] = request.url_for(request.path, **query)
    return ArmResponse(200, body)
