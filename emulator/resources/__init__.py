"""Microsoft.Resources: resource groups (the container every Compute resource lives in)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.routing import Router
    from emulator.world import World


def install(world: World, router: Router) -> None:
    """Register the resource groups backend and routes."""
    from emulator.resources import urls
    from emulator.resources.models import ResourceGroupsBackend

    world.register_backend("resources", ResourceGroupsBackend)
    router.extend(urls.ROUTES)
