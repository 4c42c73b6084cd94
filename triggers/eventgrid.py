"""Event Grid: back a VM up after it changed (``ResourceWriteSuccess`` on a VM write).

infra/ subscribes this function to each subscription's system topic in the Event Grid
schema. CloudEvents 1.0 deliveries (a subscription made by hand with that schema) carry
the same ARM event under other names (``type``, ``source``, ``time``) and are handled the
same way; a delivery in any other schema is refused loudly: the function fails, so Event
Grid retries it and then dead-letters it (docs/deploy.md). Junk and unrelated events are
logged and ignored — the function never fails on them, so Event Grid does not retry them.
One backup per VM per debounce window (``DISKDR_DEBOUNCE``).
"""

import logging
from datetime import datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from diskdr import telemetry
from diskdr.backup import RunOptions
from diskdr.events import Ignored, change_instance_id, debounce_window, vm_change
from diskdr.service import get_service

bp = df.Blueprint()
log = logging.getLogger(__name__)


CLOUDEVENTS_VERSION = "1.0"


class UnsupportedDelivery(ValueError):
    """A delivery in a schema this function cannot read: fail it, so it is retried and
    dead-lettered instead of lost."""


def event_fields(event: Any) -> tuple[str | None, str | None, Any, datetime | None]:
    """(type, subject, data, time) of an Event Grid schema or CloudEvents 1.0 event."""
    try:
        data = event.get_json()
    except ValueError:
        data = None
    specversion = getattr(event, "specversion", None)
    if specversion is None:  # Event Grid schema
        return (
            getattr(event, "event_type", None),
            getattr(event, "subject", None),
            data,
            getattr(event, "event_time", None),
        )
    if specversion != CLOUDEVENTS_VERSION:
        raise UnsupportedDelivery(
            f"event {getattr(event, 'id', '?')}: CloudEvents specversion {specversion!r} is not "
            f"supported (expected {CLOUDEVENTS_VERSION!r}); subscribe with the Event Grid schema"
        )
    return (
        getattr(event, "type", None),
        getattr(event, "subject", None),
        data,
        getattr(event, "time", None),
    )


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
@telemetry.traced("vm_changed")
async def vm_changed(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    service = get_service()
    settings = service.settings
    try:
        event_type, subject, data, event_time = event_fields(event)
    except UnsupportedDelivery as error:
        log.error("%s", error)
        raise
    try:
        change = vm_change(event_type, subject, data, event_time, settings.subscription_ids)
    except Ignored as reason:
        log.info("event %s ignored: %s", getattr(event, "id", "?"), reason)
        return
    instance_id = change_instance_id(change, settings.debounce)
    status = await client.get_status(instance_id)
    if status is not None and status.runtime_status is not None:
        log.info("event %s: %s already scheduled", event.id, instance_id)
        return
    _, window_end = debounce_window(change, settings.debounce)
    await client.start_new(
        "after_vm_change",
        instance_id,
        {
            "vmId": change.vm_id,
            "notBefore": window_end.isoformat(),
            "installId": settings.install_id,
            "options": RunOptions.from_settings(settings, prune=False).to_dict(),
        },
    )
    log.info(
        "event %s: backup of %s after %s (%s)", event.id, change.vm_id, window_end, instance_id
    )
