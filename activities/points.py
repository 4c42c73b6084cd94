"""Activities on recovery points: take one, read states, start a cross-region copy.

Each is one idempotent step of ``diskdr.service``: re-running it after a crash adopts what
the first run made (deterministic names) instead of making a second point.
"""

from dataclasses import replace
from typing import Any

import azure.durable_functions as df

from diskdr import audit, copy_watch, telemetry
from diskdr.backup import CopyJob, PointJob
from diskdr.clock import utc_now
from diskdr.model import RecoveryPoint
from diskdr.service import get_service

bp = df.Blueprint()


@bp.activity_trigger(input_name="job")
@telemetry.correlated
def take_point(job: dict[str, Any]) -> dict[str, Any]:
    """Create (or adopt) one disk's incremental snapshot for its slot -> DiskOutcome."""
    point_job = PointJob.from_dict(job)
    with (
        telemetry.span(
            "diskdr.take_point",
            policy=point_job.policy,
            slot=point_job.slot.isoformat(),
            vm=point_job.vm_id,
            disk=point_job.disk.id,
            group=point_job.group,
            region=point_job.disk.location,
        ) as span,
        audit.recording() as writes,
    ):
        taken = get_service().take_point(point_job)
        outcome = replace(taken, writes=taken.writes + tuple(writes)).to_dict()
        telemetry.point_taken(span, outcome)
    return outcome


@bp.activity_trigger(input_name="point_ids")
@telemetry.traced("point_states")
def point_states(point_ids: list[str]) -> dict[str, Any]:
    """Current state of each point: ``{id: RecoveryPoint | None}``."""
    return {point_id: None if p is None else p.to_dict() for point_id, p in read(point_ids).items()}


@bp.activity_trigger(input_name="point_ids")
@telemetry.traced("copy_progress")
def copy_progress(point_ids: list[str]) -> dict[str, Any]:
    """How far each replica's copy is: ``{id: {"state", "completionPercent", "errorCode"} |
    None}`` (``diskdr.copy_watch.progress_of``): what the copy watch keeps, so a history
    holding a read for every copy into a region stays small."""
    return {point_id: copy_watch.progress_of(p) for point_id, p in read(point_ids).items()}


def read(point_ids: list[str]) -> dict[str, RecoveryPoint | None]:
    """The points' states (a point whose read failed transiently is absent); replicas
    read usable are counted as replicated (each is read usable once: then it is settled)."""
    states = get_service().point_states(point_ids)
    telemetry.replicas_seen(
        [
            (p.created_at, p.region)
            for p in states.values()
            if p and p.role == "replica" and p.state == "usable"
        ],
        utc_now(),
    )
    return states


@bp.activity_trigger(input_name="job")
@telemetry.correlated
def start_copy(job: dict[str, Any]) -> dict[str, Any]:
    """Start (or adopt) the CopyStart of one point into the secondary region."""
    copy_job = CopyJob.from_dict(job)
    source = copy_job.point
    with (
        telemetry.span(
            "diskdr.start_copy",
            policy=source.policy,
            slot=source.slot.isoformat(),
            vm=source.vm_id,
            disk=source.disk_id,
            point=source.id,
            group=source.group,
            region=copy_job.region,
        ) as span,
        audit.recording() as writes,
    ):
        result = get_service().start_copy(copy_job)
        telemetry.copy_started(span, result)
    return {**result, "writes": [write.to_dict() for write in writes]}
