"""Run reports: what one backup run did, as JSON (the orchestration's output) and as text.

The phase follows Velero: ``Completed`` when every VM's group is complete (and replicated,
when the policy replicates) and pruning had no failure; ``PartiallyFailed`` when something
failed but some points were taken; ``Failed`` when no point at all was taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from diskdr.backup import CycleJob, VmOutcome
from diskdr.naming import format_slot


def run_report(
    job: CycleJob,
    vms: Sequence[VmOutcome],
    prune: Mapping[str, Any] | None,
    started: datetime,
    finished: datetime,
    error: str | None = None,
) -> dict[str, Any]:
    disks = [disk for vm in vms for disk in vm.disks]
    failed_disks = [disk for disk in disks if disk.error is not None]
    failed_copies = [disk for disk in disks if disk.replica_error is not None]
    skipped_copies = [disk for disk in disks if disk.replica_note]
    prune_failures = list((prune or {}).get("failed", []))
    usable = sum(disk.usable for disk in disks)
    incomplete = any(
        vm.error or vm.state != "complete" or (vm.replicate and not vm.replicated) for vm in vms
    )
    if error is not None or (vms and usable == 0):
        phase = "Failed"
    elif failed_disks or failed_copies or prune_failures or incomplete:
        phase = "PartiallyFailed"
    else:
        phase = "Completed"
    return {
        "policy": job.policy.name,
        "slot": format_slot(job.slot),
        "trigger": job.trigger,
        "phase": phase,
        "startedAt": started.isoformat(),
        "finishedAt": finished.isoformat(),
        "summary": {
            "vms": len(vms),
            "groupsComplete": sum(vm.state == "complete" for vm in vms),
            "disks": len(disks),
            "usable": usable,
            "failed": len(failed_disks),
            "replicated": sum(disk.replicated for disk in disks),
            "copiesFailed": len(failed_copies),
            "copiesSkipped": len(skipped_copies),
            "pruned": len((prune or {}).get("deleted", [])),
            "pruneFailed": len(prune_failures),
        },
        "vms": [vm.to_dict() for vm in vms],
        "prune": dict(prune) if prune is not None else None,
        "error": error,
    }


def format_report(report: Mapping[str, Any]) -> str:
    """A human-readable rendering of :func:`run_report`'s output."""
    summary = report["summary"]
    if report.get("error"):
        run = f"{report['policy']} @ {report['slot']} ({report['trigger']})"
        return f"{run}: Failed — {report['error']}"
    lines = [
        f"{report['policy']} @ {report['slot']} ({report['trigger']}): {report['phase']} — "
        f"{summary['usable']}/{summary['disks']} disks usable, "
        f"{summary['replicated']} replicated, {summary['failed']} failed, "
        f"{summary['pruned']} pruned"
    ]
    for vm in report["vms"]:
        lines.append(f"  {vm['vmName']}: group {vm['state']}")
        for disk in vm["disks"]:
            point = disk.get("point") or {}
            replica = disk.get("replica") or {}
            status = point.get("state", "-")
            if disk.get("error"):
                error = disk["error"]
                status = f"FAILED {error.get('code') or ''} {error.get('message', '')}".strip()
            copy = replica.get("state", "-")
            if disk.get("replicaError"):
                copy = f"copy FAILED {disk['replicaError'].get('code') or ''}".strip()
            elif disk.get("replicaNote"):
                copy = "copy skipped (superseded)"
            lines.append(f"    {disk['diskName']:<28} {status:<12} replica: {copy}")
    return "\n".join(lines)
