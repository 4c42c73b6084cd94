"""The Azure Functions app: wiring only. Each module contributes one durable blueprint."""

import azure.durable_functions as df
import azure.functions as func

from activities import inventory, points, prune, restore, restore_points
from diskdr.telemetry import configure_telemetry
from orchestrations import (
    after_vm_change,
    backup_cycle,
    copy_gate,
    drill,
    failover,
    protect_vm,
    prune_policy,
    replicate_point,
    replicate_restore_point,
    vm_queue,
)
from orchestrations import restore as restore_orchestration
from triggers import drill_timer, eventgrid, health, history_purge, http_api, timer

configure_telemetry()
app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

for module in (
    timer,
    history_purge,
    eventgrid,
    http_api,
    drill_timer,
    health,
    backup_cycle,
    after_vm_change,
    protect_vm,
    replicate_point,
    replicate_restore_point,
    prune_policy,
    copy_gate,
    vm_queue,
    restore_orchestration,
    drill,
    failover,
    inventory,
    points,
    prune,
    restore_points,
    restore,
):
    app.register_functions(module.bp)
