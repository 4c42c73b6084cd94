"""Microsoft.Network, as far as a restored VM needs it: virtual networks with their subnets,
and network interfaces in a subnet (moto-style urls/responses/models)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.routing import Router
    from emulator.world import World


def install(world: World, router: Router) -> None:
    """Register the network backend and its routes."""
    from emulator.network import urls
    from emulator.network.models import NetworkBackend

    world.register_backend("network", NetworkBackend)
    router.extend(urls.ROUTES)
