"""Event Grid delivery of the subscription system topic's events to webhooks.

An event subscription (``POST /_emulator/events``) is validated first, as Event Grid does:
the webhook gets a ``Microsoft.EventGrid.SubscriptionValidationEvent`` (header
``aeg-event-type: SubscriptionValidation``) and must answer 200 ``{"validationResponse":
<validationCode>}``; then the subscription is ``Succeeded``. A webhook that does not can still
be validated by a GET of the event's ``validationUrl`` within 10 world minutes
(``AwaitingManualAction``), after which the subscription is ``Failed``.

Completed resource changes (``World.announce``) become ``Microsoft.Resources.Resource
{Write,Delete,Action}{Success,Failure}`` events in the Event Grid schema the system topic of an
Azure subscription sends, filtered per subscription (``includedEventTypes``,
``subjectBeginsWith``, ``subjectEndsWith``, ``subscriptionId``), and POSTed one per request
(an array of one, ``aeg-event-type: Notification``) from tasks on the event loop: the request
that made the change never waits. Event Grid's retry policy (Learn "Event Grid message delivery
and retry"): 200-204 is delivered; 400, 401, 403 and 413 are not retried (the event is
dropped, no dead-letter here); anything else, a timeout (30 s) or a refused connection is
retried after 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h and then every 12 h of
world time, until ``maxDeliveryAttempts`` (30) or ``eventTimeToLiveInMinutes`` (1440).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import aiohttp

from emulator.arm import iso
from emulator.errors import InvalidParameter, NotFound

if TYPE_CHECKING:
    from emulator.world import ResourceChange, World

log = logging.getLogger("emulator.eventgrid")

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
EVENT_TYPES = {
    ("write", "Succeeded"): "Microsoft.Resources.ResourceWriteSuccess",
    ("write", "Failed"): "Microsoft.Resources.ResourceWriteFailure",
    ("delete", "Succeeded"): "Microsoft.Resources.ResourceDeleteSuccess",
    ("delete", "Failed"): "Microsoft.Resources.ResourceDeleteFailure",
    ("action", "Succeeded"): "Microsoft.Resources.ResourceActionSuccess",
    ("action", "Failed"): "Microsoft.Resources.ResourceActionFailure",
}
# The tenant the emulator's subscriptions belong to (events carry a tenantId).
TENANT_ID = "72f988bf-0000-4000-8000-00000000e7a1"
# Retry schedule in world seconds (Learn "Event Grid message delivery and retry").
RETRY_SCHEDULE = (10, 30, 60, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600)
RETRY_EVERY = 12 * 3600
NOT_RETRIED = frozenset({400, 401, 403, 413})
ATTEMPT_TIMEOUT_SECONDS = 30.0  # Event Grid waits 30 s for an answer (real seconds here)
MANUAL_VALIDATION_SECONDS = 600.0
MAX_CONCURRENT_PER_SUBSCRIPTION = 16
RECENT = 200
SUBSCRIPTION_FIELDS = {
    "url",
    "includedEventTypes",
    "subjectBeginsWith",
    "subjectEndsWith",
    "subscriptionId",
    "maxDeliveryAttempts",
    "eventTimeToLiveInMinutes",
}
_CODE_IN_URL = re.compile(r"([?&]code=)[^&]+", re.IGNORECASE)


def redact(url: str) -> str:
    """A webhook URL fit for logs (its ``code`` key hidden)."""
    return _CODE_IN_URL.sub(r"\1***", url)


def event_time(world_unix: float) -> str:
    """Event Grid's timestamp form: UTC, 7 fractional digits, ``Z``."""
    moment = datetime.fromtimestamp(world_unix, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class Delivery:
    """One event on its way to one subscription."""

    event: dict[str, Any]
    published: float  # world time
    status: str = "Pending"  # Pending | Retrying | Delivered | Dropped | Expired | Canceled
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "eventId": self.event["id"],
            "eventType": self.event["eventType"],
            "subject": self.event["subject"],
            "status": self.status,
            "attempts": self.attempts,
        }
        if self.last_status is not None:
            body["lastStatusCode"] = self.last_status
        if self.last_error:
            body["lastError"] = self.last_error
        if self.delivered_at is not None:
            body["deliveredAt"] = iso(self.delivered_at)
        return body


