"""The history purge: a timer that deletes finished orchestration instances once they are
older than ``DISKDR_PURGE_AFTER`` (at least the catch-up window), so the task hub does not
grow with every run (docs/operations.md, "Orchestration history").

Only Completed, Failed and Terminated instances are purged; running ones and entities (the
copy gate's lease tables, each disk's copy order) are kept. An instance inside the catch-up
window is never purged: the scheduler tick reads its existence to start each slot once.
"""

import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from diskdr import telemetry
from diskdr.clock import utc_now
from diskdr.service import get_service
from diskdr.settings import purge_schedule

bp = df.Blueprint()
log = logging.getLogger(__name__)

# Read when the app is indexed, as the scheduler tick's schedule is; a bad value runs the
# purge on the default schedule (logged) rather than failing every function's import.
PURGE_SCHEDULE, PURGE_SCHEDULE_ERROR = purge_schedule()
if PURGE_SCHEDULE_ERROR:
    log.error("%s; purging on %s instead", PURGE_SCHEDULE_ERROR, PURGE_SCHEDULE)

# The extension needs a lower bound for a purge by filter; nothing diskdr made is older.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
FINISHED = [
    df.OrchestrationRuntimeStatus.Completed,
    df.OrchestrationRuntimeStatus.Failed,
    df.OrchestrationRuntimeStatus.Terminated,
]


@bp.timer_trigger(schedule=PURGE_SCHEDULE, arg_name="timer", use_monitor=True)
@bp.durable_client_input(client_name="client")
@telemetry.traced("purge_history")
async def purge_history(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    settings = get_service().settings
    cutoff = utc_now() - settings.purge_after
    # The SDK reads the host's 404 ("nothing matched") as 0 instances deleted.
    result = await client.purge_instance_history_by(
        created_time_from=EPOCH, created_time_to=cutoff, runtime_status=FINISHED
    )
    purged = result.instances_deleted
    log.info("purged %d finished instances created before %s", purged, cutoff.isoformat())
