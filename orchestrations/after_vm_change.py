"""after_vm_change: back a VM up once its debounce window closes (DESIGN flow 4).

Started by the Event Grid trigger as ``vmchange-<vm>-<window>``, so every write to the VM
within one window shares this instance. It sleeps until the window ends (a durable timer),
then looks the VM up again — its final state, under the policy that selects it now — and
runs ``backup_cycle`` for it without pruning. A VM no policy selects (any more) ends the
run ``Skipped`` with its reason.
"""

from datetime import datetime

import azure.durable_functions as df

from activities.inventory import describe_vm
from diskdr.backup import CycleJob, PolicyRef, RunOptions
from diskdr.inventory import VmInfo
from orchestrations.backup_cycle import backup_cycle
from orchestrations.correlation import correlated

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context")
@correlated
def after_vm_change(context: df.DurableOrchestrationContext):
    request = context.get_input()
    not_before = datetime.fromisoformat(request["notBefore"])
    if context.current_utc_datetime < not_before:
        context.set_custom_status({"phase": "debouncing", "until": request["notBefore"]})
        yield context.create_timer(not_before)
    found = yield context.call_activity(describe_vm, request["vmId"])
    if found["vm"] is None:
        return skipped(request["vmId"], "the VM is gone or no policy selects it")
    unsupported = PolicyRef.from_dict(found["policy"]).unsupported
    if unsupported:
        return skipped(request["vmId"], unsupported)
    options = RunOptions.from_dict(request["options"])
    slot = context.current_utc_datetime.replace(second=0, microsecond=0)
    job = CycleJob(
        policy=PolicyRef.from_dict(found["policy"]),
        slot=slot,
        install_id=request["installId"],
        trigger="vm-change",
        options=options,
        vms=(VmInfo.from_dict(found["vm"]),),
    )
    context.set_custom_status({"phase": "backing-up"})
    report = yield context.call_sub_orchestrator(
        backup_cycle, job.to_dict(), instance_id=f"{context.instance_id}:cycle", expected_type=dict
    )
    return report


def skipped(vm_id: str, reason: str) -> dict[str, str]:
    """The report of a debounced run that found nothing to back up: not a fault, so phase
    ``Skipped`` (no alert) with its ``reason`` (``skipped`` too, as earlier versions said)."""
    return {
        "vmId": vm_id,
        "trigger": "vm-change",
        "phase": "Skipped",
        "reason": reason,
        "skipped": reason,
    }
