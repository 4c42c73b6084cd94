"""The scheduler tick: start the backup cycles that are due (DESIGN flow 1)."""

import logging
from collections import Counter

import azure.durable_functions as df
import azure.functions as func

from diskdr import telemetry
from diskdr.backup import CycleJob, PolicyRef, RunOptions
from diskdr.clock import utc_now
from diskdr.errors import ConfigError
from diskdr.scheduler import MAX_STARTS_PER_POLICY_PER_TICK, cycle_instance_id, due_cycles
from diskdr.service import get_service
from diskdr.settings import indexed_tick_schedule

bp = df.Blueprint()
log = logging.getLogger(__name__)


# Read when the app is indexed (a change of app settings restarts the app): DESIGN's
# default applies when the setting is absent, where a "%DISKDR_TICK_SCHEDULE%" binding
# expression would leave the timer disabled. A bad value must not fail the import (that
# takes every function of the app down): the timer runs on the default schedule and each
# tick fails loudly instead, and GET /api/health reports the setting.
TICK_SCHEDULE, TICK_SCHEDULE_ERROR = indexed_tick_schedule()
if TICK_SCHEDULE_ERROR:
    log.error("%s; the scheduler tick refuses to run until it is fixed", TICK_SCHEDULE_ERROR)


@bp.timer_trigger(schedule=TICK_SCHEDULE, arg_name="timer", use_monitor=True)
@bp.durable_client_input(client_name="client")
@telemetry.traced("scheduler_tick")
async def scheduler_tick(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    if TICK_SCHEDULE_ERROR:
        raise ConfigError(f"{TICK_SCHEDULE_ERROR} (the timer runs on {TICK_SCHEDULE} until fixed)")
    service = get_service()
    settings = service.settings
    now = utc_now()
    started: Counter[str] = Counter()
    for policy, slot in due_cycles(service.policies(), now, settings.catch_up_window):
        if started[policy.name] >= MAX_STARTS_PER_POLICY_PER_TICK:
            continue
        instance_id = cycle_instance_id(policy.name, slot)
        status = await client.get_status(instance_id)
        if status is not None and status.runtime_status is not None:
            continue
        job = CycleJob(
            policy=PolicyRef.from_policy(policy),
            slot=slot,
            install_id=settings.install_id,
            trigger="schedule",
            options=RunOptions.from_settings(settings),
        )
        await client.start_new("backup_cycle", instance_id, job.to_dict())
        started[policy.name] += 1
        log.info("started %s (tick at %s, past due: %s)", instance_id, now, timer.past_due)
