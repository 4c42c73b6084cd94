"""Event Grid: back a VM up after it changed (``ResourceWriteSuccess`` on a VM write).

Subscribe this function to the subscription's system topic (infra/). Junk and unrelated
events are logged and ignored — the function never fails on them, so Event Grid does not
retry them. One backup per VM per debounce window (``DISKDR_DEBOUNCE``).
"""

import logging

import azure.durable_functions as df
import azure.functions as func

from diskdr.backup import RunOptions
from diskdr.events import Ignored, change_instance_id, debounce_window, vm_change
from diskdr.service import get_service

bp = df.Blueprint()
log = logging.getLogger(__name__)


@bp.event_grid_trigger(arg_name="event")
@bp.durable_client_input(client_name="client")
async def vm_changed(event: func.EventGridEvent, client: df.DurableOrchestrationClient) -> None:
    service = get_service()
    settings = service.settings
    try:
        data = event.get_json()
    except ValueError:
        data = None
    try:
        change = vm_change(
            getattr(event, "event_type", None),
            getattr(event, "subject", None),
            data,
            getattr(event, "event_time", None),
            settings.subscription_ids,
        )
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
