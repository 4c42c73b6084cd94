"""Fixtures of the emulator tests: one emulator process per test session, reset per test.

The emulator runs at time scale 600 (a 4-second LRO takes ~7 ms), with a small page size
so listing walks several pages. Tests drive it with the real SDK clients.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from emulator import EmulatorServer
from emulator.harness import ControlClient
from tests.emulator.support import PAGE_SIZE, TIME_SCALE, make_compute, make_resources


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    # Fast mode (lro_hints): these tests wait on SDK pollers, which without hints sleep 30 s.
    with EmulatorServer(time_scale=TIME_SCALE, page_size=PAGE_SIZE, seed=7, lro_hints=True) as emu:
        yield emu


@pytest.fixture(autouse=True)
def control(emulator: EmulatorServer) -> ControlClient:
    assert emulator.control is not None
    emulator.control.reset()
    return emulator.control


@pytest.fixture
def compute(emulator: EmulatorServer) -> ComputeManagementClient:
    return make_compute(emulator)


@pytest.fixture
def resources(emulator: EmulatorServer) -> ResourceManagementClient:
    return make_resources(emulator)


@pytest.fixture
def group(resources: ResourceManagementClient) -> str:
    """An empty resource group in eastus."""
    resources.resource_groups.create_or_update("rg-test", {"location": "eastus"})
    return "rg-test"
