"""Activities of recovery (restore, drill, failover): each starts one create or delete,
or reads states, and returns at once (the orchestration waits with durable timers)."""

from typing import Any

import azure.durable_functions as df

from diskdr import telemetry
from diskdr.restore import DiskRestore, DrillNetwork, RestorePlan
from diskdr.restore_steps import get_restore_steps

bp = df.Blueprint()


@bp.activity_trigger(input_name="disk")
@telemetry.traced("begin_restore_disk")
def begin_restore_disk(disk: dict[str, Any]) -> dict[str, Any]:
    """Start creating one restored disk (adopting one this restore already made)."""
    return get_restore_steps().begin_disk(DiskRestore.from_dict(disk))


@bp.activity_trigger(input_name="plan")
@telemetry.traced("begin_restore_nic")
def begin_restore_nic(plan: dict[str, Any]) -> dict[str, Any]:
    """Start creating the restored VM's NIC in its subnet."""
    return get_restore_steps().begin_nic(RestorePlan.from_dict(plan))


@bp.activity_trigger(input_name="network")
@telemetry.traced("begin_drill_network")
def begin_drill_network(network: dict[str, Any]) -> dict[str, Any]:
    """Start creating a drill's isolated virtual network (adopting one it already made)."""
    return get_restore_steps().begin_network(DrillNetwork.from_dict(network))


@bp.activity_trigger(input_name="plan")
@telemetry.traced("begin_restore_vm")
def begin_restore_vm(plan: dict[str, Any]) -> dict[str, Any]:
    """Start creating the restored VM with its disks attached at their LUNs."""
    return get_restore_steps().begin_vm(RestorePlan.from_dict(plan))


@bp.activity_trigger(input_name="resource")
@telemetry.traced("begin_delete_restored")
def begin_delete_restored(resource: str) -> dict[str, Any]:
    """Start deleting one resource a restore made (never anything else)."""
    return get_restore_steps().begin_delete(resource)


@bp.activity_trigger(input_name="resources")
@telemetry.traced("restored_states")
def restored_states(resources: list[str]) -> dict[str, Any]:
    """Provisioning state of each disk, NIC, VM or virtual network: ``{id: {"state",
    "sizeGB"} | None}``."""
    return get_restore_steps().states(resources)


@bp.activity_trigger(input_name="plan")
@telemetry.traced("check_restored_content")
def check_restored_content(plan: dict[str, Any]) -> dict[str, Any]:
    """The drill's content check of one restored VM's disks."""
    return get_restore_steps().check_content(RestorePlan.from_dict(plan))


@bp.activity_trigger(input_name="plan")
@telemetry.traced("begin_verify_script")
def begin_verify_script(plan: dict[str, Any]) -> dict[str, Any]:
    """Start the drill's ``verifyScript`` on the restored VM (a managed Run Command)."""
    return get_restore_steps().begin_verify(RestorePlan.from_dict(plan))


@bp.activity_trigger(input_name="plan")
@telemetry.traced("verify_script_state")
def verify_script_state(plan: dict[str, Any]) -> dict[str, Any]:
    """How the drill's ``verifyScript`` run is going: execution state and exit code."""
    return get_restore_steps().verify_state(RestorePlan.from_dict(plan))
