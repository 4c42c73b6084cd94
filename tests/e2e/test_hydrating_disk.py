"""A Premium SSD v2 disk restored from a snapshot and attached to a protected VM, still
hydrating (its background copy from the snapshot runs for days) when the cycle comes: Azure
refuses its snapshot, the run asks again a few times with backoff (the refusal is transient),
then reports that disk with Azure's code and message, while the VM's other disks and the
other VMs are backed up and replicated. The next cycle asks again."""

from __future__ import annotations

import pytest

from orchestrations.taking import TRANSIENT_ATTEMPTS
from tests.e2e.conftest import (
    PRIMARY_REGION,
    TwinRun,
    disk_outcomes,
    estate,
    start_twin,
    vm,
)
from tests.support import poll

pytestmark = pytest.mark.slow

ESTATE = estate(
    {
        "rg-app": [
            vm("vm-h1", "e2e", data=[(0, "Premium_LRS")]),
            vm("vm-h2", "e2e", data=[(0, "Premium_LRS")]),
        ]
    }
)
RESTORED = "vm-h1-restored"
POLL = {"polling_interval": 0.05}  # Azure's DiskRP LROs send no hint: poll fast ourselves


def attach_a_hydrating_disk(run: TwinRun) -> None:
    """Restore a Premium SSD v2 disk from a snapshot (as after `diskdr restore`) whose
    background copy lasts ten world days, and attach it to vm-h1 at lun 1."""
    compute = run.compute()
    control = run.control
    control.config(backgroundCopy={"baseSeconds": 0, "bytesPerSecond": 2**40})
    source = compute.disks.begin_create_or_update(
        "rg-app",
        "v2-source",
        {
            "location": PRIMARY_REGION,
            "sku": {"name": "PremiumV2_LRS"},
            "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 64},
        },
        **POLL,
    ).result()
    control.write(source.id, blocks=8)
    snapshot = compute.snapshots.begin_create_or_update(
        "rg-app",
        "v2-source-snap",
        {
            "location": PRIMARY_REGION,
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": source.id},
                "incremental": True,
            },
        },
        **POLL,
    ).result()
    poll(
        lambda: (
            compute.snapshots.get("rg-app", snapshot.name).properties.snapshot_access_state
            == "Available"
        ),
        what="the source snapshot's background copy",
    )
    control.config(backgroundCopy={"baseSeconds": 10 * 86400, "bytesPerSecond": 2**30})
    restored = compute.disks.begin_create_or_update(
        "rg-app",
        RESTORED,
        {
            "location": PRIMARY_REGION,
            "sku": {"name": "PremiumV2_LRS"},
            "properties": {
                "creationData": {"createOption": "Copy", "sourceResourceId": snapshot.id}
            },
        },
        **POLL,
    ).result()
    compute.virtual_machines.begin_attach_detach_data_disks(
        "rg-app",
        "vm-h1",
        {"dataDisksToAttach": [{"diskId": restored.id, "lun": 1}]},
        **POLL,
    ).result()


def test_a_hydrating_disk_is_reported_and_asked_for_again_the_others_succeed(tmp_path):
    with start_twin(tmp_path, ESTATE, 1, prepare=attach_a_hydrating_disk) as run:
        report = run.wait_cycle(run.slots[0])
        stats = run.stats()
        restored = run.compute().disks.get("rg-app", RESTORED)

    assert restored.properties.completion_percent < 100  # still hydrating when the run ended
    outcomes = {o["diskName"]: o for o in disk_outcomes(report)}
    refused = outcomes.pop(RESTORED)
    assert refused["point"] is None and refused["replica"] is None
    error = refused["error"]
    assert error["code"] == "OperationNotAllowed" and error["status"] == 409
    assert error["transient"] is True and "hydrated" in error["message"]
    assert error["requestId"]
    assert refused["groupState"] == "partial"
    for name, outcome in outcomes.items():
        assert outcome["error"] is None and outcome["replicaError"] is None, name
        assert outcome["point"]["state"] == "usable", name
        assert outcome["replica"]["state"] == "usable", name
    states = {v["vmName"]: v["state"] for v in report["vms"]}
    assert states == {"vm-h1": "partial", "vm-h2": "complete"}
    assert report["phase"] == "PartiallyFailed"
    # Asked for again with backoff within the run, a bounded number of times (the take's
    # transient retries), each time refused at once with nothing left behind; the next
    # cycle asks again.
    refusals = [v for v in stats["limitViolations"] if v["limit"] == "snapshotWhileHydrating"]
    assert len(refusals) == 1 + TRANSIENT_ATTEMPTS
    assert {v["resource"].lower() for v in refusals} == {restored.id.lower()}
    assert [v for v in stats["limitViolations"] if v not in refusals] == []
