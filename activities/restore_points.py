"""Activities on VM restore points: take one, read its state, start its cross-region copy.

Each is one idempotent step of ``diskdr.restore_point_steps``: re-running it after a crash
adopts what the first run made (deterministic names) instead of making a second point.
"""

from dataclasses import replace
from typing import Any

import azure.durable_functions as df

from diskdr import audit, telemetry
from diskdr.restore_points import RestorePointCopyJob, RestorePointJob
from diskdr.service import get_service

bp = df.Blueprint()


@bp.activity_trigger(input_name="job")
@telemetry.traced("take_restore_point")
def take_restore_point(job: dict[str, Any]) -> dict[str, Any]:
    """Create (or adopt) one VM's restore point for its slot -> RestorePointTake, with the
    audit trail of its writes (the collection, the restore point)."""
    with audit.recording() as writes:
        take = get_service().restore_points.take(RestorePointJob.from_dict(job))
    return replace(take, writes=take.writes + tuple(writes)).to_dict()


@bp.activity_trigger(input_name="restore_point_id")
@telemetry.traced("restore_point_state", subject="point")
def restore_point_state(restore_point_id: str) -> dict[str, Any]:
    """``{"known", "restorePoint": VmRestorePoint | None}``; ``known`` is false when the
    read failed transiently."""
    known, restore_point = get_service().restore_points.state(restore_point_id)
    return {"known": known, "restorePoint": restore_point.to_dict() if restore_point else None}


@bp.activity_trigger(input_name="job")
@telemetry.traced("start_restore_point_copy")
def start_restore_point_copy(job: dict[str, Any]) -> dict[str, Any]:
    """Start (or adopt) the copy of one restore point into the secondary region, with the
    audit trail of its writes (the replica collection, the replica restore point)."""
    with audit.recording() as writes:
        result = get_service().restore_points.start_copy(RestorePointCopyJob.from_dict(job))
    return {**result, "writes": [write.to_dict() for write in writes]}
