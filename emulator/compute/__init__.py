"""Microsoft.Compute: disks, snapshots and virtual machines (moto-style urls/responses/models)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.routing import Router
    from emulator.world import World


def install(world: World, router: Router) -> None:
    """Register the Compute backend, its stats and its routes."""
    from emulator.compute import urls
    from emulator.compute.models import ComputeBackends, compute_stats

    world.register_backend("compute", ComputeBackends)
    world.add_stat_source(compute_stats)
    router.extend(urls.ROUTES)
