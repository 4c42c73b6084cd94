"""The guest side of VMs: the VM agent behind run command, and the file systems it can freeze.

Run command (``POST .../virtualMachines/{vm}/runCommand``) hands a script to the VM agent.
The emulator does not run scripts; it reads them for what a backup tool does with them:

- ``fsfreeze --freeze`` / ``fsfreeze -f`` freezes the VM's file systems, ``fsfreeze
  --unfreeze`` / ``-u`` thaws them; the marker ``diskdr-guest: freeze`` / ``diskdr-guest:
  thaw`` (any line, e.g. a PowerShell comment next to a VSS call) does the same on any OS.
- ``echo`` / ``Write-Output`` / ``Write-Host`` print (``>&2`` to stderr), with ``$name``,
  ``${name}`` and ``$env:name`` taken from the command's parameters; ``exit N`` ends the
  script; ``sleep N`` / ``Start-Sleep [-Seconds] N`` take N world seconds.

A script starts when the agent picks it up (the operation's configured duration,
``VirtualMachines_RunCommand``) and its freezes and thaws happen at their place in it, so a
script that freezes, sleeps and thaws leaves a frozen window of that length. While a VM is
frozen, guest writes to its disks (``POST /_emulator/write``) are **queued** — as a frozen
file system blocks writers — and land when it thaws; a power-off, deallocation or restart
thaws it and drops them (they never reached the disk). The frozen intervals of each VM are
kept so tests can check that restore points were taken inside one.

Managed run commands (``.../runCommands/{name}``, with an exit code) are in
``managed_run_commands.py``; they share this reader and these faults.

Faults (``POST /_emulator/guest``): a run command can fail (``VMExtensionProvisioningError``
unless another code is given) or hang until the platform's 90-minute limit, then fail with
``VMExtensionProvisioningTimeout``; a second run command while one runs is a 409 ``Conflict``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.arm import iso, normalize_id
from emulator.compute.exceptions import InvalidParameter, OperationNotAllowed
from emulator.errors import ArmError, Conflict

if TYPE_CHECKING:
    from emulator.compute.models import ComputeBackend, Disk, VirtualMachine
    from emulator.lro import Operation
    from emulator.world import ResourceChange, World

# Azure's built-in run command documents (GET .../locations/{l}/runCommands): id → (OS,
# label, description). Only the two script commands run anything here.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "EnableRemotePS": (
        "Windows",
        "Enable remote PowerShell",
        "Configure the machine to enable remote PowerShell.",
    ),
    "IPConfig": (
        "Windows",
        "List IP configuration",
        "Shows detailed information for the IP address, subnet mask and default gateway for "
        "each adapter bound to TCP/IP.",
    ),
    "RunPowerShellScript": (
        "Windows",
        "Executes a PowerShell script",
        "Custom multiline PowerShell script should be defined in script property. Optional "
        "parameters can be set in parameters property.",
    ),
    "RunShellScript": (
        "Linux",
        "Executes a Linux shell script",
        "Custom multiline shell script should be defined in script property. Optional "
        "parameters can be set in parameters property.",
    ),
    "ifconfig": (
        "Linux",
        "List network configuration",
        "Get the configuration of all network interfaces.",
    ),
    "EnableAdminAccount": (
        "Windows",
        "Enable administrator account",
        "Checks if the local Administrator account is disabled, and if so enables it.",
    ),
    "ResetAccountPassword": (
        "Windows",
        "Reset built-in Administrator account password",
        "Reset built-in Administrator account password.",
    ),
    "RDPSettings": (
        "Windows",
        "Verify RDP Listener Settings",
        "Checks registry settings and domain policy settings. Suggests policy actions if "
        "machine is part of a domain or modifies the settings to default values.",
    ),
    "SetRDPPort": (
        "Windows",
        "Set Remote Desktop port",
        "Sets the default or user specified port number for Remote Desktop connections. "
        "Enables firewall rule for inbound access to the port.",
    ),
    "ResetRDPCert": (
        "Windows",
        "Restore RDP Authentication mode to defaults",
        "Removes the SSL certificate tied to the RDP listener and restores the RDP listerner "
        "security to default. Use this script if you see any issues with the certificate.",
    ),
}
SCRIPT_COMMANDS = ("RunShellScript", "RunPowerShellScript")

_FREEZE = re.compile(r"\bfsfreeze\s+(?:-f|--freeze)\b|diskdr-guest:\s*freeze\b", re.IGNORECASE)
_THAW = re.compile(r"\bfsfreeze\s+(?:-u|--unfreeze)\b|diskdr-guest:\s*thaw\b", re.IGNORECASE)
_PRINT = re.compile(r"^(?:echo|Write-Output|Write-Host)\b\s*(?P<text>.*)$", re.IGNORECASE)
_SLEEP = re.compile(
    r"^(?:sleep|Start-Sleep)(?:\s+-(?:Seconds|s))?\s+(?P<seconds>\d+(?:\.\d+)?)\s*$",
    re.IGNORECASE,
)
_EXIT = re.compile(r"^exit\s+(?P<code>-?\d+)\s*$", re.IGNORECASE)
_STDERR = re.compile(r"\s*(?:1?>&2|2>&1)\s*$")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$env:(\w+)|\$(\w+)")


@dataclass
class ScriptRun:
    """What reading a script found: output, exit code, and timed guest actions."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    exit_code: int = 0
    seconds: float = 0.0  # time the script itself takes (sleeps)
    actions: list[tuple[float, str]] = field(default_factory=list)  # (offset, freeze|thaw)