@dataclass
class EventSubscription:
    id: str
    name: str
    url: str
    included_event_types: list[str] | None = None
    subject_begins_with: str = ""
    subject_ends_with: str = ""
    subscription_id: str | None = None
    max_delivery_attempts: int = 30
    ttl_minutes: int = 1440
    provisioning_state: str = "Creating"
    validation_code: str = field(default_factory=lambda: str(uuid.uuid4()))
    validation_url: str = ""
    validation_error: str | None = None
    deliveries: deque[Delivery] = field(default_factory=lambda: deque(maxlen=RECENT))
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "delivered": 0,
            "failedAttempts": 0,
            "dropped": 0,
            "expired": 0,
            "pending": 0,
        }
    )

    def matches(self, event: dict[str, Any], subscription: str) -> bool:
        if self.subscription_id and self.subscription_id.lower() != subscription.lower():
            return False
        if self.included_event_types and event["eventType"] not in self.included_event_types:
            return False
        subject = event["subject"].lower()
        return subject.startswith(self.subject_begins_with.lower()) and subject.endswith(
            self.subject_ends_with.lower()
        )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "provisioningState": self.provisioning_state,
            "includedEventTypes": self.included_event_types,
            "subjectBeginsWith": self.subject_begins_with,
            "subjectEndsWith": self.subject_ends_with,
            "subscriptionId": self.subscription_id,
            "maxDeliveryAttempts": self.max_delivery_attempts,
            "eventTimeToLiveInMinutes": self.ttl_minutes,
            "delivery": dict(self.counts),
            "recentDeliveries": [d.to_json() for d in self.deliveries],
        }
        if self.provisioning_state == "AwaitingManualAction":
            body["validationUrl"] = self.validation_url
        if self.validation_error:
            body["validationError"] = self.validation_error
        return body


