"""Durable records of the domain: frozen dataclasses that travel as plain JSON.

Orchestrations pass these between activities, so each record turns into a JSON-ready dict
(``to_dict``) and back (``from_dict``) exactly: keys in camelCase, datetimes as ISO 8601
strings, mappings as objects, tuples as arrays, nested records as objects. Other modules
add their own records by subclassing :class:`JsonModel` on a frozen dataclass.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, Self, get_args

from diskdr import naming
from diskdr.naming import Consistency, Role

PointState = Literal["creating", "pending", "usable", "failed"]
POINT_STATES: tuple[PointState, ...] = get_args(PointState)


class JsonModel:
    """Mixin for frozen dataclasses that are durable payloads (see the module docstring).

    ``from_dict`` refuses unknown keys (a typo or a payload from a newer version must not
    be silently dropped) and fills absent keys from the field defaults.
    """

    def to_dict(self) -> dict[str, Any]:
        return {_camel(item.name): _dump(getattr(self, item.name)) for item in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        if not isinstance(data, Mapping):
            raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        by_key = {_camel(item.name): item for item in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(by_key))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {', '.join(unknown)}")
        hints = _hints(cls)
        values = {
            by_key[key].name: _load(hints[by_key[key].name], value, f"{cls.__name__}.{key}")
            for key, value in data.items()
        }
        return cls(**values)


@dataclass(frozen=True)
class RecoveryPoint(JsonModel):
    """One snapshot (or disk restore point) of one disk at one slot, as diskdr sees it.

    ``state``: ``creating`` (the create call has not finished), ``pending`` (created, but a
    background copy is still filling it: Premium SSD v2/Ultra, or a cross-region copy;
    ``completion_percent`` says how far), ``usable`` (complete), ``failed`` (``error_code``
    says why). ``tags`` are all of the resource's tags, diskdr's and anyone else's.
    """

    id: str
    name: str
    region: str
    resource_group: str
    subscription_id: str
    role: Role
    owner: str
    policy: str
    vm_id: str
    disk_id: str
    disk_uid: str
    slot: datetime
    group: str
    consistency: Consistency
    state: PointState
    completion_percent: float | None = None
    error_code: str | None = None
    source_id: str | None = None
    created_at: datetime | None = None
    hold: bool = False
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: How many points the group has (``diskdr-members``); None on points made before
    #: diskdr wrote it (the group then counts as whole when no listed member is missing).
    members: int | None = None
    #: On a replica: when its source was created (``diskdr-captured``).
    captured_at: datetime | None = None

    @property
    def capture_time(self) -> datetime:
        """When the point's data was captured: a replica's source creation time, else the
        point's own creation time; the slot only when neither is known. The slot is the
        point's identity, this is its time (retention, "newest" and copy bases use it)."""
        return self.captured_at or self.created_at or self.slot

    def __post_init__(self) -> None:
        for name in ("id", "name", "region", "resource_group", "subscription_id", "owner"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"RecoveryPoint.{name}: expected a non-empty string")
        if self.role not in naming.ROLES:
            raise ValueError(f"RecoveryPoint.role: expected one of {naming.ROLES}")
        if self.consistency not in naming.CONSISTENCIES:
            raise ValueError(f"RecoveryPoint.consistency: expected one of {naming.CONSISTENCIES}")
        if self.state not in POINT_STATES:
            raise ValueError(f"RecoveryPoint.state: expected one of {POINT_STATES}")
        # Normalised forms keep equality (and so JSON round trips) exact.
        object.__setattr__(self, "slot", naming.check_slot(self.slot))
        if self.created_at is not None:
            if self.created_at.utcoffset() is None:
                raise ValueError("RecoveryPoint.created_at: expected an aware datetime")
            object.__setattr__(self, "created_at", self.created_at.astimezone(UTC))
        if self.captured_at is not None:
            if self.captured_at.utcoffset() is None:
                raise ValueError("RecoveryPoint.captured_at: expected an aware datetime")
            object.__setattr__(self, "captured_at", self.captured_at.astimezone(UTC))
        if self.members is not None and (
            isinstance(self.members, bool) or not isinstance(self.members, int) or self.members < 1
        ):
            raise ValueError("RecoveryPoint.members: expected an integer >= 1")
        if self.completion_percent is not None:
            percent = float(self.completion_percent)
            if not 0.0 <= percent <= 100.0:
                raise ValueError("RecoveryPoint.completion_percent: expected 0 to 100")
            object.__setattr__(self, "completion_percent", percent)
        object.__setattr__(self, "tags", MappingProxyType(dict(self.tags)))

    @classmethod
    def from_tags(
        cls,
        *,
        id: str,
        name: str,
        region: str,
        tags: Mapping[str, str] | None,
        install_id: str,
        state: PointState,
        completion_percent: float | None = None,
        error_code: str | None = None,
        created_at: datetime | None = None,
    ) -> RecoveryPoint | None:
        """The recovery point of a snapshot listed from Azure, or None if it is not ours.

        Raises :class:`~diskdr.errors.PointTagsError` when it is ours but its tags are
        broken, and ``ValueError`` when ``id`` is not an ARM resource id.
        """
        parsed = naming.parse_point_tags(tags, install_id, resource_id=id)
        if parsed is None:
            return None
        parts = naming.parse_resource_id(id)
        return cls(
            id=id,
            name=name,
            region=region,
            resource_group=parts.resource_group,
            subscription_id=parts.subscription_id,
            role=parsed.role,
            owner=parsed.owner,
            policy=parsed.policy,
            vm_id=parsed.vm_id,
            disk_id=parsed.disk_id,
            disk_uid=parsed.disk_uid,
            slot=parsed.slot,
            group=parsed.group,
            consistency=parsed.consistency,
            state=state,
            completion_percent=completion_percent,
            error_code=error_code,
            source_id=parsed.source,
            created_at=created_at,
            hold=parsed.hold,
            tags=dict(tags or {}),
            members=parsed.members,
            captured_at=parsed.captured,
        )


# --- JSON conversion -----------------------------------------------------------------------
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    # Resolving the (string) annotations is slow; each class is resolved once.
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _dump(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, JsonModel):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {key: _dump(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_dump(item) for item in value]
    return value


def _load(hint: Any, value: Any, where: str) -> Any:
    """Turn the JSON ``value`` back into the type ``hint`` names (as far as JSON loses it)."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in get_args(hint) if option is not type(None)]
        return _load(options[0], value, where) if len(options) == 1 else value
    if hint is datetime:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected an ISO 8601 string, got {value!r}")
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, JsonModel):
        return hint.from_dict(value)
    if origin is tuple:
        item_hint = get_args(hint)[0]
        return tuple(_load(item_hint, item, where) for item in value)
    if origin in (Mapping, dict, typing.Mapping):
        value_hint = get_args(hint)[1]
        return {key: _load(value_hint, item, where) for key, item in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
