"""Activities of pruning: decide (list + pure retention), re-check copy readers right before
deleting, and delete one point."""

import logging
from datetime import datetime
from typing import Any

import azure.durable_functions as df

from diskdr import audit, prune, telemetry
from diskdr.service import get_service

bp = df.Blueprint()
log = logging.getLogger(__name__)


@bp.activity_trigger(input_name="request")
@telemetry.traced("plan_prune")
def plan_prune(request: dict[str, Any]) -> dict[str, Any]:
    """The prune plan of one policy at ``now`` (the orchestration's clock) -> its digest.

    The full plan (every item with its reasons) is kept in one place: this activity's log,
    one ``diskdr-prune-item`` line per item (``diskdr.prune.plan_lines``). Histories and
    run reports carry the digest: counts and the first items, plus what to act on.
    Input ``{"policy", "now", "run", "dryRun"}``.
    """
    now = datetime.fromisoformat(request["now"])
    decided = get_service().prune_plan(request["policy"], now)
    for line in prune.plan_lines(decided, str(request.get("run") or "-")):
        log.info("%s", line)
    return prune.digest(decided, act=not request.get("dryRun"))


@bp.activity_trigger(input_name="point_ids")
@telemetry.traced("recheck_prune")
def recheck_prune(point_ids: list[str]) -> dict[str, str]:
    """Of these primary points, the ones a copy reads or bases on now -> the reason."""
    return get_service().prune_recheck(point_ids)


@bp.activity_trigger(input_name="point_id")
@telemetry.correlated
def delete_point(point_id: str) -> dict[str, Any]:
    """Delete one of our points (refused for anything not ours)."""
    with telemetry.span("diskdr.delete_point", point=point_id) as span, audit.recording() as writes:
        result = get_service().delete_point(point_id)
        telemetry.pruned(span, result)
    return {**result, "writes": [write.to_dict() for write in writes]}
