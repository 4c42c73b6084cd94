"""The recovery interfaces as DESIGN names them, on the twin (devhost + emulator): the
``diskdr drill`` and ``diskdr failover --execute`` commands in human mode and their exit
codes, slots shown as ``2026-11-25T04:00Z`` everywhere, target resource groups that must
exist, ``vmId`` only when a VM was made, a ``vm`` mode restore in the source VM's subnet,
and a drill with ``verifyScript`` alone that makes (and deletes) its own isolated network.

One twin: two VMs backed up at one slot and replicated to westus2. vm-i1 has a NIC in a
subnet of eastus (the estate seed names a NIC it does not make: the test makes it).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import NetworkInterface
from ruamel.yaml import YAML

from diskdr.azure.clients import EmulatorCredential
from diskdr.cli import main
from tests.e2e.conftest import (
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
EAST_VNET = f"{SUB}/resourceGroups/rg-net-eastus/providers/Microsoft.Network/virtualNetworks/vnet"
EAST_SUBNET = f"{EAST_VNET}/subnets/apps"
SLOT_TEXT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\dZ$")  # DESIGN's slot form
TIMEOUT = 120.0


def seed() -> dict[str, Any]:
    groups = [
        {
            "name": "rg-app",
            "location": PRIMARY_REGION,
            "vms": [vm("vm-i1", "e2e", data=[(0, "Premium_LRS")]), vm("vm-i2", "e2e")],
        },
        {"name": REPLICA_GROUP, "location": REPLICA_REGION},
        {"name": "rg-restore-east", "location": PRIMARY_REGION},
        {"name": "rg-restore", "location": REPLICA_REGION},
        {"name": "rg-drill", "location": REPLICA_REGION},
        {"name": "rg-failover", "location": REPLICA_REGION},
        {
            "name": "rg-net-eastus",
            "location": PRIMARY_REGION,
            "virtualNetworks": [
                {
                    "name": "vnet",
                    "addressPrefix": "10.10.0.0/16",
                    "subnets": [{"name": "apps", "addressPrefix": "10.10.1.0/24"}],
                }
            ],
        },
    ]
    return {"subscriptions": [{"id": SUBSCRIPTION, "resourceGroups": groups}]}


def network_client(run: TwinRun) -> NetworkManagementClient:
    emulator = run.twin.emulator
    return NetworkManagementClient(
        EmulatorCredential(),
        SUBSCRIPTION,
        base_url=emulator.url,
        credential_scopes=[f"{emulator.url}/.default"],
        connection_verify=emulator.ca_path,
    )


def give_vm_i1_its_nic(run: TwinRun) -> None:
    """The NIC the seeded vm-i1 names, in the eastus subnet (a real SDK create)."""
    body = {
        "location": PRIMARY_REGION,
        "properties": {
            "ipConfigurations": [
                {"name": "ipconfig1", "properties": {"subnet": {"id": EAST_SUBNET}}}
            ]
        },
    }
    network_client(run).network_interfaces.begin_create_or_update(
        "rg-app", "vm-i1-nic", NetworkInterface(body), api_version="2024-05-01"
    ).result()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinRun]:
    state_dir = tmp_path_factory.mktemp("recovery-interfaces")
    template = POLICIES / "recovery.yaml"
    with start_twin(state_dir, seed(), 1, template=template, prepare=give_vm_i1_its_nic) as twin:
        report = twin.wait_cycle(twin.slots[0])
        assert report["phase"] == "Completed", problems(report)
        yield twin


def vm_id(name: str) -> str:
    return f"{APP}/virtualMachines/{name}"


def call(run: TwinRun, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return run.twin.http(method, path, body)


def wait_done(run: TwinRun, route: str, instance_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        status, body = call(run, "GET", f"/api/{route}/{instance_id}")
        assert status == 200, body
        if body["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            assert body["runtimeStatus"] == "Completed", f"{body}\n{run.log_tail()}"
            return body["output"]
        time.sleep(0.3)
    raise AssertionError(f"{route}/{instance_id} did not end\n{run.log_tail()}")


def diskdr(run: TwinRun, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``diskdr --url U --key K ARGV`` (the options before the command, as DESIGN writes)."""
    host = run.twin.host
    assert host is not None
    code = main(["--url", host.url, "--key", host.function_key, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def set_drill(run: TwinRun, **fields: Any) -> str:
    """Change the policy file's drill block (the app reloads it); the old text."""
    original = run.policy_file.read_text()
    yaml = YAML()
    data = yaml.load(original)
    data["policies"][0]["drill"].update(fields)
    with run.policy_file.open("w") as out:
        yaml.dump(data, out)
    return original


# --- diskdr drill / failover --execute, in human mode ---------------------------------------
def test_the_drill_command_starts_and_follows_a_drill(run, capsys):
    code, out, err = diskdr(run, capsys, "drill", "e2e", "--vms", "1")
    assert code == 0, (out, err)
    started = re.search(r"run (drill-\S+) started \(policy e2e\)", out)
    assert started, out
    assert "/api/drills/" in out and "vm-i" in out, out  # where to read it; the VM drilled
    output = wait_done(run, "drills", started.group(1))
    assert output["phase"] == "Completed", output
    assert all(SLOT_TEXT.match(entry["slot"]) for entry in output["vms"]), output
    # Its id is a drill's: the backups route does not answer for it.
    status, body = call(run, "GET", f"/api/backups/{started.group(1)}")
    assert status == 404 and body["error"]["code"] == "InstanceNotFound", body

    code, out, err = diskdr(run, capsys, "drill", "e2e", "--wait", "--interval", "0.2")
    assert code == 0, (out, err)
    assert "Completed" in out and "passed" in out, out
    # diskdr status follows any run id it handed out, a drill's too.
    code, out, err = diskdr(run, capsys, "status", started.group(1), "--json")
    assert code == 0, (out, err)
    assert json.loads(out)["output"]["vms"][0]["contentCheck"] == "passed", out
    code, out, err = diskdr(run, capsys, "status", started.group(1))
    assert code == 0 and "Completed" in out and "passed" in out, (out, err)


def test_a_drill_that_fails_exits_1_and_bad_input_exits_2(run, capsys):
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
        code, out, err = diskdr(run, capsys, "drill", "e2e", "--vms", "1", "--wait")
    finally:
        run.control.faults([])
    assert code == 1, (out, err)
    assert "Failed" in out and "SnapshotCorrupted" in out, out
    code, _, err = diskdr(run, capsys, "drill", "no-such-policy")
    assert code == 2 and "UnknownPolicy" in err, err


def test_failover_execute_restores_and_shows_slots_as_design_writes_them(run, capsys):
    code, out, err = diskdr(
        run, capsys, "failover", "e2e", "--resource-group", "rg-failover", "--execute",
        "--wait", "--interval", "0.2",
    )  # fmt: skip
    assert code == 0, (out, err)
    assert re.search(r"run failover-\S+ started \(policy e2e\)", out), out
    assert "vm-i1" in out and "vm-i2" in out and "Completed" in out, out
    failover_id = re.search(r"run (failover-\S+) started", out).group(1)  # type: ignore[union-attr]
    output = wait_done(run, "failover", failover_id)
    for entry in output["vms"]:
        assert SLOT_TEXT.match(entry["slot"]), entry
        assert entry["restoredDiskIds"] and entry["restoredVmId"] is None, entry  # disks mode
    status, plan = call(
        run, "POST", "/api/failover", {"policy": "e2e", "resourceGroup": "rg-failover"}
    )
    assert status == 200 and all(SLOT_TEXT.match(v["slot"]) for v in plan["vms"]), plan


def test_compliance_shows_region_slots_as_design_writes_them(run):
    status, report = call(run, "GET", "/api/compliance")
    assert status == 200, report
    slots = [region["slot"] for vm_entry in report["vms"] for region in vm_entry["regions"]]
    assert slots and all(SLOT_TEXT.match(slot) for slot in slots), slots


def test_run_reports_and_recovery_points_show_slots_as_design_writes_them(run):
    status, body = call(run, "GET", f"/api/backups/{run.cycle_id(run.slots[0])}")
    assert status == 200, body
    report = body["output"]
    assert SLOT_TEXT.match(report["slot"]) and report["vms"], report
    assert all(vm_entry["slot"] == report["slot"] for vm_entry in report["vms"]), report["vms"]
    status, listing = call(run, "GET", f"/api/recovery-points?vmId={vm_id('vm-i1')}")
    assert status == 200 and listing["points"], listing
    assert all(point["slot"] == report["slot"] for point in listing["points"]), listing


# --- target resource groups must exist ------------------------------------------------------
def test_failover_and_drill_refuse_a_missing_resource_group_up_front(run, capsys):
    for dry_run in (True, False):
        request = {"policy": "e2e", "resourceGroup": "rg-nowhere", "dryRun": dry_run}
        status, body = call(run, "POST", "/api/failover", request)
        assert status == 422, body
        assert body["error"]["code"] == "ResourceGroupNotFound", body
        assert body["error"]["target"] == "resourceGroup", body
    code, _, err = diskdr(run, capsys, "failover", "e2e", "--resource-group", "rg-nowhere")
    assert code == 2 and "ResourceGroupNotFound" in err, err
    original = set_drill(run, resourceGroup="rg-nowhere")
    try:
        status, body = call(run, "POST", "/api/drills", {"policy": "e2e"})
    finally:
        run.policy_file.write_text(original)
    assert status == 422 and body["error"]["code"] == "ResourceGroupNotFound", body


# --- restores -----------------------------------------------------------------------------------
def test_a_disks_restore_has_no_vm_id_and_its_202_names_the_policy(run, capsys):
    code, out, err = diskdr(
        run, capsys, "restore", vm_id("vm-i2"), "--resource-group", "rg-restore",
        "--region", REPLICA_REGION, "--wait", "--interval", "0.2",
    )  # fmt: skip
    assert code == 0, (out, err)
    assert re.search(r"run restore-\S+ started \(policy e2e\)", out), out
    status, accepted = call(
        run, "POST", "/api/restores",
        {"vmId": vm_id("vm-i2"), "resourceGroup": "rg-restore", "region": REPLICA_REGION},
    )  # fmt: skip
    assert status == 202 and accepted["policy"] == "e2e", accepted
    output = wait_done(run, "restores", accepted["id"])
    assert output["phase"] == "Completed" and "vmId" not in output, output
    code, out, err = diskdr(run, capsys, "status", accepted["id"], "--json")
    assert code == 0 and json.loads(out)["output"]["disks"], (out, err)
    code, out, err = diskdr(run, capsys, "status", "restore-0000000000000000")
    assert code == 2 and "InstanceNotFound" in err, (out, err)


def test_a_vm_restore_without_subnet_uses_the_source_vms_subnet_in_its_region(run):
    body = {
        "vmId": vm_id("vm-i1"),
        "resourceGroup": "rg-restore-east",
        "mode": "vm",
        "namePrefix": "same-subnet",
    }
    status, accepted = call(run, "POST", "/api/restores", body)
    assert status == 202, accepted
    output = wait_done(run, "restores", accepted["id"])
    assert output["phase"] == "Completed" and output["vmId"], output
    restored = run.compute().virtual_machines.get("rg-restore-east", output["vmId"].rsplit("/")[-1])
    nic_id = restored.network_profile.network_interfaces[0].id
    nic = network_client(run).network_interfaces.get(
        "rg-restore-east", nic_id.rsplit("/", 1)[1], api_version="2024-05-01"
    )
    assert nic.ip_configurations[0].subnet.id.lower() == EAST_SUBNET.lower()
    # In another region the VM's own subnet cannot serve, nor for a VM without a NIC.
    other_region = {**body, "region": REPLICA_REGION, "resourceGroup": "rg-restore"}
    for request, why in ((other_region, "region"), ({**body, "vmId": vm_id("vm-i2")}, "network")):
        status, refused = call(run, "POST", "/api/restores", request)
        assert status == 400 and refused["error"]["target"] == "subnetId", refused
        assert why in refused["error"]["message"], refused


# --- a drill with verifyScript alone --------------------------------------------------------
def test_a_drill_with_a_verify_script_alone_makes_and_deletes_its_own_network(run):
    original = set_drill(run, verifyScript="echo ok\nexit 0")
    try:
        status, accepted = call(run, "POST", "/api/drills", {"policy": "e2e", "vms": 1})
        assert status == 202, accepted
        output = wait_done(run, "drills", accepted["id"])
    finally:
        run.policy_file.write_text(original)
    [entry] = output["vms"]
    assert output["phase"] == "Completed", output
    assert entry["contentCheck"] == "passed" and entry["cleanedUp"] is True, entry
    assert entry["verifyScript"]["exitCode"] == 0, entry
    [network] = output["networks"]
    assert network["cleanedUp"] is True, network
    assert "/resourceGroups/rg-drill/" in network["id"], network
    net = network_client(run)
    with pytest.raises(ResourceNotFoundError):
        net.virtual_networks.get(
            "rg-drill", network["id"].rsplit("/", 1)[1], api_version="2024-05-01"
        )
    assert list(net.network_interfaces.list("rg-drill", api_version="2024-05-01")) == []
    assert list(run.compute().virtual_machines.list("rg-drill")) == []