def read_script(lines: list[str], parameters: dict[str, str]) -> ScriptRun:
    run = ScriptRun()
    clock = 0.0
    for raw in (part for line in lines for part in str(line).splitlines()):
        line = raw.strip()
        if not line:
            continue
        if _FREEZE.search(line):
            run.actions.append((clock, "freeze"))
            continue
        if _THAW.search(line):
            run.actions.append((clock, "thaw"))
            continue
        if line.startswith("#"):
            continue
        if match := _SLEEP.match(line):
            clock += float(match["seconds"])
            continue
        if match := _EXIT.match(line):
            run.exit_code = int(match["code"])
            break
        if match := _PRINT.match(line):
            text = match["text"]
            to_stderr = bool(_STDERR.search(text))
            text = _STDERR.sub("", text).strip().strip("'\"")
            text = _VARIABLE.sub(
                lambda m: parameters.get(m[1] or m[2] or m[3], ""),
                text,
            )
            (run.stderr if to_stderr else run.stdout).append(text)
    run.seconds = clock
    return run


@dataclass
class FrozenInterval:
    start: float
    end: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "start": iso(self.start),
            "startUnix": self.start,
            "end": iso(self.end) if self.end is not None else None,
            "endUnix": self.end,
        }


@dataclass
class QueuedWrite:
    disk_id: str
    blocks: int | None
    offsets: list[int] | None
    requested_at: float

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.disk_id, "requestedAt": iso(self.requested_at)}
        if self.blocks is not None:
            body["blocks"] = self.blocks
        if self.offsets is not None:
            body["offsets"] = list(self.offsets)
        return body


@dataclass
class RunCommandFault:
    """An injected run command failure (``fail``) or hang (``hang``)."""

    mode: str
    count: int | None = None  # None: every run command
    code: str | None = None
    message: str | None = None
    seconds: float | None = None  # a hang that ends by itself after this long
    # A managed run command's script exits with this (``fail``; default 1).
    exit_code: int | None = None
    fired: int = 0

    FIELDS = frozenset({"mode", "count", "code", "message", "seconds", "exitCode"})

    @classmethod
    def from_json(cls, data: Any, where: str) -> RunCommandFault:
        if not isinstance(data, dict):
            raise InvalidParameter(f"{where} must be an object.", target=where)
        unknown = sorted(set(data) - cls.FIELDS)
        if unknown:
            raise InvalidParameter(
                f"Unknown field '{unknown[0]}' in {where}; allowed: {sorted(cls.FIELDS)}.",
                target=f"{where}.{unknown[0]}",
            )
        mode = data.get("mode")
        if mode not in ("fail", "hang"):
            raise InvalidParameter(f"{where}.mode must be 'fail' or 'hang'.", target=where)
        count = data.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise InvalidParameter(f"{where}.count must be an integer.", target=where)
        seconds = data.get("seconds")
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0
        ):
            raise InvalidParameter(f"{where}.seconds must be a non-negative number.")
        exit_code = data.get("exitCode")
        if exit_code is not None and (
            isinstance(exit_code, bool) or not isinstance(exit_code, int)
        ):
            raise InvalidParameter(f"{where}.exitCode must be an integer.", target=where)
        return cls(mode, count, data.get("code"), data.get("message"), seconds, exit_code)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"mode": self.mode, "count": self.count, "fired": self.fired}
        for key in ("code", "message", "seconds"):
            if getattr(self, key) is not None:
                body[key] = getattr(self, key)
        if self.exit_code is not None:
            body["exitCode"] = self.exit_code
        return body


@dataclass
class RunCommandRecord:
    command_id: str
    start: float
    end: float
    operation: Operation
    exit_code: int | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "commandId": self.command_id,
            "start": iso(self.start),
            "startUnix": self.start,
            "end": iso(self.end),
            "endUnix": self.end,
            "status": self.operation.status,
        }
        if self.exit_code is not None:
            body["exitCode"] = self.exit_code
        if self.operation.error is not None:
            body["error"] = self.operation.error
        return body


