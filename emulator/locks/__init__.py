"""Microsoft.Authorization management locks: ``CanNotDelete`` and ``ReadOnly`` locks at
subscription, resource group and resource scope, enforced on every ARM request."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emulator.routing import Router
    from emulator.world import World


def install(world: World, router: Router) -> None:
    """Register the locks backend, its routes, and the guard that refuses locked requests."""
    from emulator.locks import urls
    from emulator.locks.models import LocksBackend

    world.register_backend("locks", LocksBackend)
    world.add_request_guard(lambda method, path, op: world.backend("locks").check(method, path))
    router.extend(urls.ROUTES)
