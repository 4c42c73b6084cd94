"""Activity: the VMs (and protected disks) a policy's target selects right now."""

from typing import Any

import azure.durable_functions as df

from diskdr.service import get_service

bp = df.Blueprint()


@bp.activity_trigger(input_name="policy")
def list_protected_vms(policy: str) -> list[dict[str, Any]]:
    """VmInfo records of every VM in scope of ``policy`` with the disks it protects."""
    service = get_service()
    return [vm.to_dict() for vm in service.vms_for_policy(service.policies().get(policy))]
