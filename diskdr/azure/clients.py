"""Credentials and SDK clients built from the settings, once per worker process.

In Azure the credential is ``DefaultAzureCredential`` (the app's managed identity). On the
offline twin a static token is used, and only when the ARM endpoint is a loopback address:
a static token must never be sent anywhere else. Retries, ``Retry-After`` and LRO polling
are the SDK's own policies; we only set the user agent and the CA bundle.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any
from urllib.parse import urlparse

from azure.core.credentials import AccessToken, TokenCredential
from azure.mgmt.compute import ComputeManagementClient

from diskdr import __version__, audit, telemetry
from diskdr.errors import ConfigError
from diskdr.settings import Settings

USER_AGENT = f"diskdr/{__version__}"
RETRY_TOTAL = 8


class EmulatorCredential:
    """A fixed bearer token for the offline twin's emulator (which accepts any token)."""

    def __init__(self, token: str = "diskdr-emulator-token") -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)


def is_loopback_url(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_credential(settings: Settings) -> TokenCredential:
    if settings.credential == "emulator":
        if not is_loopback_url(settings.arm_endpoint):
            raise ConfigError(
                "DISKDR_CREDENTIAL=emulator is refused: DISKDR_ARM_ENDPOINT "
                f"{settings.arm_endpoint!r} is not a loopback address (the static emulator "
                "token is only ever sent to a local emulator)"
            )
        return EmulatorCredential()
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


_REMAINING = "x-ms-ratelimit-remaining-subscription-"


def observe_response(pipeline_response: Any) -> None:
    """Every answer of ARM: a write goes to the audit trail (with its request id), and the
    remaining request budget of the subscription to the telemetry gauge."""
    request, response = pipeline_response.http_request, pipeline_response.http_response
    headers = response.headers
    audit.record(request.method, request.url, response.status_code, headers.get("x-ms-request-id"))
    parts = request.url.split("/subscriptions/", 1)
    if len(parts) < 2:
        return
    subscription = parts[1].split("/", 1)[0].split("?", 1)[0].lower()
    for kind in ("reads", "writes", "deletes"):
        value = headers.get(_REMAINING + kind)
        if value is not None and value.isdigit():
            telemetry.record_throttle(subscription, kind, int(value))


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by every management client."""
    options: dict[str, Any] = {
        "base_url": settings.arm_endpoint,
        "credential_scopes": [f"{settings.arm_endpoint}/.default"],
        "user_agent": USER_AGENT,
        # The SDK's own retry policy (it honours Retry-After), with more status retries than
        # its default 3: diskdr runs in the background, and ARM throttles callers in herds.
        "retry_total": RETRY_TOTAL,
        "retry_status": RETRY_TOTAL,
        # Every answer: writes to the audit trail, the remaining budget to the throttle gauge.
        "raw_response_hook": observe_response,
    }
    if settings.ca_bundle:
        options["connection_verify"] = settings.ca_bundle
    return options


class Clients:
    """The process-wide SDK clients for one set of settings (thread-safe, created lazily)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._credential: TokenCredential | None = None
        self._compute: dict[str, ComputeManagementClient] = {}

    @property
    def credential(self) -> TokenCredential:
        with self._lock:
            if self._credential is None:
                self._credential = make_credential(self.settings)
            return self._credential

    def compute(self, subscription_id: str) -> ComputeManagementClient:
        credential = self.credential
        with self._lock:
            client = self._compute.get(subscription_id)
            if client is None:
                client = ComputeManagementClient(
                    credential, subscription_id, **client_options(self.settings)
                )
                self._compute[subscription_id] = client
            return client
