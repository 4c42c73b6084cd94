"""Run command requests: ``POST .../virtualMachines/{vm}/runCommand`` and the built-in
command documents (``GET .../locations/{location}/runCommands[/{commandId}]``).

Run command is long-running: 202 with ``Azure-AsyncOperation`` and ``Location`` while the
agent works (200 with the result when it ended at once); the ``Location`` poll answers the
``RunCommandResult`` (``{"value": [InstanceViewStatus, ...]}``) once it succeeded.
Managed run commands (``.../runCommands/{name}``: PUT, GET, list, DELETE) are resources
with an exit code: ``emulator/compute/models/managed_run_commands.py``.
"""

from __future__ import annotations

from typing import Any

from emulator.compute.models import managed_run_commands as managed
from emulator.compute.models.guest import COMMANDS, GuestAgents
from emulator.compute.responses import _compute, _lro
from emulator.errors import NotFound
from emulator.routing import ArmRequest, ArmResponse, paged

SCHEMA = "http://schema.management.azure.com/schemas/2016-11-17/runcommands.json"

# The script and parameters of the two script commands' documents.
_SCRIPTS: dict[str, dict[str, Any]] = {
    "RunPowerShellScript": {
        "script": [
            "param(",
            "    [string]$arg1,",
            "    [string]$arg2",
            ")",
            "Write-Host This is a sample script with parameters $arg1 $arg2",
        ],
        "parameters": [
            {"name": "arg1", "type": "string", "defaultValue": "value1"},
            {"name": "arg2", "type": "string", "defaultValue": "value2"},
        ],
    },
    "RunShellScript": {
        "script": ["echo This is a sample script with parameters $arg1 $arg2"],
        "parameters": [
            {"name": "arg1", "type": "string", "defaultValue": "value1"},
            {"name": "arg2", "type": "string", "defaultValue": "value2"},
        ],
    },
}


def _document(command_id: str) -> dict[str, Any]:
    os_type, label, description = COMMANDS[command_id]
    return {
        "$schema": SCHEMA,
        "id": command_id,
        "osType": os_type,
        "label": label,
        "description": description,
    }


def run_command(request: ArmRequest) -> ArmResponse:
    p = request.params
    guests: GuestAgents = request.world.backend("guests")
    op = guests.begin_run_command(_compute(request), p["group"], p["vm"], request.json())
    return _lro(request, op, lambda: op.output, running_body=False)


def list_commands(request: ArmRequest) -> ArmResponse:
    return paged(request, list(COMMANDS), key=lambda c: c.lower(), serialize=_document)


def get_command(request: ArmRequest) -> ArmResponse:
    command_id = next((c for c in COMMANDS if c.lower() == request.params["command"].lower()), None)
    if command_id is None:
        raise NotFound(f"The run command '{request.params['command']}' was not found.")
    body = _document(command_id)
    body.update(_SCRIPTS.get(command_id, {"script": [], "parameters": []}))
    return ArmResponse(200, body)


# --- managed run commands (``.../virtualMachines/{vm}/runCommands/{name}``) ---------------
def put_managed(request: ArmRequest) -> ArmResponse:
    """201 Creating (200 when replaced), then the resource advances with world time
    (``VirtualMachineRunCommand_CreateOrUpdate.json``)."""
    p = request.params
    guests: GuestAgents = request.world.backend("guests")
    created, command = managed.put_run_command(
        guests, _compute(request), p["group"], p["vm"], p["name"], request.json()
    )
    return ArmResponse(
        201 if created else 200, command.to_json(request.world.now(), instance_view=False)
    )


def get_managed(request: ArmRequest) -> ArmResponse:
    p = request.params
    guests: GuestAgents = request.world.backend("guests")
    command = managed.get_run_command(guests, _compute(request), p["group"], p["vm"], p["name"])
    view = "instanceview" in request.query.get("$expand", "").lower()
    return ArmResponse(200, command.to_json(request.world.now(), instance_view=view))


def list_managed(request: ArmRequest) -> ArmResponse:
    p = request.params
    guests: GuestAgents = request.world.backend("guests")
    commands = managed.list_run_commands(guests, _compute(request), p["group"], p["vm"])
    view = "instanceview" in request.query.get("$expand", "").lower()
    now = request.world.now()
    return paged(
        request,
        commands,
        key=lambda c: c.name.lower(),
        serialize=lambda c: c.to_json(now, instance_view=view),
    )


def delete_managed(request: ArmRequest) -> ArmResponse:
    """200 when it existed, 204 when not (``VirtualMachineRunCommand_Delete.json``)."""
    p = request.params
    guests: GuestAgents = request.world.backend("guests")
    existed = managed.delete_run_command(guests, _compute(request), p["group"], p["vm"], p["name"])
    return ArmResponse(200 if existed else 204)
