"""The sample estate of the demo: six VMs, sixteen disks, two regions."""

from __future__ import annotations

from typing import Any

from twin.harness import SUBSCRIPTION


def sample_estate(subscription: str = SUBSCRIPTION) -> dict[str, Any]:
    """Premium SSD OS disks, Premium SSD v2 data disks (their snapshots stay ``Pending`` for a
    while), a scratch disk excluded by tag, gold VMs replicated to westus2, a platinum VM
    protected by VM restore points (all its disks at one instant), silver VMs not copied."""

    def vm(name: str, tier: str, data: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "name": name,
            "tags": {"backup": tier, "app": name.split("-")[1]},
            "size": "Standard_D4s_v5",
            "osDisk": {"sizeGB": 64, "sku": "Premium_LRS"},
            "dataDisks": data,
        }

    v2 = "PremiumV2_LRS"
    return {
        "subscriptions": [
            {
                "id": subscription,
                "resourceGroups": [
                    {
                        "name": "rg-app",
                        "location": "eastus",
                        "vms": [
                            vm("vm-web-1", "gold", [{"lun": 0, "sizeGB": 128, "sku": v2}]),
                            vm("vm-web-2", "gold", [{"lun": 0, "sizeGB": 128, "sku": v2}]),
                            vm(
                                "vm-db-1",
                                "gold",
                                [
                                    {"lun": 0, "sizeGB": 512, "sku": v2},
                                    {"lun": 1, "sizeGB": 256, "sku": v2},
                                    {
                                        "lun": 2,
                                        "sizeGB": 64,
                                        "sku": "Premium_LRS",
                                        "tags": {"backup": "skip"},
                                    },
                                ],
                            ),
                            vm(
                                "vm-sql-1",
                                "platinum",
                                [
                                    {"lun": 0, "sizeGB": 256, "sku": "Premium_LRS"},
                                    {"lun": 1, "sizeGB": 128, "sku": "Premium_LRS"},
                                ],
                            ),
                            vm("vm-app-1", "silver", [{"lun": 0, "sizeGB": 256, "sku": v2}]),
                            vm(
                                "vm-app-2",
                                "silver",
                                [
                                    {"lun": 0, "sizeGB": 128, "sku": "Premium_LRS"},
                                    {"lun": 1, "sizeGB": 128, "sku": v2},
                                ],
                            ),
                        ],
                    },
                    {"name": "rg-diskdr-westus2", "location": "westus2"},
                    # Where the demo restores, drills and would fail over to.
                    {"name": "rg-diskdr-restore", "location": "westus2"},
                    {"name": "rg-diskdr-drill", "location": "westus2"},
                    {"name": "rg-diskdr-failover", "location": "westus2"},
                ],
            }
        ]
    }