class EventGrid:
    """The event subscriptions of one world and the tasks delivering to them.

    Lives as long as the world: ``reset`` cancels its tasks and forgets its subscriptions.
    """

    def __init__(self, world: World) -> None:
        self.world = world
        self.subscriptions: list[EventSubscription] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._backlog: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._names = itertools.count(1)
        self._semaphores: dict[str, asyncio.Semaphore] = {}

    # --- subscriptions -----------------------------------------------------------------

    def subscribe(self, body: dict[str, Any], base_url: str) -> EventSubscription:
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidParameter("url must be an http(s) URL.", target="url")
        types = body.get("includedEventTypes")
        if types is not None and (
            not isinstance(types, list) or not all(isinstance(t, str) for t in types)
        ):
            raise InvalidParameter(
                "includedEventTypes must be a list of event types.", target="includedEventTypes"
            )
        for key in ("subjectBeginsWith", "subjectEndsWith", "subscriptionId"):
            if body.get(key) is not None and not isinstance(body[key], str):
                raise InvalidParameter(f"{key} must be a string.", target=key)
        attempts = body.get("maxDeliveryAttempts", 30)
        ttl = body.get("eventTimeToLiveInMinutes", 1440)
        for key, value, high in (
            ("maxDeliveryAttempts", attempts, 30),
            ("eventTimeToLiveInMinutes", ttl, 1440),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise InvalidParameter(f"{key} must be an integer 1..{high}.", target=key)
        subscription = EventSubscription(
            id=str(uuid.uuid4()),
            name=f"EMULATOR-SUBSCRIPTION-{next(self._names)}",
            url=url,
            included_event_types=types,
            subject_begins_with=body.get("subjectBeginsWith") or "",
            subject_ends_with=body.get("subjectEndsWith") or "",
            subscription_id=body.get("subscriptionId"),
            max_delivery_attempts=attempts,
            ttl_minutes=ttl,
        )
        query = urlencode({"id": subscription.id, "code": subscription.validation_code})
        subscription.validation_url = f"{base_url}/_emulator/events/validate?{query}"
        self.subscriptions.append(subscription)
        self._spawn(lambda: self._validate(subscription))
        return subscription

    def get(self, subscription_id: str) -> EventSubscription:
        for subscription in self.subscriptions:
            if subscription.id == subscription_id:
                return subscription
        raise NotFound(f"No event subscription {subscription_id}.")

    def unsubscribe(self, subscription_id: str | None) -> None:
        """Remove one subscription (or all): its pending deliveries are canceled."""
        removed = [s for s in self.subscriptions if subscription_id in (None, s.id)]
        if subscription_id is not None and not removed:
            raise NotFound(f"No event subscription {subscription_id}.")
        for subscription in removed:
            subscription.provisioning_state = "Deleted"
            self.subscriptions.remove(subscription)

    def validate_manually(self, subscription_id: str, code: str) -> EventSubscription:
        """The ``validationUrl`` handshake (GET within 10 minutes of the validation event)."""
        subscription = self.get(subscription_id)
        if subscription.provisioning_state not in ("AwaitingManualAction", "Succeeded"):
            raise InvalidParameter(
                f"Event subscription {subscription_id} is {subscription.provisioning_state}; "
                "it cannot be validated now.",
                target="id",
            )
        if code != subscription.validation_code:
            raise InvalidParameter("The validation code does not match.", target="code")
        subscription.provisioning_state = "Succeeded"
        return subscription

    def reset(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        self._backlog.clear()
        self._semaphores.clear()
        for subscription in self.subscriptions:
            subscription.provisioning_state = "Deleted"
        self.subscriptions = []

    # --- events ------------------------------------------------------------------------

    def on_change(self, change: ResourceChange) -> None:
        """A completed change: queue its event for every matching, validated subscription.

        Runs inside the request (or tick) that completed the change: it only creates tasks.
        """
        event_type = EVENT_TYPES.get((change.kind, change.status))
        if event_type is None:
            return
        targets = [s for s in self.subscriptions if s.provisioning_state == "Succeeded"]
        if not targets:
            return
        event = self._event(change, event_type)
        for subscription in targets:
            if subscription.matches(event, change.subscription):
                delivery = Delivery(event, change.time)
                subscription.deliveries.append(delivery)
                subscription.counts["pending"] += 1
                self._spawn(lambda s=subscription, d=delivery: self._deliver(s, d))

    def _event(self, change: ResourceChange, event_type: str) -> dict[str, Any]:
        caller = change.caller
        provider = change.operation_name.split("/", 1)[0]
        claims = {
            "aud": "https://management.core.windows.net/",
            "iss": f"https://sts.windows.net/{TENANT_ID}/",
            "appid": caller.principal,
            "http://schemas.microsoft.com/identity/claims/objectidentifier": caller.principal,
            "http://schemas.microsoft.com/identity/claims/tenantid": TENANT_ID,
            "ver": "1.0",
        }
        return {
            "id": str(uuid.uuid4()),
            "topic": f"/subscriptions/{change.subscription}",
            "subject": change.resource_id,
            "eventType": event_type,
            "eventTime": event_time(change.time),
            "data": {
                "authorization": {
                    "scope": change.resource_id,
                    "action": change.operation_name,
                    "evidence": {"role": "Contributor"},
                },
                "claims": claims,
                "correlationId": caller.correlation_id,
                "httpRequest": {
                    "clientRequestId": caller.request_id,
                    "clientIpAddress": "127.0.0.1",
                    "method": caller.method,
                    "url": caller.url,
                },
                "resourceProvider": provider,
                "resourceUri": change.resource_id,
                "operationName": change.operation_name,
                "status": change.status,
                "subscriptionId": change.subscription,
                "tenantId": TENANT_ID,
            },
            "dataVersion": "2",
            "metadataVersion": "1",
        }

    # --- tasks -------------------------------------------------------------------------

    def _spawn(self, make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``make()`` as a task on the running loop (later, if there is none yet)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._backlog.append(make)
            return
        backlog, self._backlog = self._backlog, []
        for pending in [*backlog, make]:
            task = loop.create_task(pending())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def kick(self) -> None:
        """Start work queued while no event loop was running."""
        if self._backlog:
            make = self._backlog.pop()
            self._spawn(make)

    async def _post(
        self, url: str, payload: list[dict[str, Any]], headers: dict[str, str]
    ) -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=ATTEMPT_TIMEOUT_SECONDS)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, json=payload, headers=headers) as response,
        ):
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
            return response.status, body

    async def _validate(self, subscription: EventSubscription) -> None:
        world = self.world
        event = {
            "id": str(uuid.uuid4()),
            "topic": f"/subscriptions/{subscription.subscription_id or '*'}",
            "subject": "",
            "data": {
                "validationCode": subscription.validation_code,
                "validationUrl": subscription.validation_url,
            },
            "eventType": VALIDATION_EVENT,
            "eventTime": event_time(world.now()),
            "metadataVersion": "1",
            "dataVersion": "2",
        }
        headers = {
            "aeg-event-type": "SubscriptionValidation",
            "aeg-subscription-name": subscription.name,
            "aeg-data-version": "2",
            "aeg-metadata-version": "1",
        }
        try:
            status, body = await self._post(subscription.url, [event], headers)
            answered = body.get("validationResponse") if isinstance(body, dict) else None
            if status == 200 and answered == subscription.validation_code:
                if subscription.provisioning_state == "Creating":
                    subscription.provisioning_state = "Succeeded"
                log.info("event subscription %s validated", redact(subscription.url))
                return
            subscription.validation_error = f"the webhook answered {status} without the code"
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            subscription.validation_error = f"{type(err).__name__}: {err}"
        if subscription.provisioning_state != "Creating":
            return
        subscription.provisioning_state = "AwaitingManualAction"
        log.info(
            "event subscription %s not validated (%s); awaiting the validation URL",
            redact(subscription.url),
            subscription.validation_error,
        )

        def lapse(when: float) -> None:
            if subscription.provisioning_state == "AwaitingManualAction":
                subscription.provisioning_state = "Failed"

        world.at(world.now() + MANUAL_VALIDATION_SECONDS, lapse)

    async def _deliver(self, subscription: EventSubscription, delivery: Delivery) -> None:
        semaphore = self._semaphores.setdefault(
            subscription.id, asyncio.Semaphore(MAX_CONCURRENT_PER_SUBSCRIPTION)
        )
        world = self.world
        headers = {
            "aeg-event-type": "Notification",
            "aeg-subscription-name": subscription.name,
            "aeg-data-version": delivery.event["dataVersion"],
            "aeg-metadata-version": delivery.event["metadataVersion"],
        }
        counts = subscription.counts
        try:
            while True:
                if subscription.provisioning_state == "Deleted":
                    delivery.status = "Canceled"
                    return
                headers["aeg-delivery-count"] = str(delivery.attempts)
                delivery.attempts += 1
                try:
                    async with semaphore:
                        status, _ = await self._post(subscription.url, [delivery.event], headers)
                    delivery.last_status, delivery.last_error = status, None
                except (aiohttp.ClientError, TimeoutError, OSError) as err:
                    status, delivery.last_error = 0, f"{type(err).__name__}: {err}"
                if 200 <= status <= 204:
                    delivery.status, delivery.delivered_at = "Delivered", world.now()
                    counts["delivered"] += 1
                    return
                counts["failedAttempts"] += 1
                if status in NOT_RETRIED:
                    delivery.status = "Dropped"
                    counts["dropped"] += 1
                    return
                if delivery.attempts >= subscription.max_delivery_attempts:
                    delivery.status = "Dropped"
                    counts["dropped"] += 1
                    return
                index = delivery.attempts - 1
                wait = RETRY_SCHEDULE[index] if index < len(RETRY_SCHEDULE) else RETRY_EVERY
                if world.now() + wait > delivery.published + subscription.ttl_minutes * 60:
                    delivery.status = "Expired"
                    counts["expired"] += 1
                    return
                delivery.status = "Retrying"
                await asyncio.sleep(world.clock.real_seconds(wait))
        finally:
            counts["pending"] -= 1
