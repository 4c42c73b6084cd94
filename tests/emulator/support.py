"""Helpers shared by the emulator tests (ids, request bodies, SDK clients, polling)."""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient

from emulator import EmulatorServer

SUB = "00000000-0000-0000-0000-0000000000a1"
SUB2 = "00000000-0000-0000-0000-0000000000b2"
PAGE_SIZE = 3
TIME_SCALE = 600.0


class StaticToken:
    """Any bearer token is accepted by the emulator."""

    def __init__(self, token: str = "emulator-test-token") -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.token, int(time.time()) + 3600)


def make_compute(
    emulator: EmulatorServer, subscription: str = SUB, token: str = "emulator-test-token", **kw: Any
) -> ComputeManagementClient:
    return ComputeManagementClient(
        StaticToken(token),
        subscription,
        base_url=emulator.url,
        connection_verify=emulator.ca_path,
        **kw,
    )


def make_resources(emulator: EmulatorServer, subscription: str = SUB) -> ResourceManagementClient:
    return ResourceManagementClient(
        StaticToken(), subscription, base_url=emulator.url, connection_verify=emulator.ca_path
    )


def disk_body(size_gb: int = 64, sku: str = "Premium_LRS", location: str = "eastus", **props: Any):
    return {
        "location": location,
        "sku": {"name": sku},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": size_gb, **props},
    }


def estate_one_vm(
    name: str = "vm-web-1",
    group: str = "rg-app",
    location: str = "eastus",
    data_skus: tuple[str, ...] = ("Premium_LRS",),
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "subscriptions": [
            {
                "id": SUB,
                "resourceGroups": [
                    {
                        "name": group,
                        "location": location,
                        "vms": [
                            {
                                "name": name,
                                "tags": tags or {"backup": "gold"},
                                "osDisk": {"sizeGB": 64, "sku": "Premium_LRS"},
                                "dataDisks": [
                                    {"lun": lun, "sizeGB": 128, "sku": sku}
                                    for lun, sku in enumerate(data_skus)
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }


def disk_id(name: str, group: str = "rg-test", subscription: str = SUB) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/disks/{name}"
    )


def snapshot_id(name: str, group: str = "rg-test", subscription: str = SUB) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/snapshots/{name}"
    )


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns a truthy value (generous deadline, no fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
