"""Managed run commands: ``Microsoft.Compute/virtualMachines/runCommands``, the child
resource that runs a script on a VM and, unlike the ``POST .../runCommand`` action, reports
the script's exit code (``instanceView.exitCode``).

Shapes and states follow the REST spec (ComputeRP ``runCommandExamples/
VirtualMachineRunCommand_CreateOrUpdate.json``, ``_Get.json``, ``_Delete.json``, the
``VirtualMachineRunCommandInstanceView`` and ``ExecutionState`` definitions) and the Learn
page "Run scripts in your Linux VM by using managed Run Commands":

- PUT answers 201 with ``provisioningState: Creating``; the resource then advances with
  world time: the agent picks the script up after the configured latency of
  ``VirtualMachineRunCommands_CreateOrUpdate`` (``executionState`` Pending → Running), the
  script takes its ``sleep`` seconds (the same reader as the action's,
  ``guest.read_script``), and ends Succeeded (exit 0) or Failed (its ``exit N``), or
  TimedOut after ``timeoutInSeconds`` (0: the platform's 90-minute limit).
- ``provisioningState`` says whether the platform ran the script, not how it ended:
  Succeeded once it started (``asyncExecution: true``) or ended (false); Failed on a script
  failure only with ``treatFailureAsDeploymentFailure: true`` (spec property description).
- ``instanceView`` only with ``$expand=instanceView``. A VM whose agent is not ready fails
  the run command (provisioningState Failed, the action's ``VMAgentStatusCommunicationError``
  message in ``instanceView.error``); a VM that is not running refuses the PUT (409).
- Faults (``runCommandFaults`` of ``POST /_emulator/guest``) apply here too: ``fail`` makes
  the script exit with the fault's ``exitCode`` (default 1) and its ``message`` on stderr;
  ``hang`` keeps it running for ``seconds`` more (or until its timeout).

The twin runs no script: it reads the script for its sleeps, prints and ``exit N``.
Deleting the VM deletes its run commands (they are the guest's; ``GuestAgents.on_change``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.arm import iso
from emulator.compute.exceptions import InvalidParameter, OperationNotAllowed
from emulator.compute.models.guest import GuestAgents, _parameters, read_script
from emulator.errors import ResourceNotFound

if TYPE_CHECKING:
    from emulator.compute.models import ComputeBackend, VirtualMachine

OPERATION = "VirtualMachineRunCommands_CreateOrUpdate"
AGENT_NOT_READY = "VM has not reported status for VM agent or extensions."
RESOURCE_TYPE = "Microsoft.Compute/virtualMachines/runCommands"


@dataclass
class ManagedRunCommand:
    """One ``runCommands/{name}`` of a VM and the run of its script."""

    vm_id: str
    name: str
    location: str
    tags: dict[str, Any]
    properties: dict[str, Any]  # as sent (source, parameters, asyncExecution, ...)
    created: float
    start: float  # the agent starts the script
    end: float  # the script ends (or times out)
    exit_code: int | None  # None: it never ran, or timed out
    stdout: str = ""
    stderr: str = ""
    state_at_end: str = "Succeeded"  # Succeeded | Failed | TimedOut
    error: str = ""

    def execution_state(self, now: float) -> str:
        if now < self.start:
            return "Pending"
        if now < self.end:
            return "Running"
        return self.state_at_end

    def provisioning_state(self, now: float) -> str:
        if self.error == AGENT_NOT_READY:
            return "Failed" if now >= self.start else "Creating"
        done_at = self.start if self.properties.get("asyncExecution") else self.end
        if now < done_at:
            return "Creating"
        if (
            self.properties.get("treatFailureAsDeploymentFailure")
            and self.execution_state(now) != "Succeeded"
        ):
            return "Failed"
        return "Succeeded"

    def to_json(self, now: float, *, instance_view: bool) -> dict[str, Any]:
        properties = {
            key: value
            for key, value in self.properties.items()
            if key not in ("runAsPassword", "protectedParameters")  # secrets are never read back
        }
        properties.setdefault("asyncExecution", False)
        properties.setdefault("treatFailureAsDeploymentFailure", False)
        properties.setdefault("timeoutInSeconds", 0)
        properties["provisioningState"] = self.provisioning_state(now)
        if instance_view:
            state = self.execution_state(now)
            view: dict[str, Any] = {"executionState": state}
            if state not in ("Pending",):
                view["startTime"] = iso(self.start)
            if state in ("Succeeded", "Failed", "TimedOut"):
                view["endTime"] = iso(self.end)
                view["output"] = self.stdout
                view["error"] = self.error or self.stderr
                view["executionMessage"] = {
                    "Succeeded": "Execution completed",
                    "Failed": "Execution failed",
                    "TimedOut": "Execution timed out",
                }[state]
                if self.exit_code is not None:
                    view["exitCode"] = self.exit_code
            properties["instanceView"] = view
        return {
            "name": self.name,
            "id": f"{self.vm_id}/runCommands/{self.name}",
            "type": RESOURCE_TYPE,
            "location": self.location,
            "tags": dict(self.tags),
            "properties": properties,
        }


def _commands(guests: GuestAgents, vm: VirtualMachine) -> dict[str, ManagedRunCommand]:
    return guests.guest(vm.id).managed_run_commands


def put_run_command(
    guests: GuestAgents, backend: ComputeBackend, group: str, vm_name: str, name: str,
    body: dict[str, Any],
) -> tuple[bool, ManagedRunCommand]:  # fmt: skip
    """Create (True) or replace (False) a run command; a replaced one runs again."""
    vm = backend.get_vm(group, vm_name)
    properties = body.get("properties") or {}
    if not isinstance(properties, dict):
        raise InvalidParameter("properties must be an object.", target="properties")
    source = properties.get("source") or {}
    if not isinstance(source, dict) or not (
        source.get("script") or source.get("scriptUri") or source.get("commandId")
    ):
        raise InvalidParameter(
            "One of source.script, source.scriptUri or source.commandId is required.",
            target="properties.source",
        )
    timeout = properties.get("timeoutInSeconds", 0)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0:
        raise InvalidParameter(
            "timeoutInSeconds must be a non-negative integer.", target="timeoutInSeconds"
        )
    parameters = _parameters(properties.get("parameters"))
    if vm.provisioning_state == "Deleting" or vm.power_state != "running":
        raise OperationNotAllowed(
            f"Operation 'RunCommand' is not allowed on VM '{vm.name}' since the VM is "
            f"{'being deleted' if vm.provisioning_state == 'Deleting' else vm.power_state}."
        )
    world = guests.world
    guest = guests.guest(vm.id)
    limit = world.config.limits.run_command_timeout_seconds
    timeout_seconds = float(timeout) if timeout else limit
    run = read_script([str(source.get("script") or "")], parameters)
    now = world.now()
    start = now + world.config.lro(OPERATION)
    exit_code: int | None = run.exit_code
    state, error, seconds = ("Succeeded" if run.exit_code == 0 else "Failed"), "", run.seconds
    stderr = "\n".join(run.stderr)
    fault = guest.next_fault()
    if not vm.agent_ready:
        state, error, exit_code, seconds = "Failed", AGENT_NOT_READY, None, 0.0
    elif fault is not None and fault.mode == "fail":
        exit_code = fault.exit_code if fault.exit_code is not None else 1
        state = "Succeeded" if exit_code == 0 else "Failed"
        stderr = fault.message or stderr
    elif fault is not None and fault.mode == "hang":
        seconds += timeout_seconds if fault.seconds is None else fault.seconds
    if seconds >= timeout_seconds:
        state, exit_code, seconds = "TimedOut", None, timeout_seconds
    commands = guest.managed_run_commands
    created = name.lower() not in commands
    command = ManagedRunCommand(
        vm_id=vm.id,
        name=name,
        location=str(body.get("location") or vm.location).replace(" ", "").lower(),
        tags=dict(body.get("tags") or {}),
        properties=dict(properties),
        created=now,
        start=start,
        end=start + seconds,
        exit_code=exit_code,
        stdout="\n".join(run.stdout),
        stderr=stderr,
        state_at_end=state,
        error=error,
    )
    commands[name.lower()] = command
    return created, command


def get_run_command(
    guests: GuestAgents, backend: ComputeBackend, group: str, vm_name: str, name: str
) -> ManagedRunCommand:
    vm = backend.get_vm(group, vm_name)
    command = _commands(guests, vm).get(name.lower())
    if command is None:
        raise ResourceNotFound.for_resource(f"{RESOURCE_TYPE}", name, group)
    return command


def list_run_commands(
    guests: GuestAgents, backend: ComputeBackend, group: str, vm_name: str
) -> list[ManagedRunCommand]:
    vm = backend.get_vm(group, vm_name)
    return list(_commands(guests, vm).values())


def delete_run_command(
    guests: GuestAgents, backend: ComputeBackend, group: str, vm_name: str, name: str
) -> bool:
    """True if it existed (Azure: 200/202), False if not (204)."""
    vm = backend.get_vm(group, vm_name)
    return _commands(guests, vm).pop(name.lower(), None) is not None
