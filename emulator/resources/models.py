"""Resource groups: the in-memory domain (no HTTP here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.arm import normalize_location
from emulator.errors import ArmError, InvalidParameter, ResourceGroupNotFound

if TYPE_CHECKING:
    from emulator.lro import Operation
    from emulator.world import World


class InvalidResourceGroupLocation(ArmError):
    status = 409
    code = "InvalidResourceGroupLocation"


@dataclass
class ResourceGroup:
    subscription: str
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    managed_by: str | None = None
    provisioning_state: str = "Succeeded"

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.name}"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": self.location,
            "properties": {"provisioningState": self.provisioning_state},
        }
        if self.tags:
            body["tags"] = dict(self.tags)
        if self.managed_by:
            body["managedBy"] = self.managed_by
        return body


class ResourceGroupsBackend:
    """Every resource group of every subscription, keyed by lower-case (subscription, name)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.groups: dict[tuple[str, str], ResourceGroup] = {}

    def get(self, subscription: str, name: str) -> ResourceGroup:
        group = self.groups.get((subscription.lower(), name.lower()))
        if group is None or group.provisioning_state == "Deleting":
            raise ResourceGroupNotFound.named(name)
        return group

    def exists(self, subscription: str, name: str) -> bool:
        try:
            self.get(subscription, name)
        except ResourceGroupNotFound:
            return False
        return True

    def create_or_update(
        self,
        subscription: str,
        name: str,
        location: str,
        tags: dict[str, str] | None = None,
        managed_by: str | None = None,
    ) -> tuple[ResourceGroup, bool]:
        if not location:
            raise InvalidParameter("The resource group location is required.", target="location")
        location = normalize_location(location)
        key = (subscription.lower(), name.lower())
        group = self.groups.get(key)
        if group is not None and group.provisioning_state != "Deleting":
            if group.location != location:
                raise InvalidResourceGroupLocation(
                    f"Invalid resource group location '{location}'. The Resource group already "
                    f"exists in location '{group.location}'."
                )
            group.tags = dict(tags or {})
            if managed_by is not None:
                group.managed_by = managed_by
            return group, False
        group = ResourceGroup(subscription, name, location, dict(tags or {}), managed_by)
        self.groups[key] = group
        return group, True

    def update_tags(
        self, subscription: str, name: str, tags: dict[str, str] | None
    ) -> ResourceGroup:
        group = self.get(subscription, name)
        if tags is not None:
            group.tags = dict(tags)
        return group

    def list(self, subscription: str) -> list[ResourceGroup]:
        sub = subscription.lower()
        return [
            g
            for (s, _), g in self.groups.items()
            if s == sub and g.provisioning_state != "Deleting"
        ]

    def begin_delete(self, subscription: str, name: str) -> Operation:
        """Delete the group and everything in it (each backend drops its members at the end)."""
        group = self.get(subscription, name)
        group.provisioning_state = "Deleting"

        def finish(when: float) -> None:
            for backend in self.world.backends.values():
                drop = getattr(backend, "delete_resource_group_members", None)
                if drop is not None:
                    drop(group.subscription, group.name, when)
            self.groups.pop((subscription.lower(), name.lower()), None)

        return self.world.backend("operations").begin(
            "ResourceGroups_Delete",
            subscription=group.subscription,
            location=group.location,
            resource_id=group.id,
            finish=finish,
            path=f"/subscriptions/{group.subscription}/operationresults/{{id}}",
        )
