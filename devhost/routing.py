"""HTTP route templates of Azure Functions (ASP.NET-style) matched against request paths.

Supports literal segments, ``{name}``, optional ``{name?}``, constraints ``{id:int}``,
``{x:alpha}``, ``{x:guid}``, ``{x:bool}``, ``{x:long}``, ``{x:double}``, and a trailing
catch-all ``{*rest}``. Matching is case-insensitive for literals, as on the host.
"""

from __future__ import annotations

import re

_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "bool": r"(?i:true|false)",
    "alpha": r"[A-Za-z]+",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "datetime": r"[^/]+",
}
_PARAM = re.compile(r"^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+)(?:\([^)]*\))?)?(\?)?\}$")


class RouteTemplate:
    """One route template compiled to a regular expression."""

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        pattern = ""
        literals = 0
        params = 0
        for segment in self.template.split("/") if self.template else []:
            match = _PARAM.match(segment)
            if match is None:
                if "{" in segment:
                    raise ValueError(f"route {template!r}: unsupported segment {segment!r}")
                pattern += "/" + re.escape(segment)
                literals += 1
                continue
            catch_all, name, constraint, optional = match.groups()
            params += 1
            if catch_all:
                pattern += f"(?:/(?P<{name}>.*))?"
                continue
            body = _CONSTRAINTS.get((constraint or "").lower(), r"[^/]+")
            piece = f"/(?P<{name}>{body})"
            pattern += f"(?:{piece})?" if optional else piece
        self.regex = re.compile(f"^{pattern}/?$", re.IGNORECASE)
        # Sort key: more literal segments first, then fewer parameters.
        self.precedence = (-literals, params)

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters if ``path`` (no query) matches, else None."""
        normalized = "/" + path.strip("/") if path.strip("/") else ""
        found = self.regex.match(normalized)
        if found is None:
            return None
        return {key: value for key, value in found.groupdict().items() if value is not None}
