"""The Durable extension's HTTP management API (``/runtime/webhooks/durabletask/...``).

Served twice, as on the real host: under ``/runtime/webhooks/durabletask/`` with a key
(the URLs of ``create_check_status_response``), and under ``/durabletask/`` without one
(``rpcBaseUrl``, which ``DurableOrchestrationClient`` calls; loopback only). Status codes
follow the extension: 202 while an instance runs, 200 when it ended, 404 unknown, 410 when
an event or terminate reaches an ended instance, 400 for bad input.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from devhost.engine import Engine, ManagementError, json_text_of_body
from devhost.history import format_time, json_or_text, parse_time, public_history
from devhost.store import Instance


def client_binding(base_url: str, hub: str, key: str) -> dict[str, Any]:
    """The ``durableClient`` binding JSON the app receives (what the extension sends)."""
    webhook = f"{base_url}/runtime/webhooks/durabletask"
    query = f"taskHub={hub}&connection=Storage&code={key}"
    instance = f"{webhook}/instances/INSTANCEID"
    return {
        "taskHubName": hub,
        "creationUrls": {
            "createNewInstancePostUri": (
                f"{webhook}/orchestrators/{{functionName}}[/{{instanceId}}]?code={key}"
            ),
            "createAndWaitOnNewInstancePostUri": (
                f"{webhook}/orchestrators/{{functionName}}[/{{instanceId}}]"
                f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&code={key}"
            ),
        },
        "managementUrls": {
            "id": "INSTANCEID",
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        },
        "baseUrl": webhook,
        "requiredQueryStringParameters": query,
        "rpcBaseUrl": f"{base_url}/durabletask/",
        "httpBaseUrl": "",
        "maxGrpcMessageSizeInBytes": 0,
        "grpcHttpClientTimeout": "00:01:40",
    }


def management_payload(binding: dict[str, Any], instance_id: str) -> dict[str, str]:
    urls = {
        key: value.replace("INSTANCEID", instance_id)
        for key, value in binding["managementUrls"].items()
    }
    return urls


def status_json(
    instance: Instance, show_input: bool = True, history: list[dict] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": instance.name,
        "instanceId": instance.instance_id,
        "runtimeStatus": instance.status,
        "input": json_or_text(instance.input) if show_input else None,
        "customStatus": json_or_text(instance.custom_status),
        "output": json_or_text(instance.output),
        "createdTime": format_time(instance.created_time),
        "lastUpdatedTime": format_time(instance.last_updated),
    }
    if history is not None:
        # The extension names it historyEvents; the Python SDK's status object reads history.
        body["historyEvents"] = history
        body["history"] = history
    return body


class ManagementApi:
    """Request handlers over the engine."""

    def __init__(self, engine: Engine, binding: dict[str, Any]) -> None:
        self.engine = engine
        self.binding = binding

    async def handle(self, request: web.Request, prefix: str) -> web.StreamResponse:
        raw = request.rel_url.raw_path[len(prefix) :].strip("/")
        parts = [unquote(part) for part in raw.split("/")] if raw else []
        try:
            return await self._route(request, parts)
        except ManagementError as error:
            if error.status == 400:
                return web.json_response(
                    {"Message": "Bad request", "ExceptionMessage": error.message}, status=400
                )
            return web.json_response({"Message": error.message}, status=error.status)

    async def _route(self, request: web.Request, parts: list[str]) -> web.StreamResponse:
        method = request.method
        if parts[:1] == ["orchestrators"] and len(parts) in (2, 3) and method == "POST":
            return await self._start(request, parts[1], parts[2] if len(parts) == 3 else None)
        if parts[:1] == ["instances"]:
            if len(parts) == 1:
                if method == "GET":
                    return self._list(request)
                if method == "DELETE":
                    return self._purge_by(request)
            elif len(parts) == 2:
                if method == "GET":
                    return self._status(request, parts[1])
                if method == "DELETE":
                    return self._purge(parts[1])
            elif len(parts) == 4 and parts[2] == "raiseEvent" and method == "POST":
                return await self._raise_event(request, parts[1], parts[3])
            elif len(parts) == 3 and method == "POST":
                return await self._instance_action(request, parts[1], parts[2])
        if parts[:1] == ["entities"] and len(parts) == 3:
            if method == "POST":
                return await self._signal_entity(request, parts[1], parts[2])
            if method == "GET":
                return self._read_entity(parts[1], parts[2])
        return web.json_response({"Message": f"No route for {method} {request.path}"}, status=404)

    async def _start(
        self, request: web.Request, name: str, instance_id: str | None
    ) -> web.StreamResponse:
        input_text = await _body_json_text(request)
        instance_id = self.engine.start_new(name, instance_id, input_text)
        timeout = request.query.get("timeout")
        if timeout:
            interval = float(request.query.get("pollingInterval") or 1)
            deadline = asyncio.get_running_loop().time() + float(timeout)
            while asyncio.get_running_loop().time() < deadline:
                instance = self.engine.store.get_instance(instance_id)
                if instance is not None and not instance.is_running:
                    return web.json_response(json_or_text(instance.output), status=200)
                await asyncio.sleep(min(interval, 0.1))
        payload = management_payload(self.binding, instance_id)
        return web.json_response(
            {"id": instance_id, **payload},
            status=202,
            headers={"Location": payload["statusQueryGetUri"], "Retry-After": "10"},
        )

    def _status(self, request: web.Request, instance_id: str) -> web.StreamResponse:
        instance = self.engine.store.get_instance(instance_id)
        if instance is None:
            return web.Response(status=404)
        history = None
        if _flag(request, "showHistory"):
            history = public_history(
                self.engine.history(instance_id), _flag(request, "showHistoryOutput")
            )
        show_input = request.query.get("showInput", "true").lower() != "false"
        body = status_json(instance, show_input, history)
        if instance.is_running:
            payload = management_payload(self.binding, instance_id)
            return web.json_response(
                body,
                status=202,
                headers={"Location": payload["statusQueryGetUri"], "Retry-After": "10"},
            )
        failed_500 = _flag(request, "returnInternalServerErrorOnFailure")
        return web.json_response(
            body, status=500 if instance.status == "Failed" and failed_500 else 200
        )

    def _filtered(self, request: web.Request) -> list[Instance]:
        statuses = [s for s in request.query.get("runtimeStatus", "").split(",") if s]
        try:
            created_from = _time_arg(request, "createdTimeFrom")
            created_to = _time_arg(request, "createdTimeTo")
        except ValueError as error:
            raise ManagementError(400, str(error)) from error
        return self.engine.store.query_instances(
            statuses, created_from, created_to, request.query.get("instanceIdPrefix")
        )

    def _list(self, request: web.Request) -> web.StreamResponse:
        instances = self._filtered(request)
        start = int(
            request.headers.get("x-ms-continuation-token")
            or request.query.get("continuationToken")
            or 0
        )
        top = int(request.query.get("top") or 0) or len(instances)
        page = instances[start : start + top]
        show_input = _flag(request, "showInput")
        headers = {}
        if start + top < len(instances):
            headers["x-ms-continuation-token"] = str(start + top)
        return web.json_response([status_json(i, show_input) for i in page], headers=headers)

    def _purge(self, instance_id: str) -> web.StreamResponse:
        instance = self.engine.store.get_instance(instance_id)
        deleted = self.engine.purge([instance]) if instance is not None else 0
        if not deleted:
            return web.json_response({"instancesDeleted": 0}, status=404)
        return web.json_response({"instancesDeleted": deleted})

    def _purge_by(self, request: web.Request) -> web.StreamResponse:
        if "createdTimeFrom" not in request.query:
            raise ManagementError(400, "createdTimeFrom is required to purge by filter.")
        deleted = self.engine.purge(self._filtered(request))
        if not deleted:
            return web.json_response({"instancesDeleted": 0}, status=404)
        return web.json_response({"instancesDeleted": deleted})

    async def _raise_event(
        self, request: web.Request, instance_id: str, event_name: str
    ) -> web.StreamResponse:
        input_text = await _body_json_text(request)
        self.engine.raise_event(instance_id, event_name, input_text)
        return web.Response(status=202)

    async def _instance_action(
        self, request: web.Request, instance_id: str, action: str
    ) -> web.StreamResponse:
        if action == "terminate":
            self.engine.terminate(instance_id, request.query.get("reason", ""))
            return web.Response(status=202)
        if action == "restart":
            instance = self.engine.store.get_instance(instance_id)
            if instance is None:
                raise ManagementError(404, f"No instance with ID '{instance_id}' found.")
            new_id = None
            if request.query.get("restartWithNewInstanceId", "true").lower() == "false":
                new_id = instance_id
            started = self.engine.start_new(instance.name, new_id, instance.input)
            return web.json_response(started, status=202)
        raise ManagementError(501, f"'{action}' is not supported by devhost (see docs/devhost.md).")

    async def _signal_entity(self, request: web.Request, name: str, key: str) -> web.StreamResponse:
        operation = request.query.get("op")
        if not operation:
            raise ManagementError(400, "The 'op' query parameter is required.")
        input_text = await _body_json_text(request)
        self.engine.signal_entity(f"@{name.lower()}@{key}", operation, input_text)
        return web.Response(status=202)

    def _read_entity(self, name: str, key: str) -> web.StreamResponse:
        state, exists = self.engine.store.get_entity(f"@{name.lower()}@{key}")
        if not exists:
            return web.Response(status=404)
        return web.Response(text=state or "null", content_type="application/json")


async def _body_json_text(request: web.Request) -> str | None:
    body = await request.read()
    try:
        return json_text_of_body(body)
    except ValueError as error:
        raise ManagementError(400, "Only application/json request content is supported.") from error


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() == "true"


def _time_arg(request: web.Request, name: str) -> float | None:
    text = request.query.get(name)
    if not text:
        return None
    try:
        return parse_time(text)
    except (ValueError, OverflowError) as error:
        raise ValueError(f"{name}: not an ISO 8601 time: {text!r}") from error
