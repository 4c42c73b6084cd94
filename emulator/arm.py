"""ARM conventions shared by every emulated provider: resource ids, names, locations, times.

ARM treats resource group names, resource names and path segments case-insensitively but
answers with the casing the resource was created with; these helpers keep that distinction
in one place (keys are lower-case, stored names keep their case).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from emulator.errors import InvalidParameter

COMPUTE = "Microsoft.Compute"


@dataclass(frozen=True)
class ResourceRef:
    """A parsed resource id.

    ``/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{type}/{name}]``.
    """

    subscription: str
    resource_group: str
    namespace: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def type(self) -> str:
        return "/".join(self.types)

    @property
    def name(self) -> str:
        return self.names[-1]

    @property
    def key(self) -> tuple[str, str]:
        """Lower-case (resource group, name) of the top-level resource: its key in a backend."""
        return self.resource_group.lower(), self.names[0].lower()


_ID = re.compile(
    r"^/?subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/(?P<ns>[^/]+)/(?P<rest>.+?)/?$",
    re.IGNORECASE,
)


def parse_resource_id(resource_id: str, *, target: str = "id") -> ResourceRef:
    """Parse a resource id (a missing leading slash is accepted, as Azure does)."""
    match = _ID.match(resource_id or "")
    if not match:
        raise InvalidParameter(f"'{resource_id}' is not a valid resource id.", target=target)
    rest = match["rest"].split("/")
    if len(rest) % 2:
        raise InvalidParameter(f"'{resource_id}' is not a valid resource id.", target=target)
    return ResourceRef(
        subscription=match["sub"],
        resource_group=match["rg"],
        namespace=match["ns"],
        types=tuple(rest[0::2]),
        names=tuple(rest[1::2]),
    )


def normalize_id(resource_id: str) -> str:
    """The lower-case, leading-slash form used as a dictionary key."""
    return "/" + resource_id.strip("/").lower()


def normalize_location(location: str) -> str:
    """``"West US 2"`` → ``"westus2"``: the form ARM answers with."""
    return re.sub(r"\s+", "", location or "").lower()


def iso(world_unix: float) -> str:
    """A world instant as ARM writes it (RFC 3339 with offset)."""
    return datetime.fromtimestamp(world_unix, tz=UTC).isoformat()


# Microsoft Learn, "Naming rules and restrictions for Azure resources" (Microsoft.Compute).
_DISK_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.\-]{0,78}[A-Za-z0-9_])?$")
_VM_FORBIDDEN = set('\\/"[]:|<>+=;,?*@&')


def check_name(name: str, *, kind: str) -> None:
    """Disks and snapshots: 1-80 letters, digits, ``_ . -``, starting with a letter or digit
    and ending with one or ``_``. VMs: 1-64 characters without ``\\/"[]:|<>+=;,?*@&``,
    not starting with ``_`` nor ending with ``.`` or ``-``."""
    if kind == "vm":
        valid = (
            0 < len(name) <= 64
            and not (set(name) & _VM_FORBIDDEN)
            and not name.startswith("_")
            and not name.endswith((".", "-"))
        )
        rule = (
            "1-64 characters, none of \\/\"[]:|<>+=;,?*@&, not starting with '_' and not "
            "ending with '.' or '-'"
        )
    else:
        valid = bool(_DISK_NAME.match(name))
        rule = (
            "1-80 letters, digits, '_', '.' and '-', starting with a letter or digit and "
            "ending with a letter, digit or '_'"
        )
    if not valid:
        raise InvalidParameter(
            f"The {kind} name '{name}' is invalid: it must be {rule}.", target=f"{kind}Name"
        )
