"""Event Grid: the emulator publishes its resource changes as the Event Grid system topic of
an Azure subscription would, to webhooks registered on the control plane."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.routing import Router
    from emulator.world import World


def install(world: World, router: Router) -> None:
    """One ``EventGrid`` for the world's lifetime: it hears every change, is cleared on reset,
    and serves ``/_emulator/events`` (it is also ``world.backend("event_subscriptions")``)."""
    from emulator.eventgrid import control
    from emulator.eventgrid.delivery import EventGrid

    grid = EventGrid(world)
    world.register_backend("event_subscriptions", lambda w: grid)
    world.on_change(grid.on_change)
    world.on_reset(lambda w: grid.reset())
    control.install()
