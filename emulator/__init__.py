"""The offline twin of Microsoft.Compute (+ resource groups): an HTTPS ARM emulator.

``python -m emulator`` serves it; ``EmulatorServer`` runs it as a subprocess for tests.
See docs/emulator.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.harness import ControlClient, EmulatorServer

__all__ = ["ControlClient", "EmulatorServer"]


def __getattr__(name: str) -> Any:
    # Imported lazily: the server process does not need the test harness (and vice versa).
    if name in __all__:
        from emulator import harness

        return getattr(harness, name)
    raise AttributeError(name)
