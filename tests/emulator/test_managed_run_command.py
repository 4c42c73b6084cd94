"""Managed run commands (``virtualMachines/{vm}/runCommands/{name}``) with the real SDK:
the exit code in the instance view, provisioning vs execution state, faults, delete."""

from __future__ import annotations

import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.emulator.test_run_command import RG, VM, VM_ID, seed


def command(*lines: str, **properties) -> dict:
    return {
        "location": "eastus",
        "properties": {"source": {"script": "\n".join(lines)}, **properties},
    }


def ended(compute, name: str, timeout: float = 60.0):
    """Poll the instance view until the script ended (as diskdr's drill does)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = compute.virtual_machine_run_commands.get_by_virtual_machine(
            RG, VM, name, expand="instanceView"
        )
        if found.instance_view.execution_state not in ("Pending", "Running"):
            return found
        time.sleep(0.05)
    raise AssertionError(f"run command {name} did not end in {timeout}s")


def test_a_script_reports_its_exit_code(compute, control):
    seed(control)
    runs = compute.virtual_machine_run_commands
    runs.begin_create_or_update(RG, VM, "verify", command("echo checking", "exit 0"), polling=False)
    first = runs.get_by_virtual_machine(RG, VM, "verify")
    assert first.type == "Microsoft.Compute/virtualMachines/runCommands"
    assert first.instance_view is None  # only with $expand=instanceView
    done = ended(compute, "verify")
    assert done.instance_view.execution_state == "Succeeded"
    assert done.instance_view.exit_code == 0 and done.instance_view.output == "checking"
    assert done.provisioning_state == "Succeeded"

    # exit 1: execution Failed, provisioning still Succeeded (the platform ran it) ...
    runs.begin_create_or_update(RG, VM, "broken", command("exit 1"), polling=False)
    broken = ended(compute, "broken")
    assert broken.instance_view.execution_state == "Failed"
    assert broken.instance_view.exit_code == 1 and broken.provisioning_state == "Succeeded"
    # ... unless treatFailureAsDeploymentFailure; the SDK's own polling follows the resource.
    failed = runs.begin_create_or_update(
        RG,
        VM,
        "strict",
        command("exit 2", treatFailureAsDeploymentFailure=True),
        polling_interval=0.05,
    )
    with pytest.raises(HttpResponseError):
        failed.result()
    strict = runs.get_by_virtual_machine(RG, VM, "strict", expand="instanceView")
    assert strict.provisioning_state == "Failed" and strict.instance_view.exit_code == 2
    names = sorted(c.name for c in runs.list_by_virtual_machine(RG, VM))
    assert names == ["broken", "strict", "verify"]
    runs.begin_delete(RG, VM, "broken").result()
    with pytest.raises(ResourceNotFoundError):
        runs.get_by_virtual_machine(RG, VM, "broken")


def test_faults_steer_the_exit_code_and_the_timeout(compute, control):
    seed(control)
    runs = compute.virtual_machine_run_commands
    control.set_guest(
        VM_ID,
        runCommandFaults=[{"mode": "fail", "exitCode": 7, "message": "disk check", "count": 1}],
    )
    runs.begin_create_or_update(RG, VM, "a", command("echo fine"), polling=False)
    failed = ended(compute, "a")
    assert failed.instance_view.exit_code == 7 and failed.instance_view.error == "disk check"
    control.set_guest(VM_ID, runCommandFaults=[{"mode": "hang", "count": 1}])
    runs.begin_create_or_update(
        RG, VM, "b", command("echo slow", timeoutInSeconds=120), polling=False
    )
    hung = ended(compute, "b")
    assert hung.instance_view.execution_state == "TimedOut"
    assert hung.instance_view.exit_code is None
    control.set_guest(VM_ID, agentReady=False)
    runs.begin_create_or_update(RG, VM, "c", command("echo hi"), polling=False)
    no_agent = ended(compute, "c")
    assert no_agent.instance_view.execution_state == "Failed"
    assert no_agent.provisioning_state == "Failed"
    assert "VM agent" in no_agent.instance_view.error
