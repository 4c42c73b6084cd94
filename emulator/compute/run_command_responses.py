"""Run command requests: ``POST .../virtualMachines/{vm}/runCommand`` and the built-in
command documents (``GET .../locations/{location}/runCommands[/{commandId}]``).

Run command is long-running: 202 with ``Azure-AsyncOperation`` and ``Location`` while the
agent works (200 with the result when it ended at once); the ``Location`` poll answers the
``RunCommandResult`` (``{"value": [InstanceViewStatus, ...]}``) once it succeeded.
"""

from __future__ import annotations

from typing import Any

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
