"""The Azure clients the live tests share: ``DefaultAzureCredential`` on the subscription
``DISKDR_LIVE_SUBSCRIPTION`` names (the modules skip themselves when it is unset)."""

from __future__ import annotations

import os
from typing import Any

import pytest

SUBSCRIPTION = os.environ.get("DISKDR_LIVE_SUBSCRIPTION")


@pytest.fixture(scope="session")
def credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


@pytest.fixture(scope="session")
def compute(credential: Any) -> Any:
    from azure.mgmt.compute import ComputeManagementClient

    return ComputeManagementClient(credential, SUBSCRIPTION)


@pytest.fixture(scope="session")
def resources(credential: Any) -> Any:
    from azure.mgmt.resource.resources import ResourceManagementClient

    return ResourceManagementClient(credential, SUBSCRIPTION)
