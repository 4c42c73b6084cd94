"""The drill tick: start each policy's DR drill when its ``drill.schedule`` comes due.

Runs on the scheduler tick's schedule; a drill slot missed while the app was down is run
once, late (only the newest due slot, like ``catchUp: latest``). Instance ids are
``drill-{policy}-{slot}``, so a slot is drilled once however many ticks see it.
"""

import logging

import azure.durable_functions as df
import azure.functions as func

from diskdr.clock import utc_now
from diskdr.schedule import due_slots
from diskdr.service import get_service
from triggers.http_api import start_drill
from triggers.timer import TICK_SCHEDULE, TICK_SCHEDULE_ERROR

bp = df.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(schedule=TICK_SCHEDULE, arg_name="timer", use_monitor=True)
@bp.durable_client_input(client_name="client")
async def drill_tick(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    if TICK_SCHEDULE_ERROR:  # the scheduler tick reports it loudly; nothing to add here
        return
    service = get_service()
    now = utc_now()
    for policy in service.policies().policies:
        if policy.drill is None:
            continue
        schedule = policy.drill.schedule
        slots = due_slots(
            schedule.cron, schedule.time_zone, now - service.settings.catch_up_window, now
        )
        if not slots:
            continue
        instance_id = f"drill-{policy.name}-{slots[-1]:%Y%m%dt%H%M}"
        status = await client.get_status(instance_id)
        if status is not None and status.runtime_status is not None:
            continue
        try:
            await start_drill(client, policy, None, instance_id, now, "schedule")
        except Exception:  # one policy's failed planning must not stop the others
            log.exception("drill of policy %s at %s could not start", policy.name, slots[-1])
            continue
        log.info("started %s", instance_id)
