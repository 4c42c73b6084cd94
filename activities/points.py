"""Activities on recovery points: take one, read states, start a cross-region copy.

Each is one idempotent step of ``diskdr.service``: re-running it after a crash adopts what
the first run made (deterministic names) instead of making a second point.
"""

from typing import Any

import azure.durable_functions as df

from diskdr.backup import CopyJob, PointJob
from diskdr.service import get_service

bp = df.Blueprint()


@bp.activity_trigger(input_name="job")
def take_point(job: dict[str, Any]) -> dict[str, Any]:
    """Create (or adopt) one disk's incremental snapshot for its slot -> DiskOutcome."""
    return get_service().take_point(PointJob.from_dict(job)).to_dict()


@bp.activity_trigger(input_name="point_ids")
def point_states(point_ids: list[str]) -> dict[str, Any]:
    """Current state of each point: ``{id: RecoveryPoint | None}``."""
    states = get_service().point_states(point_ids)
    return {point_id: None if p is None else p.to_dict() for point_id, p in states.items()}


@bp.activity_trigger(input_name="job")
def start_copy(job: dict[str, Any]) -> dict[str, Any]:
    """Start (or adopt) the CopyStart of one point into the secondary region."""
    return get_service().start_copy(CopyJob.from_dict(job))
