"""Run command and the guest agent: output, freezing file systems, queued writes, faults."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from tests.emulator.support import SUB, estate_one_vm

RG = "rg-app"
VM = "vm-web-1"
VM_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/{VM}"
DATA_DISK = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/disks/{VM}-data-0"
)


def seed(control, **vm_fields):
    estate = estate_one_vm()
    estate["subscriptions"][0]["resourceGroups"][0]["vms"][0].update(vm_fields)
    control.estate(estate)


def shell(*lines: str, **parameters: str) -> dict:
    return {
        "commandId": "RunShellScript",
        "script": list(lines),
        "parameters": [{"name": k, "value": v} for k, v in parameters.items()],
    }


def run(compute, body: dict, vm: str = VM):
    return compute.virtual_machines.begin_run_command(RG, vm, body).result()


def test_linux_script_output_with_parameters(compute, control):
    seed(control)
    result = run(
        compute, shell("echo hello $who", "echo oops >&2", "exit 3", "echo never", who="ops")
    )
    [status] = result.value
    assert status.code == "ProvisioningState/succeeded"
    assert status.message == "Enable succeeded: \n[stdout]\nhello ops\n\n[stderr]\noops\n"
    [record] = control.guest(VM_ID)["runCommands"]
    assert record["status"] == "Succeeded" and record["exitCode"] == 3


def test_windows_powershell_output_is_one_status_per_stream(compute, control):
    seed(control, osType="Windows")
    body = {"commandId": "RunPowerShellScript", "script": ["Write-Output 'C: is healthy'"]}
    result = run(compute, body)
    assert [(s.code, s.message) for s in result.value] == [
        ("ComponentStatus/StdOut/succeeded", "C: is healthy"),
        ("ComponentStatus/StdErr/succeeded", ""),
    ]
    with pytest.raises(HttpResponseError) as info:  # a Linux command on a Windows VM
        run(compute, shell("echo hi"))
    assert info.value.status_code == 400


def test_freeze_queues_writes_and_points_are_taken_while_frozen(compute, control):
    seed(control)
    compute.restore_point_collections.create_or_update(
        RG, "rpc", {"location": "eastus", "properties": {"source": {"id": VM_ID}}}
    )
    run(compute, shell("fsfreeze --freeze /data"))
    guest = control.guest(VM_ID)
    assert guest["frozen"] is True
    before = control.content(DATA_DISK)["digest"]
    answer = control.write(DATA_DISK, blocks=5)
    assert answer["queued"] is True and answer["digest"] == before
    assert control.content(DATA_DISK)["digest"] == before  # the write waits for the thaw
    point = compute.restore_points.begin_create(
        RG, "rpc", "rp1", {"properties": {"consistencyMode": "CrashConsistent"}}
    ).result()
    run(compute, shell("fsfreeze --unfreeze /data"))
    after = control.content(DATA_DISK)["digest"]
    assert after != before  # the queued write landed at the thaw
    guest = control.guest(VM_ID)
    assert guest["frozen"] is False and guest["queuedWrites"] == []
    [interval] = guest["frozenIntervals"]
    assert interval["startUnix"] <= point.time_created.timestamp() <= interval["endUnix"]
    storage = point.source_metadata.storage_profile
    data_point = storage.data_disks[0].disk_restore_point.id
    captured = control.content(data_point)
    assert captured["capturedWhileFrozen"] is True and captured["digest"] == before
    stats = control.stats()
    assert stats["frozenIntervals"][VM_ID.lower()] == guest["frozenIntervals"]


def test_a_script_freezing_for_a_while_leaves_a_window_of_that_length(compute, control):
    seed(control, osType="Windows")
    body = {
        "commandId": "RunPowerShellScript",
        "script": [
            "# diskdr-guest: freeze   (VSS-style freeze of every volume)",
            "Start-Sleep -Seconds 600",
            "# diskdr-guest: thaw",
            "Write-Output done",
        ],
    }
    result = run(compute, body)
    assert result.value[0].message == "done"
    guest = control.guest(VM_ID)
    [interval] = guest["frozenIntervals"]
    assert interval["endUnix"] - interval["startUnix"] == pytest.approx(600, abs=1e-3)
    [record] = guest["runCommands"]
    assert record["startUnix"] < interval["startUnix"] < interval["endUnix"] <= record["endUnix"]


def test_power_off_thaws_and_drops_blocked_writes(compute, control):
    seed(control)
    control.set_guest(VM_ID, frozen=True)
    before = control.content(DATA_DISK)["digest"]
    assert control.write(DATA_DISK, offsets=[1, 2])["queued"] is True
    compute.virtual_machines.begin_power_off(RG, VM).result()
    guest = control.guest(VM_ID)
    assert guest["frozen"] is False and guest["queuedWrites"] == []
    assert control.content(DATA_DISK)["digest"] == before


def test_injected_failure_and_hang(compute, control):
    seed(control)
    control.set_guest(VM_ID, runCommandFaults=[{"mode": "fail", "count": 1}])
    with pytest.raises(HttpResponseError) as info:
        run(compute, shell("fsfreeze --freeze /"))
    assert info.value.error.code == "VMExtensionProvisioningError"
    assert control.guest(VM_ID)["frozen"] is False  # a failed script did nothing
    assert run(compute, shell("echo fine")).value[0].message.startswith("Enable succeeded")

    # A hang: the command runs on, a second one is refused, then the first completes.
    control.set_guest(VM_ID, runCommandFaults=[{"mode": "hang", "seconds": 300, "count": 1}])
    poller = compute.virtual_machines.begin_run_command(RG, VM, shell("echo late"))
    with pytest.raises(ResourceExistsError) as info:
        run(compute, shell("echo impatient"))
    assert info.value.error.code == "Conflict"
    assert "in progress" in info.value.error.message
    assert "late" in poller.result().value[0].message

    # A hang past the platform's limit fails with the extension's timeout.
    control.config(limits={"runCommandTimeoutSeconds": 300})
    control.set_guest(VM_ID, runCommandFaults=[{"mode": "hang"}])
    with pytest.raises(HttpResponseError) as info:
        run(compute, shell("echo never"))
    assert info.value.error.code == "VMExtensionProvisioningTimeout"
    faults = control.guest(VM_ID)["runCommandFaults"]
    assert faults == [{"mode": "hang", "count": None, "fired": 1}]


def test_run_command_refusals(compute, control):
    seed(control, powerState="deallocated")
    with pytest.raises(ResourceExistsError) as info:
        run(compute, shell("echo hi"))
    assert info.value.error.code == "OperationNotAllowed"
    assert "deallocated" in info.value.error.message
    with pytest.raises(HttpResponseError) as info:
        run(compute, {"commandId": "FormatDisk"})
    assert info.value.status_code == 400
    compute.virtual_machines.begin_start(RG, VM).result()
    control.set_guest(VM_ID, agentReady=False)
    with pytest.raises(HttpResponseError) as info:
        run(compute, shell("echo hi"))
    assert info.value.error.code == "VMAgentStatusCommunicationError"


def test_built_in_command_documents(compute):
    commands = list(compute.virtual_machine_run_commands.list("eastus"))
    assert {"RunShellScript", "RunPowerShellScript"} <= {c.id for c in commands}
    shell_doc = compute.virtual_machine_run_commands.get("eastus", "RunShellScript")
    assert shell_doc.os_type == "Linux" and shell_doc.script


def test_guest_control_validation(control):
    seed(control)
    from emulator.harness import ControlError

    with pytest.raises(ControlError) as info:
        control.set_guest(VM_ID, runCommandFaults=[{"mode": "explode"}])
    assert info.value.status == 400
    with pytest.raises(ControlError) as info:
        control.guest(VM_ID + "-missing")
    assert info.value.status == 404
    assert control.guest(VM_ID)["agentReady"] is True
