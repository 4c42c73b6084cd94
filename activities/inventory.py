"""Activity: the VMs (and protected disks) a policy's target selects right now."""

from typing import Any

import azure.durable_functions as df

from diskdr import telemetry
from diskdr.backup import PolicyRef
from diskdr.service import get_service

bp = df.Blueprint()


@bp.activity_trigger(input_name="policy")
@telemetry.traced("list_protected_vms", subject="policy")
def list_protected_vms(policy: str) -> list[dict[str, Any]]:
    """VmInfo records of every VM in scope of ``policy`` with the disks it protects."""
    service = get_service()
    return [vm.to_dict() for vm in service.vms_for_policy(service.policies().get(policy))]


@bp.activity_trigger(input_name="vm_id")
@telemetry.traced("describe_vm", subject="vm")
def describe_vm(vm_id: str) -> dict[str, Any]:
    """The VM (with the disks its policy protects) and its policy; nulls if it is gone or
    no policy selects it."""
    service = get_service()
    vm = service.get_vm(vm_id)
    policy = service.policy_for_vm(vm) if vm is not None else None
    if vm is None or policy is None:
        return {"vm": None, "policy": None}
    return {
        "vm": service.protected_vm(vm, policy).to_dict(),
        "policy": PolicyRef.from_policy(policy).to_dict(),
    }
