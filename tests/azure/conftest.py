"""One emulator for the port tests of this folder (each test resets it)."""

import pytest

from emulator import EmulatorServer


@pytest.fixture(scope="session")
def emulator():
    # Azure-faithful answers (no polling hints): the ports must never wait on an LRO.
    with EmulatorServer(time_scale=600) as server:
        yield server
