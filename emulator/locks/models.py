"""Management locks: the in-memory domain and the check ARM makes before every write.

Azure Resource Manager applies a lock to its scope and everything below it (Learn "Lock your
resources to protect your infrastructure"):

- ``CanNotDelete``: the scope and its children can be read and changed, not deleted;
- ``ReadOnly``: nor changed — PUT, PATCH and POST (actions such as start, runCommand,
  beginGetAccess) are refused too.

A refused request is a 409 ``ScopeLocked``: "The scope '<target>' cannot perform delete
operation because following scope(s) are locked: '<lock scope>'. Please remove the lock and
try again." (the message real ARM answers, e.g. Azure/azure-cli#20232). Deleting a scope
that *contains* a locked resource (a resource group with a locked disk in it) is refused as
well, since it would delete the locked resource. Lock management itself is never locked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.arm import COMPUTE, parse_resource_id
from emulator.errors import ArmError, InvalidParameter, ResourceGroupNotFound, ResourceNotFound

if TYPE_CHECKING:
    from emulator.world import World

LOCK_LEVELS = ("CanNotDelete", "ReadOnly")
LOCKS_SEGMENT = "/providers/microsoft.authorization/locks"
_SLASHES = re.compile(r"/{2,}")
_GROUP_SCOPE = re.compile(r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)$", re.IGNORECASE)


class ScopeLocked(ArmError):
    status = 409
    code = "ScopeLocked"


class LockNotFound(ArmError):
    status = 404
    code = "LockNotFound"


def normalize_scope(scope: str) -> str:
    """One leading slash, no doubled or trailing slashes, ``resourceGroups`` spelled as ARM
    answers it (the SDK sends ``resourcegroups``); other segments keep their case."""
    parts = _SLASHES.sub("/", scope).strip("/").split("/")
    if len(parts) > 2 and parts[2].lower() == "resourcegroups":
        parts[2] = "resourceGroups"
    return "/" + "/".join(parts)


def _within(path: str, scope: str) -> bool:
    """Whether ``path`` is ``scope`` or below it (segment-wise, case-insensitive)."""
    path, scope = path.lower(), scope.lower()
    return path == scope or path.startswith(scope + "/")


@dataclass
class ManagementLock:
    scope: str
    name: str
    level: str
    notes: str | None = None
    owners: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.scope}/providers/Microsoft.Authorization/locks/{self.name}"

    def to_json(self) -> dict[str, Any]:
        props: dict[str, Any] = {"level": self.level}
        if self.notes is not None:
            props["notes"] = self.notes
        if self.owners:
            props["owners"] = [dict(o) for o in self.owners]
        return {
            "id": self.id,
            "type": "Microsoft.Authorization/locks",
            "name": self.name,
            "properties": props,
        }


class LocksBackend:
    """Every lock of the world, by lower-case scope and name."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._locks: dict[str, dict[str, ManagementLock]] = {}

    # --- CRUD --------------------------------------------------------------------------

    def create_or_update(
        self, scope: str, name: str, body: dict[str, Any]
    ) -> tuple[ManagementLock, bool]:
        scope = normalize_scope(scope)
        self._check_scope_exists(scope)
        props = body.get("properties") or {}
        level = props.get("level")
        if level not in LOCK_LEVELS:
            raise InvalidParameter(
                f"The lock level must be one of {', '.join(LOCK_LEVELS)}.",
                target="properties.level",
                code="LockLevelRequired" if level is None else "InvalidLockLevel",
            )
        notes = props.get("notes")
        if notes is not None and (not isinstance(notes, str) or len(notes) > 512):
            raise InvalidParameter(
                "Lock notes must be a string of at most 512 characters.",
                target="properties.notes",
            )
        owners = props.get("owners") or []
        if not isinstance(owners, list) or not all(isinstance(o, dict) for o in owners):
            raise InvalidParameter("owners must be a list of objects.", target="properties.owners")
        locks = self._locks.setdefault(scope.lower(), {})
        existing = locks.get(name.lower())
        lock = ManagementLock(
            scope=existing.scope if existing else scope,
            name=existing.name if existing else name,
            level=level,
            notes=notes,
            owners=[dict(o) for o in owners],
        )
        locks[name.lower()] = lock
        return lock, existing is None

    def get(self, scope: str, name: str) -> ManagementLock:
        lock = self._locks.get(normalize_scope(scope).lower(), {}).get(name.lower())
        if lock is None:
            raise LockNotFound(f"The lock '{name}' could not be found.")
        return lock

    def delete(self, scope: str, name: str) -> bool:
        locks = self._locks.get(normalize_scope(scope).lower(), {})
        return locks.pop(name.lower(), None) is not None

    def all(self) -> list[ManagementLock]:
        return [lock for locks in self._locks.values() for lock in locks.values()]

    def list(self, scope: str, *, at_scope: bool = False) -> list[ManagementLock]:
        """Locks at ``scope`` and below it; with ``atScope()``, those at or above it (the
        ones that apply to it)."""
        scope = normalize_scope(scope)
        if at_scope:
            return [lock for lock in self.all() if _within(scope, lock.scope)]
        return [lock for lock in self.all() if _within(lock.scope, scope)]

    def _check_scope_exists(self, scope: str) -> None:
        if scope.count("/") == 2:  # /subscriptions/{id}: any subscription exists
            return
        group = _GROUP_SCOPE.match(scope)
        groups = self.world.backend("resources")
        if group:
            if not groups.exists(group[1], group[2]):
                raise ResourceGroupNotFound.named(group[2])
            return
        ref = parse_resource_id(scope, target="scope")
        if not groups.exists(ref.subscription, ref.resource_group):
            raise ResourceGroupNotFound.named(ref.resource_group)
        # Compute resources are checked; other providers' resources are opaque here.
        if (
            ref.namespace.lower() == COMPUTE.lower()
            and self.world.backend("compute").find(scope) is None
        ):
            raise ResourceNotFound(
                f"The Resource '{ref.namespace}/{ref.type}/{'/'.join(ref.names)}' under resource "
                f"group '{ref.resource_group}' was not found."
            )

    # --- enforcement -------------------------------------------------------------------

    def check(self, method: str, path: str) -> None:
        """Refuse a request that a lock forbids (ARM checks before the provider sees it)."""
        if method in ("GET", "HEAD") or not self._locks:
            return
        target = normalize_scope(path)
        if LOCKS_SEGMENT in target.lower():
            return
        if method == "POST":
            # An action (``.../vm/start``) is an operation on the resource it names.
            target = target.rsplit("/", 1)[0]
        if method == "DELETE":
            blocking = [
                lock
                for lock in self.all()
                if _within(target, lock.scope) or _within(lock.scope, target)
            ]
            operation = "delete"
        else:
            blocking = [
                lock
                for lock in self.all()
                if lock.level == "ReadOnly" and _within(target, lock.scope)
            ]
            operation = "write"
        if blocking:
            scopes = "','".join(sorted({lock.scope for lock in blocking}))
            raise ScopeLocked(
                f"The scope '{target}' cannot perform {operation} operation because following "
                f"scope(s) are locked: '{scopes}'. Please remove the lock and try again."
            )
