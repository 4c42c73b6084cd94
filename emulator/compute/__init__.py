"""Microsoft.Compute: disks, snapshots, virtual machines, restore points and run command
(moto-style urls/responses/models), with the guest agent behind run command."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.routing import Router
    from emulator.world import World


def install(world: World, router: Router) -> None:
    """Register the Compute backend, its stats and its routes."""
    from emulator.compute import guest_control, urls
    from emulator.compute.models import ComputeBackends, compute_stats
    from emulator.compute.models.guest import GuestAgents, guest_stats
    from emulator.compute.restore_point_responses import restore_point_stats

    world.register_backend("compute", ComputeBackends)
    world.register_backend("guests", GuestAgents)
    world.add_stat_source(compute_stats)
    world.add_stat_source(restore_point_stats)
    world.add_stat_source(guest_stats)
    guest_control.install(world)
    router.extend(urls.ROUTES)
