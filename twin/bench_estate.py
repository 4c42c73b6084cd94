"""The estate and policy the benchmarks in bench/ run: N tagged VMs in one resource group of
eastus, backed up by one policy whose catch-up slot makes exactly one cycle."""

from __future__ import annotations

from collections.abc import Sequence

from twin.harness import SUBSCRIPTION

_POLICY = """\
version: 1
policies:
  - name: bench
    target: {tags: {backup: bench}}
    consistency: disk
    schedules: [{cron: "0 0 0 * * *", timeZone: UTC}]  # the catch-up slot: one cycle
    retention: {last: 3}
"""
_REPLICATE = "    replicate: {region: westus2, resourceGroup: rg-dr, retention: {last: 3}}\n"


def bench_policy(*, replicate: bool = True) -> str:
    """The policy file's text; with ``replicate``, copies go to rg-dr in westus2."""
    return _POLICY + (_REPLICATE if replicate else "")


def bench_estate(count: int, data_disks: Sequence[tuple[int, str]], *, replica_group: bool = True):
    """The emulator's estate seed: ``count`` VMs ``vm-000``... each with a 64 GB Premium SSD
    OS disk and ``data_disks`` as ``(size GB, sku)`` at LUN 0, 1, ...; with
    ``replica_group``, the empty rg-dr in westus2 too."""
    vms = [
        {
            "name": f"vm-{n:03d}",
            "tags": {"backup": "bench"},
            "osDisk": {"sizeGB": 64, "sku": "Premium_LRS"},
            "dataDisks": [
                {"lun": lun, "sizeGB": size, "sku": sku}
                for lun, (size, sku) in enumerate(data_disks)
            ],
        }
        for n in range(count)
    ]
    groups: list[dict] = [{"name": "rg-app", "location": "eastus", "vms": vms}]
    if replica_group:
        groups.append({"name": "rg-dr", "location": "westus2"})
    return {"subscriptions": [{"id": SUBSCRIPTION, "resourceGroups": groups}]}