@dataclass
class Guest:
    """The guest agent's state of one VM."""

    vm_id: str
    frozen: FrozenInterval | None = None
    intervals: list[FrozenInterval] = field(default_factory=list)
    queued_writes: list[QueuedWrite] = field(default_factory=list)
    faults: list[RunCommandFault] = field(default_factory=list)
    runs: list[RunCommandRecord] = field(default_factory=list)
    # Managed run commands (``.../runCommands/{name}``) by lower-case name.
    managed_run_commands: dict[str, Any] = field(default_factory=dict)

    HISTORY = 50

    @property
    def running(self) -> RunCommandRecord | None:
        last = self.runs[-1] if self.runs else None
        return last if last is not None and not last.operation.done else None

    def next_fault(self) -> RunCommandFault | None:
        for fault in self.faults:
            if fault.count is None or fault.fired < fault.count:
                fault.fired += 1
                return fault
        return None


class GuestAgents:
    """The world's guests, by VM id (``world.backend("guests")``)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._guests: dict[str, Guest] = {}

    def guest(self, vm_id: str) -> Guest:
        key = normalize_id(vm_id)
        guest = self._guests.get(key)
        if guest is None:
            guest = self._guests[key] = Guest(vm_id)
        return guest

    def all(self) -> list[Guest]:
        return list(self._guests.values())

    def is_frozen(self, vm_id: str) -> bool:
        guest = self._guests.get(normalize_id(vm_id))
        return guest is not None and guest.frozen is not None

    # --- file systems ------------------------------------------------------------------

    def freeze(self, vm_id: str, when: float) -> None:
        guest = self.guest(vm_id)
        if guest.frozen is None:
            guest.frozen = FrozenInterval(when)
            guest.intervals.append(guest.frozen)

    def thaw(self, vm_id: str, when: float, *, drop_writes: bool = False) -> None:
        guest = self.guest(vm_id)
        if guest.frozen is None:
            return
        guest.frozen.end = when
        guest.frozen = None
        queued, guest.queued_writes = guest.queued_writes, []
        if drop_writes:
            return
        compute = self.world.backend("compute")
        for write in queued:
            disk = compute.find(write.disk_id)
            if disk is not None and getattr(disk, "content", None) is not None:
                compute[disk.subscription].write_disk(disk, write.blocks, write.offsets)

    def frozen_guest_of(self, disk: Disk) -> Guest | None:
        """The frozen guest whose file systems live on ``disk``, if any."""
        if not disk.managed_by:
            return None
        guest = self._guests.get(normalize_id(disk.managed_by))
        return guest if guest is not None and guest.frozen is not None else None

    def queue_write(
        self, guest: Guest, disk: Disk, blocks: int | None, offsets: list[int] | None
    ) -> QueuedWrite:
        write = QueuedWrite(disk.id, blocks, offsets, self.world.now())
        guest.queued_writes.append(write)
        return write

    def on_change(self, change: ResourceChange) -> None:
        """Power cycles thaw the guest (dropping blocked writes); a deleted VM forgets it."""
        key = normalize_id(change.resource_id)
        if key not in self._guests:
            return
        name = change.operation_name.lower()
        if name.startswith("microsoft.compute/virtualmachines/") and name.endswith(
            ("/poweroff/action", "/deallocate/action", "/restart/action")
        ):
            self.thaw(change.resource_id, change.time, drop_writes=True)
        elif name == "microsoft.compute/virtualmachines/delete":
            self._guests.pop(key, None)

    # --- run command -------------------------------------------------------------------

    def begin_run_command(
        self, backend: ComputeBackend, resource_group: str, vm_name: str, body: dict[str, Any]
    ) -> Operation:
        vm = backend.get_vm(resource_group, vm_name)
        command_id = body.get("commandId")
        if command_id not in COMMANDS:
            raise InvalidParameter(
                f"The command id '{command_id}' is not a known run command "
                f"({', '.join(sorted(COMMANDS))}).",
                target="commandId",
            )
        os_type = COMMANDS[command_id][0]
        if os_type != vm.os_type:
            raise InvalidParameter(
                f"Run command '{command_id}' is for {os_type} VMs; VM {vm.name} runs {vm.os_type}.",
                target="commandId",
            )
        script = body.get("script") or []
        if not isinstance(script, list) or not all(isinstance(s, str) for s in script):
            raise InvalidParameter("script must be a list of lines.", target="script")
        parameters = _parameters(body.get("parameters"))
        if vm.provisioning_state == "Deleting":
            raise OperationNotAllowed(f"VM {vm.name} is being deleted.")
        if vm.power_state in ("deallocated", "deallocating"):
            raise OperationNotAllowed(
                f"Operation 'RunCommand' is not allowed on VM '{vm.name}' since the VM is "
                "deallocated or marked to be deallocated."
            )
        if vm.power_state != "running":
            raise OperationNotAllowed(
                f"Operation 'RunCommand' is not allowed on VM '{vm.name}' since the VM is "
                f"{vm.power_state}."
            )
        guest = self.guest(vm.id)
        if guest.running is not None:
            raise Conflict(
                "Run command extension execution is in progress. Please wait for completion "
                "before invoking a run command."
            )
        run = read_script(script if command_id in SCRIPT_COMMANDS else [], parameters)
        world = self.world
        latency = world.config.lro("VirtualMachines_RunCommand")
        extension = "RunCommandLinux" if vm.os_type == "Linux" else "RunCommandWindows"
        fault = guest.next_fault()
        timeout = world.config.limits.run_command_timeout_seconds
        failure: ArmError | None = None
        if not vm.agent_ready:
            failure = ArmError(
                "VM has not reported status for VM agent or extensions.",
                code="VMAgentStatusCommunicationError",
                status=409,
            )
        elif fault is not None and fault.mode == "fail":
            failure = ArmError(
                fault.message
                or f"VM has reported a failure when processing extension '{extension}'.",
                code=fault.code or "VMExtensionProvisioningError",
                status=409,
            )
        # A hang delays the script; one that outlasts the platform's limit fails the command.
        delay = 0.0
        if fault is not None and fault.mode == "hang":
            delay = timeout if fault.seconds is None else fault.seconds
        duration = delay + latency + run.seconds
        if duration >= timeout and failure is None:
            duration = timeout
            failure = ArmError(
                (fault.message if fault is not None else None)
                or f"Provisioning of VM extension '{extension}' has timed out. Extension "
                "installation may be taking too long, or extension status could not be obtained.",
                code=(fault.code if fault is not None else None)
                or "VMExtensionProvisioningTimeout",
                status=409,
            )
        start = world.now()
        if failure is None:
            script_start = start + delay + latency
            for offset, action in run.actions:
                when = script_start + offset
                if action == "freeze":
                    world.at(when, lambda w, vm_id=vm.id: self.freeze(vm_id, w))
                else:
                    world.at(when, lambda w, vm_id=vm.id: self.thaw(vm_id, w))

        def finish(when: float) -> dict[str, Any]:
            if failure is not None:
                raise failure
            backend.announce_action(vm, "runCommand", when)
            return {"value": _output(vm, run)}

        op = backend.begin("VirtualMachines_RunCommand", vm, finish=finish, duration=duration)
        guest.runs.append(
            RunCommandRecord(
                command_id, start, start + duration, op, None if failure else run.exit_code
            )
        )
        del guest.runs[: -Guest.HISTORY]
        return op


def _parameters(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list) or not all(
        isinstance(p, dict) and isinstance(p.get("name"), str) for p in value
    ):
        raise InvalidParameter(
            "parameters must be a list of {'name', 'value'} objects.", target="parameters"
        )
    return {p["name"]: str(p.get("value", "")) for p in value}


def _output(vm: VirtualMachine, run: ScriptRun) -> list[dict[str, Any]]:
    """``RunCommandResult.value`` as each OS's extension reports it: one status with both
    streams on Linux, one status per stream on Windows."""
    stdout = "\n".join(run.stdout)
    stderr = "\n".join(run.stderr)
    if vm.os_type == "Linux":
        return [
            {
                "code": "ProvisioningState/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "message": f"Enable succeeded: \n[stdout]\n{stdout}\n\n[stderr]\n{stderr}\n",
            }
        ]
    return [
        {
            "code": "ComponentStatus/StdOut/succeeded",
            "level": "Info",
            "displayStatus": "Provisioning succeeded",
            "message": stdout,
        },
        {
            "code": "ComponentStatus/StdErr/succeeded",
            "level": "Info",
            "displayStatus": "Provisioning succeeded",
            "message": stderr,
        },
    ]


def guest_stats(world: World) -> dict[str, Any]:
    """Frozen intervals per VM (lower-case id) and writes waiting for a thaw."""
    guests: GuestAgents = world.backend("guests")
    return {
        "frozenIntervals": {
            normalize_id(g.vm_id): [i.to_json() for i in g.intervals]
            for g in guests.all()
            if g.intervals
        },
        "queuedWrites": sum(len(g.queued_writes) for g in guests.all()),
    }
