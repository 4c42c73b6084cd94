"""Recovery end to end on the twin (devhost + emulator): restore, DR drill, failover.

One twin backs up a 6-VM estate at two slots, with guest writes in between, so the
first slot's content differs from the disks' content now. Then, over the HTTP API:
restore the first group from the secondary region (the restored digests equal the source
disks' digests at that slot, not now) as disks and as a VM (its disks at their LUNs);
bad requests are refused before anything is created; a drill restores, verifies, reports
an RTO and leaves nothing behind, also when a replica is broken (emulator fault); a
failover dry run creates nothing, and a real one restores the six VMs in recovery order.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from diskdr.cli import main
from diskdr.restore import TAG_RESTORE_POINT, TAG_RESTORED_BY, TAG_RESTORED_FROM
from tests.e2e.conftest import (
    INSTALL_ID,
    POLICIES,
    PRIMARY_REGION,
    REPLICA_GROUP,
    REPLICA_REGION,
    TwinRun,
    problems,
    start_twin,
    vm,
)
from twin.harness import SUBSCRIPTION

pytestmark = pytest.mark.slow

SUB = f"/subscriptions/{SUBSCRIPTION}"
APP = f"{SUB}/resourceGroups/rg-app/providers/Microsoft.Compute"
# Recovery order of the six VMs (vm-f6 has no tag: it comes last).
ORDERS = {"vm-f1": "1", "vm-f2": "1", "vm-f3": "2", "vm-f4": "2", "vm-f5": "3"}
VNET = f"{SUB}/resourceGroups/rg-net-westus2/providers/Microsoft.Network/virtualNetworks/vnet-dr"
SUBNET = f"{VNET}/subnets/apps"
EAST_SUBNET = (
    f"{SUB}/resourceGroups/rg-net-eastus/providers/Microsoft.Network/virtualNetworks/vnet-app"
    "/subnets/apps"
)
TIMEOUT = 120.0


def seed() -> dict[str, Any]:
    vms = []
    for n in range(1, 7):
        entry = vm(f"vm-f{n}", "e2e", data=[(0, "Premium_LRS")] if n != 1 else [
            (0, "Premium_LRS"), (3, "StandardSSD_LRS")
        ])  # fmt: skip
        order = ORDERS.get(f"vm-f{n}")
        if order:
            entry["tags"]["diskdr-recovery-order"] = order
        vms.append(entry)
    groups = [
        {"name": "rg-app", "location": PRIMARY_REGION, "vms": vms},
        {"name": REPLICA_GROUP, "location": REPLICA_REGION},
        {"name": "rg-restore", "location": REPLICA_REGION},
        {"name": "rg-drill", "location": REPLICA_REGION},
        {"name": "rg-failover", "location": REPLICA_REGION},
        {
            "name": "rg-net-westus2",
            "location": REPLICA_REGION,
            "virtualNetworks": [
                {
                    "name": "vnet-dr",
                    "addressPrefix": "10.20.0.0/16",
                    "subnets": [{"name": "apps", "addressPrefix": "10.20.1.0/24"}],
                }
            ],
        },
        {
            "name": "rg-net-eastus",
            "location": PRIMARY_REGION,
            "virtualNetworks": [
                {
                    "name": "vnet-app",
                    "addressPrefix": "10.10.0.0/16",
                    "subnets": [{"name": "apps", "addressPrefix": "10.10.1.0/24"}],
                }
            ],
        },
    ]
    return {"subscriptions": [{"id": SUBSCRIPTION, "resourceGroups": groups}]}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinRun]:
    """Two completed slots with guest writes between them; ``run.at_first`` holds each
    source disk's digest at the first slot."""
    state_dir = tmp_path_factory.mktemp("recovery")
    with start_twin(state_dir, seed(), 2, template=POLICIES / "recovery.yaml") as twin_run:
        report = twin_run.wait_cycle(twin_run.slots[0])
        assert report["phase"] == "Completed", problems(report)
        disks = [d for d in twin_run.seeded["disks"]]
        twin_run.at_first = {d.lower(): twin_run.digest(d) for d in disks}  # type: ignore[attr-defined]
        for disk in disks:
            twin_run.control.write(disk, blocks=3)
        report = twin_run.wait_cycle(twin_run.slots[1])
        assert report["phase"] == "Completed", problems(report)
        yield twin_run


