"""The control endpoints of Event Grid delivery (``/_emulator/events``).

- ``POST /_emulator/events`` ``{"url", "includedEventTypes"?, "subjectBeginsWith"?,
  "subjectEndsWith"?, "subscriptionId"?, "maxDeliveryAttempts"?, "eventTimeToLiveInMinutes"?}``
  → ``{"subscription": {...}, "subscriptions": [...]}``; validation starts at once, in the
  background (``provisioningState`` ``Creating`` → ``Succeeded`` / ``AwaitingManualAction``).
- ``GET /_emulator/events[?id=]`` → ``{"subscriptions": [...]}`` with each one's state,
  delivery counters and recent deliveries.
- ``DELETE /_emulator/events[?id=]`` → removes one subscription (or all).
- ``GET /_emulator/events/validate?id=&code=`` → the ``validationUrl`` handshake.
"""

from __future__ import annotations

from typing import Any

from emulator import control
from emulator.errors import InvalidParameter
from emulator.eventgrid.delivery import SUBSCRIPTION_FIELDS, EventGrid


def _grid(request: control.ControlRequest) -> EventGrid:
    grid: EventGrid = request.world.backend("event_subscriptions")
    grid.kick()
    return grid


def subscribe(request: control.ControlRequest) -> Any:
    body = request.json(SUBSCRIPTION_FIELDS)
    grid = _grid(request)
    subscription = grid.subscribe(body, request.base_url)
    return {
        "subscription": subscription.to_json(),
        "subscriptions": [s.to_json() for s in grid.subscriptions],
    }


def list_subscriptions(request: control.ControlRequest) -> Any:
    grid = _grid(request)
    wanted = request.query.get("id")
    if wanted:
        return {"subscriptions": [grid.get(wanted).to_json()]}
    return {"subscriptions": [s.to_json() for s in grid.subscriptions]}


def unsubscribe(request: control.ControlRequest) -> Any:
    grid = _grid(request)
    grid.unsubscribe(request.query.get("id"))
    return {"subscriptions": [s.to_json() for s in grid.subscriptions]}


def validate(request: control.ControlRequest) -> Any:
    subscription_id, code = request.query.get("id"), request.query.get("code")
    if not subscription_id or not code:
        raise InvalidParameter("id and code are required.", target="id")
    return _grid(request).validate_manually(subscription_id, code).to_json()


def install() -> None:
    control.register("POST", "events", subscribe)
    control.register("GET", "events", list_subscriptions)
    control.register("DELETE", "events", unsubscribe)
    control.register("GET", "events/validate", validate)
