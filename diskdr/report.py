"""Run reports: what one backup run did, as JSON (the orchestration's output).

``prune`` is ``prune_policy``'s output: the plan's counts and first items with their
reasons, and counts plus the first items of what was deleted, failed or skipped; the whole
plan is in the ``plan_prune`` activity's log (docs/retention.md, "Where the plan is kept").

The phase follows Velero: ``Completed`` when every VM's group is complete (and replicated,
when the policy replicates) and pruning had no failure; ``PartiallyFailed`` when something
failed (or is still pending) but some points were taken; ``Failed`` when no point at all
was taken, or the run could not start (``error`` says why); ``Skipped`` when nothing was
attempted for a reason that is not a fault (Azure's restore point spacing), named in
``reason``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from diskdr.backup import CycleJob, DiskOutcome, VmOutcome
from diskdr.naming import format_slot

#: The first word of the line logged for every finished run (see :func:`run_event`).
RUN_EVENT = "diskdr-run"


def run_report(
    job: CycleJob,
    vms: Sequence[VmOutcome],
    prune: Mapping[str, Any] | None,
    started: datetime,
    finished: datetime,
    error: str | None = None,
) -> dict[str, Any]:
    disks = [disk for vm in vms for disk in vm.disks]
    failed_disks = [disk for disk in disks if disk.error is not None and not _not_a_fault(disk)]
    failed_copies = [disk for disk in disks if disk.replica_error is not None]
    skipped_copies = [disk for disk in disks if disk.replica_note]
    prune_failures = prune_count(prune, "failed")
    usable = sum(disk.usable for disk in disks)
    # A VM whose every disk was refused for a reason that is not a fault was not attempted.
    skipped = [vm for vm in vms if vm.disks and all(_not_a_fault(disk) for disk in vm.disks)]
    attempted = [vm for vm in vms if vm not in skipped]
    incomplete = any(
        vm.error or vm.state != "complete" or (vm.replicate and not vm.replicated)
        for vm in attempted
    )
    taken = sum(disk.point is not None for disk in disks)
    reason = None
    if error is not None or (attempted and taken == 0):
        phase = "Failed"
    elif skipped and not attempted:
        phase = "Skipped"
        refusal = skipped[0].disks[0].error
        reason = f"{skipped[0].vm_name}: {refusal.message if refusal else 'not attempted'}"
    elif failed_disks or failed_copies or prune_failures or incomplete:
        phase = "PartiallyFailed"
    else:
        phase = "Completed"
    return {
        "policy": job.policy.name,
        "slot": format_slot(job.slot),
        "trigger": job.trigger,
        "phase": phase,
        "reason": reason,
        "startedAt": started.isoformat(),
        "finishedAt": finished.isoformat(),
        "summary": {
            "vms": len(vms),
            "groupsComplete": sum(vm.state == "complete" for vm in vms),
            "disks": len(disks),
            "usable": usable,
            "failed": len(failed_disks),
            "skipped": sum(len(vm.disks) for vm in skipped),
            "replicated": sum(disk.replicated for disk in disks),
            "copiesFailed": len(failed_copies),
            "copiesSkipped": len(skipped_copies),
            "pruned": prune_count(prune, "deleted"),
            "pruneFailed": prune_failures,
        },
        "vms": [{**vm.to_dict(), "slot": format_slot(vm.slot)} for vm in vms],
        "prune": dict(prune) if prune is not None else None,
        "audit": audit_trail(vms, prune),
        "error": error,
    }


#: Azure refusals that are not faults (DESIGN run phases): the spacing Azure requires
#: between two VM restore points. A run refused only for these ends ``Skipped``.
NOT_A_FAULT = frozenset({"RestorePointTooSoon"})


def _not_a_fault(disk: DiskOutcome) -> bool:
    return disk.point is None and disk.error is not None and disk.error.code in NOT_A_FAULT


def prune_count(prune: Mapping[str, Any] | None, key: str) -> int:
    """How many points pruning ``deleted`` / ``failed``: its ``counts`` (its lists show the
    first items only), or the list's length when pruning ended before counting."""
    counts = (prune or {}).get("counts") or {}
    if key in counts:
        return int(counts[key])
    return len((prune or {}).get(key, []))


def audit_trail(vms: Sequence[VmOutcome], prune: Mapping[str, Any] | None) -> list[dict]:
    """Every Azure write of the run with its request id: points, copies, then deletes."""
    writes = [write.to_dict() for vm in vms for disk in vm.disks for write in disk.writes]
    return writes + list((prune or {}).get("writes", []))


def run_event(report: Mapping[str, Any], rpo_seconds: int | None) -> str:
    """One ``key=value`` line per finished run, what the alert rules in infra/ query.

    ``diskdr-run policy=gold slot=2026-11-25T10:00Z trigger=schedule phase=Completed
    rpoSeconds=14400 vms=3 failed=0``. The line is parsed by a log query (the Functions host
    and the Azure Monitor exporter both carry the message; neither is sure to carry
    structured fields), so its keys are fixed and its values hold no spaces.
    """
    summary = report.get("summary") or {}
    fields = {
        "policy": report.get("policy"),
        "slot": report.get("slot"),
        "trigger": report.get("trigger"),
        "phase": report.get("phase"),
        "rpoSeconds": rpo_seconds or 0,
        "vms": summary.get("vms", 0),
        "failed": summary.get("failed", 0),
    }
    return " ".join(
        [RUN_EVENT, *(f"{key}={str(value).replace(' ', '_')}" for key, value in fields.items())]
    )