def vm_id(name: str) -> str:
    return f"{APP}/virtualMachines/{name}"


def call(run: TwinRun, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return run.twin.http(method, path, body)


def wait_done(run: TwinRun, route: str, instance_id: str, timeout: float = TIMEOUT) -> dict:
    """Poll ``GET /api/{route}/{id}`` until the orchestration ends; its status body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = call(run, "GET", f"/api/{route}/{instance_id}")
        assert status == 200, body
        if body["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            assert body["runtimeStatus"] == "Completed", f"{body}\n{run.log_tail()}"
            return body["output"]
        time.sleep(0.3)
    raise AssertionError(f"{route}/{instance_id} did not end in {timeout}s\n{run.log_tail()}")


def disks_in(run: TwinRun, group: str) -> list[Any]:
    return list(run.compute().disks.list_by_resource_group(group))


# --- restore ----------------------------------------------------------------------------------
def test_restore_disks_from_the_secondary_region_holds_the_first_slot(run: TwinRun) -> None:
    slot = run.slots[0].strftime("%Y-%m-%dT%H:%MZ")
    body = {
        "vmId": vm_id("vm-f1"),
        "slot": slot,
        "region": REPLICA_REGION,
        "resourceGroup": "rg-restore",
        "mode": "disks",
        "namePrefix": "first",
    }
    status, accepted = call(run, "POST", "/api/restores", body)
    assert status == 202, accepted
    output = wait_done(run, "restores", accepted["id"])
    assert output["phase"] == "Completed", output
    assert output["region"] == REPLICA_REGION and output["slot"] == slot
    assert output["rtoSeconds"] > 0
    assert len(output["disks"]) == 3
    compute = run.compute()
    for disk in output["disks"]:
        restored = run.digest(disk["restoredDiskId"])
        source = disk["sourceDiskId"].lower()
        assert restored == run.at_first[source], disk  # the content at the slot ...
        assert restored != run.digest(disk["sourceDiskId"]), disk  # ... not the content now
        made = compute.disks.get("rg-restore", disk["restoredDiskId"].rsplit("/", 1)[1])
        original = compute.disks.get("rg-app", disk["sourceDiskId"].rsplit("/", 1)[1])
        assert made.sku.name == original.sku.name and made.disk_size_gb == original.disk_size_gb
        assert made.location == REPLICA_REGION
        assert made.tags[TAG_RESTORED_BY] == INSTALL_ID
        assert made.tags[TAG_RESTORED_FROM] == disk["sourceDiskId"].lower()
        assert made.tags[TAG_RESTORE_POINT] == disk["pointId"].lower()
    # A retried request joins the same restore: no second disk.
    before = len(disks_in(run, "rg-restore"))
    status, again = call(run, "POST", "/api/restores", body)
    assert status == 202 and again["id"] == accepted["id"]
    assert len(disks_in(run, "rg-restore")) == before


def test_restore_as_a_vm_attaches_the_restored_disks_at_their_luns(run: TwinRun) -> None:
    body = {
        "vmId": vm_id("vm-f1"),
        "slot": "latest",
        "region": REPLICA_REGION,
        "resourceGroup": "rg-restore",
        "mode": "vm",
        "subnetId": SUBNET,
        "namePrefix": "vmr",
    }
    status, accepted = call(run, "POST", "/api/restores", body)
    assert status == 202, accepted
    output = wait_done(run, "restores", accepted["id"])
    assert output["phase"] == "Completed", (output.get("error"), output["disks"])
    assert output["slot"] == run.slots[1].strftime("%Y-%m-%dT%H:%MZ")
    compute = run.compute()
    restored_vm = compute.virtual_machines.get("rg-restore", output["vmId"].rsplit("/", 1)[1])
    source_vm = compute.virtual_machines.get("rg-app", "vm-f1")
    by_source = {d["sourceDiskId"].lower(): d["restoredDiskId"].lower() for d in output["disks"]}
    profile, source = restored_vm.storage_profile, source_vm.storage_profile
    assert (
        profile.os_disk.managed_disk.id.lower() == by_source[source.os_disk.managed_disk.id.lower()]
    )
    assert {d.lun: d.managed_disk.id.lower() for d in profile.data_disks} == {
        d.lun: by_source[d.managed_disk.id.lower()] for d in source.data_disks
    }
    assert restored_vm.hardware_profile.vm_size == source_vm.hardware_profile.vm_size
    nic_id = restored_vm.network_profile.network_interfaces[0].id
    status, nic = 200, run.twin.control  # the NIC is checked through the network client below
    from azure.mgmt.network import NetworkManagementClient

    from diskdr.azure.clients import EmulatorCredential

    network = NetworkManagementClient(
        EmulatorCredential(),
        SUBSCRIPTION,
        base_url=run.twin.emulator.url,
        credential_scopes=[f"{run.twin.emulator.url}/.default"],
        connection_verify=run.twin.emulator.ca_path,
    )
    nic = network.network_interfaces.get("rg-restore", nic_id.rsplit("/", 1)[1])
    assert nic.ip_configurations[0].subnet.id.lower() == SUBNET.lower()
    assert nic.ip_configurations[0].public_ip_address is None


def test_a_restore_failing_midway_says_what_it_created(run: TwinRun) -> None:
    # The VM create is refused (as Azure refuses one over quota): the disks and the NIC
    # already exist, and the output names them.
    run.control.faults(
        [
            {
                "method": "PUT",
                "path": "resourceGroups/rg-restore/providers/Microsoft.Compute/virtualMachines/",
                "status": 409,
                "code": "OperationNotAllowed",
                "count": 1,
            }
        ]
    )
    body = {
        "vmId": vm_id("vm-f4"),
        "region": REPLICA_REGION,
        "resourceGroup": "rg-restore",
        "mode": "vm",
        "subnetId": SUBNET,
        "namePrefix": "midway",
    }
    try:
        status, accepted = call(run, "POST", "/api/restores", body)
        assert status == 202, accepted
        output = wait_done(run, "restores", accepted["id"])
    finally:
        run.control.faults([])
    assert output["phase"] == "PartiallyFailed" and "vmId" not in output, output
    assert output["error"]["code"] == "OperationNotAllowed", output
    assert output["rtoSeconds"] is None
    made = {d.id.lower() for d in disks_in(run, "rg-restore")}
    disks = [d["restoredDiskId"].lower() for d in output["disks"]]
    assert set(disks) <= made and all(d["state"] == "usable" for d in output["disks"])
    assert [c.lower() for c in output["created"]] == [*disks, accepted["wouldCreate"][-2].lower()]


def test_bad_restores_are_refused_before_anything_is_created(run: TwinRun) -> None:
    before = {g: len(disks_in(run, g)) for g in ("rg-restore", "rg-app")}
    base = {"vmId": vm_id("vm-f2"), "resourceGroup": "rg-restore"}
    cases = [
        ({**base, "vmId": vm_id("vm-missing")}, 404, "ResourceNotFound"),
        ({**base, "region": "eastus2"}, 422, "NoPointsInRegion"),
        ({**base, "slot": "2001-01-01T00:00Z"}, 404, "SlotNotFound"),
        ({**base, "slot": "yesterday"}, 400, "InvalidRequest"),
        ({**base, "mode": "vm"}, 400, "InvalidRequest"),
        ({**base, "region": REPLICA_REGION, "mode": "vm", "subnetId": EAST_SUBNET}, 422,
         "SubnetInOtherRegion"),
        ({**base, "resourceGroup": "rg-nowhere"}, 422, "ResourceGroupNotFound"),
        # vm-f2's OS disk restored with prefix "vm-f2-osdisk"... collides with the source
        # disk's own name in rg-app, which diskdr did not make.
        ({**base, "resourceGroup": "rg-app", "namePrefix": "vm-f2"}, 409, "NameCollision"),
    ]  # fmt: skip
    for body, status, code in cases:
        got, answer = call(run, "POST", "/api/restores", body)
        assert got == status, (body, answer)
        assert answer["error"]["code"] == code, (body, answer)
        assert len(answer["error"]["message"]) > 10
    assert {g: len(disks_in(run, g)) for g in before} == before


# --- drills -------------------------------------------------------------------------------------
def test_a_drill_restores_verifies_and_leaves_nothing_behind(run: TwinRun) -> None:
    status, accepted = call(run, "POST", "/api/drills", {"policy": "e2e", "vms": 2})
    assert status == 202, accepted
    output = wait_done(run, "drills", accepted["id"])
    assert output["phase"] == "Completed", output
    assert output["region"] == REPLICA_REGION and len(output["vms"]) == 2
    for entry in output["vms"]:
        assert entry["contentCheck"] == "passed", entry
        assert entry["cleanedUp"] is True and entry["rtoSeconds"] > 0, entry
        assert entry["pointAgeSeconds"] > 0 and entry["restoredDiskIds"], entry
    assert disks_in(run, "rg-drill") == []
    status, listing = call(run, "GET", "/api/drills")
    assert status == 200 and accepted["id"] in [d["id"] for d in listing["drills"]]
    # The next drill takes its turn with VMs not drilled yet.
    drilled = {entry["vmId"].lower() for entry in output["vms"]}
    status, second = call(run, "POST", "/api/drills", {"policy": "e2e", "vms": 2})
    assert status == 202, second
    assert not drilled & {v.lower() for v in second["vms"]}
    wait_done(run, "drills", second["id"])


def test_a_drill_with_a_broken_replica_reports_it_and_still_cleans_up(run: TwinRun) -> None:
    # The first disk created from a replica in the drill group is refused as Azure refuses
    # a copy from a broken source.
    run.control.faults(
        [
            {
                "method": "PUT",
                "path": "resourceGroups/rg-drill/providers/Microsoft.Compute/disks/",
                "status": 409,
                "code": "SnapshotCorrupted",
                "count": 1,
            }
        ]
    )
    try:
        status, accepted = call(run, "POST", "/api/drills", {"policy": "e2e", "vms": 1})
        assert status == 202, accepted
        output = wait_done(run, "drills", accepted["id"])
    finally:
        run.control.faults([])
    assert output["phase"] == "Failed", output
    [entry] = output["vms"]
    assert entry["error"]["code"] == "SnapshotCorrupted", entry
    assert entry["contentCheck"] == "skipped" and entry["cleanedUp"] is True, entry
    assert disks_in(run, "rg-drill") == []
    status, compliance = call(run, "GET", "/api/compliance")
    assert status == 200
    drills = {vm["vmId"].lower(): vm["drill"] for vm in compliance["vms"]}
    assert drills[entry["vmId"].lower()]["status"] == "FAILED"
    assert "PASSED" in {d["status"] for d in drills.values()}


def _drill_with_script(run: TwinRun, script: str) -> dict[str, Any]:
    """One drill of one VM with ``drill.verifyScript`` set (the policy file is reloaded when
    it changes) and put back as it was afterwards."""
    from ruamel.yaml import YAML

    original = run.policy_file.read_text()
    yaml = YAML()
    data = yaml.load(original)
    data["policies"][0]["drill"].update(verifyScript=script, subnetId=SUBNET)
    with run.policy_file.open("w") as out:
        yaml.dump(data, out)
    try:
        status, accepted = call(run, "POST", "/api/drills", {"policy": "e2e", "vms": 1})
        assert status == 202, accepted
        return wait_done(run, "drills", accepted["id"])
    finally:
        run.policy_file.write_text(original)


def nothing_left_in_drill_group(run: TwinRun) -> None:
    from azure.mgmt.network import NetworkManagementClient

    from diskdr.azure.clients import EmulatorCredential

    network = NetworkManagementClient(
        EmulatorCredential(),
        SUBSCRIPTION,
        base_url=run.twin.emulator.url,
        credential_scopes=[f"{run.twin.emulator.url}/.default"],
        connection_verify=run.twin.emulator.ca_path,
    )
    assert disks_in(run, "rg-drill") == []
    assert list(run.compute().virtual_machines.list("rg-drill")) == []
    assert list(network.network_interfaces.list("rg-drill")) == []


def test_a_drill_with_a_verify_script_runs_it_on_a_drill_vm(run: TwinRun) -> None:
    output = _drill_with_script(run, "echo verifying\nexit 0")
    [entry] = output["vms"]
    assert output["phase"] == "Completed", entry
    assert entry["contentCheck"] == "passed" and entry["cleanedUp"] is True, entry
    assert entry["verifyScript"]["executionState"] == "Succeeded", entry
    assert entry["verifyScript"]["exitCode"] == 0 and "verifying" in entry["verifyScript"]["output"]
    assert entry["rtoSeconds"] > 0
    nothing_left_in_drill_group(run)


def test_a_drill_whose_verify_script_exits_1_fails_and_still_cleans_up(run: TwinRun) -> None:
    output = _drill_with_script(run, "echo bad data >&2\nexit 1")
    [entry] = output["vms"]
    assert output["phase"] == "Failed", entry
    assert entry["contentCheck"] == "failed" and entry["cleanedUp"] is True, entry
    assert entry["verifyScript"]["executionState"] == "Failed", entry
    assert entry["verifyScript"]["exitCode"] == 1 and "bad data" in entry["verifyScript"]["error"]
    nothing_left_in_drill_group(run)


# --- failover -----------------------------------------------------------------------------------
def diskdr(run: TwinRun, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """The ``diskdr`` command against the twin's app."""
    host = run.twin.host
    assert host is not None
    code = main([argv[0], "--url", host.url, "--key", host.function_key, *argv[1:]])
    return code, capsys.readouterr().out


def test_the_cli_restores_and_plans_a_failover(
    run: TwinRun, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = diskdr(
        run, capsys, "restore", vm_id("vm-f3"), "--resource-group", "rg-restore",
        "--region", REPLICA_REGION, "--name-prefix", "cli", "--wait", "--interval", "0.2",
        "--json",
    )  # fmt: skip
    assert code == 0, out
    status = json.loads(out)
    assert status["output"]["phase"] == "Completed" and status["output"]["rtoSeconds"] > 0
    code, out = diskdr(run, capsys, "failover", "e2e", "--resource-group", "rg-failover")
    assert code == 0 and "dry run" in out and "vm-f6" in out, out
    assert disks_in(run, "rg-failover") == []
    code, _ = diskdr(run, capsys, "failover", "nope", "--resource-group", "rg-failover")
    assert code == 2


def test_failover_dry_run_then_real_in_recovery_order(run: TwinRun) -> None:
    request = {"policy": "e2e", "resourceGroup": "rg-failover", "subnetId": SUBNET}
    status, plan = call(run, "POST", "/api/failover", request)
    assert status == 200 and plan["dryRun"] is True, plan
    assert [v["order"] for v in plan["vms"]] == [1, 1, 2, 2, 3, 1000]
    assert all(v["pointAgeSeconds"] > 0 and len(v["wouldCreate"]) >= 4 for v in plan["vms"])
    assert disks_in(run, "rg-failover") == []

    status, accepted = call(run, "POST", "/api/failover", {**request, "dryRun": False})
    assert status == 202, accepted
    output = wait_done(run, "failover", accepted["id"], timeout=TIMEOUT * 2)
    assert output["phase"] == "Completed", [v.get("error") for v in output["vms"]]
    assert len(output["vms"]) == 6 and output["rtoSeconds"] > 0
    compute = run.compute()
    created = {}
    for entry in output["vms"]:
        assert entry["restoredVmId"] and entry["rtoSeconds"] > 0, entry
        name = entry["restoredVmId"].rsplit("/", 1)[1]
        assert name == entry["vmId"].rsplit("/", 1)[1]  # a failover keeps the VM names
        created[entry["order"]] = [
            *created.get(entry["order"], []),
            compute.virtual_machines.get("rg-failover", name).time_created,
        ]
    finished = {}
    for entry in output["vms"]:
        finished[entry["order"]] = max(
            finished.get(entry["order"], entry["finishedAt"]), entry["finishedAt"]
        )
    orders = sorted(created)
    for earlier, later in itertools.pairwise(orders):
        # Every VM of a later order was created after every VM of the earlier one was done.
        assert min(created[later]).isoformat() >= finished[earlier][:19], (earlier, later)
