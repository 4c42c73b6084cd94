"""restore: carry out one VM's restore plan (``diskdr.restore.RestorePlan``).

Start every disk create at once, watch them with durable timers until each is
``Succeeded`` or ``Failed`` (or the deadline passes); in ``vm`` mode then create the NIC and
the VM with the disks attached. The output says per disk what was made (with Azure's error
code when it failed), what exists now (``created``), and the RTO: from the request to the
moment every disk was usable (``vm`` mode: the VM provisioned); ``vmId`` only once a VM
was made (DESIGN's ``vmId?``). Also the building block of
drills (``orchestrations/drill.py``) and failovers (``orchestrations/failover.py``);
``clean_up`` deletes what a plan made, VM first; ``make_networks`` / ``remove_networks``
handle a drill's own isolated network.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

import azure.durable_functions as df

from activities.restore import (
    begin_delete_restored,
    begin_drill_network,
    begin_restore_disk,
    begin_restore_nic,
    begin_restore_vm,
    restored_states,
)
from diskdr.naming import format_slot
from diskdr.restore import DrillNetwork, RestorePlan, seconds_between
from orchestrations.correlation import correlated
from orchestrations.waiting import FIRST_DELAY, next_delay, sleep_until

bp = df.Blueprint()

# How long (world time) a restore may take before what is still creating is reported as
# DeadlineExceeded. Premium SSD v2 / Ultra disks from a snapshot hydrate in the background
# but are usable (Succeeded) at once; a VM create takes minutes.
RESTORE_DEADLINE = timedelta(hours=6)
CLEANUP_DEADLINE = timedelta(hours=2)
ENDED = ("succeeded", "failed", "canceled")


@bp.orchestration_trigger(context_name="context")
@correlated
def restore(context: df.DurableOrchestrationContext):
    plan = RestorePlan.from_dict(context.get_input())
    return (yield from run_restore(context, plan))


def wait_for(
    context: df.DurableOrchestrationContext,
    resources: list[str],
    deadline: datetime,
    done: Callable[[dict[str, Any] | None], bool],
) -> Generator[Any, Any, dict[str, Any]]:
    """Poll ``resources`` until ``done(state)`` holds for each, or the deadline passes; the
    last state seen of each (None: it does not exist)."""
    latest: dict[str, Any] = {}
    waiting = list(resources)
    delay = FIRST_DELAY
    while waiting:
        states = yield context.call_activity(restored_states, waiting)
        latest.update(states)
        waiting = [r for r in waiting if r not in latest or not done(latest[r])]
        if not waiting or context.current_utc_datetime >= deadline:
            break
        yield from sleep_until(context, delay, deadline)
        delay = next_delay(delay)
    return latest


def provisioned(state: dict[str, Any] | None) -> bool:
    return state is not None and str(state.get("state", "")).lower() in ENDED


def gone(state: dict[str, Any] | None) -> bool:
    return state is None


def _outcome(state: dict[str, Any] | None) -> tuple[bool, dict[str, Any] | None]:
    """(usable, error) of a resource after waiting for it."""
    if state is None:
        return False, {"message": "the resource vanished while it was created", "code": "NotFound"}
    value = str(state.get("state", ""))
    if value.lower() == "succeeded":
        return True, None
    if value.lower() in ENDED:
        return False, {"message": f"provisioning {value}", "code": f"Provisioning{value}"}
    return False, {
        "message": f"still {value or 'creating'} at the restore deadline",
        "code": "DeadlineExceeded",
    }


def run_restore(context: df.DurableOrchestrationContext, plan: RestorePlan):
    """Carry out ``plan``; never raises (an unexpected failure becomes ``error``)."""
    deadline = context.current_utc_datetime + RESTORE_DEADLINE
    disks = {
        d.restored_disk_id: {
            "sourceDiskId": d.source_disk_id,
            "pointId": d.point_id,
            "restoredDiskId": d.restored_disk_id,
            "lun": d.lun,
            "state": "creating",
        }
        for d in plan.disks
    }
    created: list[str] = []
    result: dict[str, Any] = {
        "runId": plan.run_id,
        "sourceVmId": plan.vm_id,
        "mode": plan.mode,
        "slot": format_slot(plan.slot),
        "group": plan.group,
        "region": plan.region,
        "resourceGroup": plan.resource_group,
        "pointAgeSeconds": plan.point_age_seconds,
        "rtoSeconds": None,
    }
    try:
        context.set_custom_status({"phase": "disks", "disks": len(disks), "usable": 0})
        started = yield context.task_all(
            [context.call_activity(begin_restore_disk, d.to_dict()) for d in plan.disks]
        )
        for answer in started or []:
            entry = disks[answer["id"]]
            if answer.get("error"):
                entry.update(state="failed", error=answer["error"])
            else:
                created.append(answer["id"])
        latest = yield from wait_for(context, list(created), deadline, provisioned)
        for resource in created:
            usable, error = _outcome(latest.get(resource))
            disks[resource]["state"] = "usable" if usable else "failed"
            if error:
                disks[resource]["error"] = error
        usable_count = sum(d["state"] == "usable" for d in disks.values())
        context.set_custom_status({"phase": "disks", "disks": len(disks), "usable": usable_count})
        ok = usable_count == len(disks)
        if plan.vm is not None and ok:
            ok = yield from _create_vm(context, plan, created, result, deadline)
        finished = context.current_utc_datetime
        if ok:
            result["rtoSeconds"] = seconds_between(plan.requested_at, finished)
        result["phase"] = "Completed" if ok else ("PartiallyFailed" if usable_count else "Failed")
    except Exception as error:  # a bug or a lost activity: say what exists
        result["phase"] = "Failed"
        result["error"] = {"message": f"{type(error).__name__}: {error}", "code": "Unexpected"}
    result["disks"] = list(disks.values())
    result["created"] = created
    context.set_custom_status({"phase": "done", "result": result["phase"]})
    return result


def _create_vm(context, plan: RestorePlan, created: list[str], result: dict, deadline):
    """NIC, then the VM with the disks attached; False (with ``result["error"]``) if either
    failed."""
    assert plan.vm is not None and plan.nic_resource_id and plan.vm_resource_id
    for phase, activity, resource in (
        ("nic", begin_restore_nic, plan.nic_resource_id),
        ("vm", begin_restore_vm, plan.vm_resource_id),
    ):
        context.set_custom_status({"phase": phase})
        answer = yield context.call_activity(activity, plan.to_dict())
        if answer.get("error"):
            result["error"] = answer["error"]
            return False
        created.append(resource)
        latest = yield from wait_for(context, [resource], deadline, provisioned)
        usable, error = _outcome(latest.get(resource))
        if not usable:
            result["error"] = error
            return False
    result["vmId"] = plan.vm_resource_id
    return True


def clean_up(context: df.DurableOrchestrationContext, plan: RestorePlan):
    """Delete everything ``plan`` may have made (VM first: its disks and NIC are attached
    until it is gone); True when none of it exists any more."""
    deadline = context.current_utc_datetime + CLEANUP_DEADLINE
    stages = []
    if plan.vm_resource_id:
        stages.append([plan.vm_resource_id])
    stages.append([d.restored_disk_id for d in plan.disks] + [plan.nic_resource_id or ""])
    remaining: list[str] = []
    for stage in stages:
        stage = [r for r in stage if r]
        yield context.task_all([context.call_activity(begin_delete_restored, r) for r in stage])
        latest = yield from wait_for(context, stage, deadline, gone)
        remaining += [r for r in stage if r not in latest or latest[r] is not None]
    return not remaining, remaining


def make_networks(context: df.DurableOrchestrationContext, networks: list[DrillNetwork]):
    """Create a drill's isolated networks and wait until they are provisioned. A network
    that failed is not fatal here: the NICs in it fail, and each VM reports that."""
    if not networks:
        return
    deadline = context.current_utc_datetime + RESTORE_DEADLINE
    yield context.task_all(
        [context.call_activity(begin_drill_network, n.to_dict()) for n in networks]
    )
    yield from wait_for(context, [n.id for n in networks], deadline, provisioned)


def remove_networks(context: df.DurableOrchestrationContext, networks: list[DrillNetwork]):
    """Delete a drill's networks once every VM's cleanup is done (Azure refuses to delete
    a subnet a NIC still uses): ``[{"id", "cleanedUp"}]``."""
    if not networks:
        return []
    deadline = context.current_utc_datetime + CLEANUP_DEADLINE
    ids = [n.id for n in networks]
    yield context.task_all([context.call_activity(begin_delete_restored, i) for i in ids])
    latest = yield from wait_for(context, ids, deadline, gone)
    return [{"id": i, "cleanedUp": i in latest and latest[i] is None} for i in ids]
