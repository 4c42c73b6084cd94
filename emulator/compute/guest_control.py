"""Control endpoints of the guest agent: inspect and steer a VM's guest, and guest writes that
wait while its file systems are frozen.

- ``GET /_emulator/guest?id=<vm id>`` → the guest: ``agentReady``, ``prePostScripts``, ``frozen``,
  ``frozenIntervals`` (world times), ``queuedWrites``, ``runCommandFaults``, ``runCommands``.
- ``POST /_emulator/guest`` ``{"id", "agentReady"?, "prePostScripts"?, "runCommandFaults"?,
  "frozen"?}`` →
  the guest. ``runCommandFaults`` replaces the VM's fault list (``[{"mode": "fail"|"hang",
  "count"?, "code"?, "message"?, "seconds"?, "exitCode"?}]``; ``exitCode``: the exit code
  of a managed run command's script under a ``fail`` fault); ``frozen`` freezes or thaws at once.
- ``POST /_emulator/write`` (replacing the plain one): a write to a disk whose VM is frozen is
  queued and answered ``{"id", "digest" (unchanged), "blocks", "queued": true}``.
"""

from __future__ import annotations

from typing import Any

from emulator import content, control
from emulator.compute.models.guest import Guest, GuestAgents, RunCommandFault
from emulator.errors import InvalidParameter, NotFound
from emulator.world import World


def guest_json(world: World, guest: Guest) -> dict[str, Any]:
    vm = world.backend("compute").find(guest.vm_id)
    return {
        "id": guest.vm_id,
        "agentReady": bool(getattr(vm, "agent_ready", False)),
        "prePostScripts": bool(getattr(vm, "pre_post_scripts", False)),
        "powerState": getattr(vm, "power_state", None),
        "frozen": guest.frozen is not None,
        "frozenIntervals": [interval.to_json() for interval in guest.intervals],
        "queuedWrites": [write.to_json() for write in guest.queued_writes],
        "runCommandFaults": [fault.to_json() for fault in guest.faults],
        "runCommands": [run.to_json() for run in guest.runs],
    }


def _vm(world: World, vm_id: Any) -> Any:
    from emulator.compute.models import VirtualMachine

    if not isinstance(vm_id, str):
        raise InvalidParameter("id (a virtual machine id) is required.", target="id")
    vm = world.backend("compute").find(vm_id)
    if not isinstance(vm, VirtualMachine):
        raise NotFound(f"Virtual machine {vm_id} is not found.")
    return vm


def get_guest(request: control.ControlRequest) -> Any:
    vm = _vm(request.world, request.query.get("id"))
    guests: GuestAgents = request.world.backend("guests")
    return guest_json(request.world, guests.guest(vm.id))


def set_guest(request: control.ControlRequest) -> Any:
    body = request.json({"id", "agentReady", "prePostScripts", "runCommandFaults", "frozen"})
    world = request.world
    vm = _vm(world, body.get("id"))
    guests: GuestAgents = world.backend("guests")
    guest = guests.guest(vm.id)
    # Validate everything before changing anything.
    faults = None
    if "runCommandFaults" in body:
        if not isinstance(body["runCommandFaults"], list):
            raise InvalidParameter("runCommandFaults must be a list.", target="runCommandFaults")
        faults = [
            RunCommandFault.from_json(f, f"runCommandFaults[{i}]")
            for i, f in enumerate(body["runCommandFaults"])
        ]
    for key in ("agentReady", "prePostScripts", "frozen"):
        if key in body and not isinstance(body[key], bool):
            raise InvalidParameter(f"{key} must be true or false.", target=key)
    if faults is not None:
        guest.faults = faults
    if "agentReady" in body:
        vm.agent_ready = body["agentReady"]
    if "prePostScripts" in body:
        vm.pre_post_scripts = body["prePostScripts"]
    if body.get("frozen") is True:
        guests.freeze(vm.id, world.now())
    elif body.get("frozen") is False:
        guests.thaw(vm.id, world.now())
    return guest_json(world, guest)


def write(request: control.ControlRequest) -> Any:
    """Guest writes: queued while the disk's VM is frozen, else applied at once."""
    from emulator.compute.models import Disk

    body = request.json({"id", "blocks", "offsets"})
    world = request.world
    disk = world.backend("compute").find(body.get("id") or "")
    guests: GuestAgents = world.backend("guests")
    guest = guests.frozen_guest_of(disk) if isinstance(disk, Disk) else None
    if guest is None:
        return control.write(request)
    blocks, offsets = body.get("blocks"), body.get("offsets")
    if (blocks is None) == (offsets is None):
        raise InvalidParameter("Give exactly one of blocks (a count) or offsets (a list).")
    if offsets is not None:
        limit = content.block_count(disk.size_gb)
        if not isinstance(offsets, list) or not all(
            isinstance(o, int) and 0 <= o < limit for o in offsets
        ):
            raise InvalidParameter(
                f"offsets must be block indexes 0..{limit - 1}.", target="offsets"
            )
    elif isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
        raise InvalidParameter("blocks must be a non-negative integer.", target="blocks")
    guests.queue_write(guest, disk, blocks, offsets)
    return {
        "id": disk.id,
        "digest": content.digest(disk.content),
        "blocks": len(disk.content),
        "queued": True,
    }


def install(world: World) -> None:
    """Serve the guest endpoints; guests follow VM power cycles and deletions."""
    control.register("GET", "guest", get_guest)
    control.register("POST", "guest", set_guest)
    control.register("POST", "write", write)
    world.on_change(lambda change: world.backend("guests").on_change(change))
