"""Credentials and SDK clients built from the settings, once per worker process.

In Azure the credential is ``DefaultAzureCredential`` (the app's managed identity). On the
offline twin a static token is used, and only when the ARM endpoint is a loopback address:
a static token must never be sent anywhere else. Retries and ``Retry-After`` are the SDK's
own policies; we set the user agent and the CA bundle, observe every answer (audit trail,
throttle gauge), and pace requests from ARM's rate-limit headers (:class:`ArmPacing`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import certifi
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy
from azure.mgmt.compute import ComputeManagementClient

from diskdr import __version__, audit, telemetry
from diskdr.clock import WorldClock, default_clock
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


# --- throttle-aware pacing ------------------------------------------------------------------
#
# ARM throttles each subscription + principal per regional ARM instance with token buckets
# (Learn "Understand how Azure Resource Manager throttles requests": reads 250 burst
# refilled at 25/s, writes and deletes 200 at 10/s) and reports what is left on every
# answer (``x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}``); Compute adds
# its per-resource-type policies (``x-ms-ratelimit-remaining-resource: <policy>;<count>``).
# Backing off only after a 429 makes a herd of activities stall together for Retry-After;
# pacing from the headers keeps each bucket just above empty instead.

KINDS = ("reads", "writes", "deletes")
REMAINING_HEADER = "x-ms-ratelimit-remaining-subscription-{kind}"
RESOURCE_HEADER = "x-ms-ratelimit-remaining-resource"
ROUTING_HEADER = "x-ms-routing-request-id"
# ARM's documented buckets (burst, refill per second); ``DISKDR_ARM_BUCKETS`` overrides.
ARM_BUCKETS: dict[str, tuple[float, float]] = {
    "reads": (250.0, 25.0),
    "writes": (200.0, 10.0),
    "deletes": (200.0, 10.0),
}
# Tokens kept in hand: ARM's count lags a little behind ours (requests of other
# processes of the app, answers still on the wire).
RESERVE = 2.0
# The longest single wait (world seconds) before the budgets are looked at again.
MAX_WAIT_SECONDS = 30.0
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?]+)", re.IGNORECASE)
_WINDOW = re.compile(r"(\d+)(Min|Sec|Hour)s?$", re.IGNORECASE)
_WINDOW_UNITS = {"sec": 1.0, "min": 60.0, "hour": 3600.0}


def request_kind(method: str) -> str:
    """ARM's bucket of a request: GET/HEAD read, DELETE delete, anything else write."""
    method = method.upper()
    if method in ("GET", "HEAD"):
        return "reads"
    return "deletes" if method == "DELETE" else "writes"


def resource_type_of(path: str) -> str:
    """``Microsoft.Compute/snapshots`` of a request path (the last provider type in it)."""
    parts = [p for p in path.split("?")[0].split("/") if p]
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return ""
    start = len(lowered) - 1 - lowered[::-1].index("providers")
    names = parts[start + 1 :]
    if not names:
        return ""
    types = [names[0], *names[1::2]]
    return "/".join(types).lower()


@dataclass
class _Budget:
    """One bucket as the app sees it: ARM's last count, when it was read, and the
    requests sent since (not yet in that count)."""

    burst: float
    rate: float  # tokens per world second
    remaining: float | None = None
    at: float = 0.0
    in_flight: int = 0
    sent_since: int = 0

    def available(self, now: float) -> float:
        if self.remaining is None:
            return self.burst - self.in_flight
        refilled = min(self.burst, self.remaining + max(0.0, now - self.at) * self.rate)
        return refilled - self.sent_since

    def wait(self, now: float) -> float:
        """World seconds until a token can be spent without emptying the bucket."""
        missing = RESERVE + 1 - self.available(now)
        return 0.0 if missing <= 0 else missing / self.rate


class ArmPacing:
    """The budgets of one process, per (subscription, ARM region): ARM's three buckets and
    Compute's per-resource-type policies, kept from the headers of every answer."""

    def __init__(
        self,
        buckets: Mapping[str, tuple[float, float]] | None = None,
        clock: WorldClock | None = None,
    ) -> None:
        self._buckets = dict(buckets or ARM_BUCKETS)
        # Fixed at creation: the budgets' instants are on this clock.
        self._clock = clock or default_clock()
        self._lock = threading.Lock()
        self._arm: dict[tuple[str, str, str], _Budget] = {}
        # Compute's policies: (subscription, region, policy) -> (count, when, window s, most seen)
        self._policies: dict[tuple[str, str, str], tuple[float, float, float, float]] = {}
        # Which policies a (method, resource type) was last charged against.
        self._charges: dict[tuple[str, str], tuple[str, ...]] = {}
        self._region: dict[str, str] = {}  # subscription -> last ARM region seen
        self.waited = 0.0  # world seconds spent waiting (telemetry, the bench)

    @property
    def clock(self) -> WorldClock:
        return self._clock

    def _budget(self, subscription: str, region: str, kind: str) -> _Budget:
        key = (subscription, region, kind)
        budget = self._arm.get(key)
        if budget is None:
            burst, rate = self._buckets[kind]
            budget = self._arm[key] = _Budget(burst, rate)
        return budget

    def before(self, method: str, url: str) -> tuple[str, str, str] | None:
        """Wait until the request fits its budgets, then count it as sent. Returns the
        budget key (None for a URL outside a subscription)."""
        match = _SUBSCRIPTION.search(urlparse(url).path)
        if match is None:
            return None
        subscription = match.group(1).lower()
        kind = request_kind(method)
        charge = (method.upper(), resource_type_of(urlparse(url).path))
        while True:
            with self._lock:
                region = self._region.get(subscription, "")
                budget = self._budget(subscription, region, kind)
                now = self.clock.time()
                wait = max(budget.wait(now), self._policy_wait(subscription, region, charge, now))
                if wait <= 0:
                    budget.in_flight += 1
                    budget.sent_since += 1
                    return subscription, region, kind
            wait = min(wait, MAX_WAIT_SECONDS)  # then look again: answers may have come
            self.waited += wait
            self.clock.sleep(wait)

    def _policy_wait(
        self, subscription: str, region: str, charge: tuple[str, str], now: float
    ) -> float:
        longest = 0.0
        for policy in self._charges.get(charge, ()):
            known = self._policies.get((subscription, region, policy))
            if known is None:
                continue
            count, at, window, most = known
            # A sliding window gives back about ``most / window`` requests per second.
            rate = max(most, 1.0) / window
            missing = RESERVE + 1 - (count + max(0.0, now - at) * rate)
            if missing > 0:
                longest = max(longest, missing / rate)
        return longest

    def after(
        self, key: tuple[str, str, str], method: str, url: str, headers: Mapping[str, str]
    ) -> None:
        """Read an answer's rate-limit headers into the budgets."""
        subscription, region, kind = key
        now = self.clock.time()
        routing = headers.get(ROUTING_HEADER) or ""
        answered_region = routing.split(":", 1)[0].lower() if ":" in routing else region
        with self._lock:
            budget = self._budget(subscription, region, kind)
            budget.in_flight = max(0, budget.in_flight - 1)
            if answered_region != region:
                # ARM moved this subscription's calls to another regional instance (or this
                # is the first answer saying which one): its buckets are its own.
                self._region[subscription] = answered_region
                region = answered_region
                budget = self._budget(subscription, region, kind)
            for each in KINDS:
                value = _int(headers.get(REMAINING_HEADER.format(kind=each)))
                if value is None:
                    continue
                target = self._budget(subscription, region, each)
                target.remaining, target.at = float(value), now
                # Requests still in flight are not in ARM's count yet.
                target.sent_since = target.in_flight
            resource = headers.get(RESOURCE_HEADER)
            if resource:
                charged = []
                for item in resource.split(","):
                    name, _, count = item.strip().rpartition(";")
                    value = _int(count)
                    if not name or value is None:
                        continue
                    charged.append(name)
                    window = _window_seconds(name)
                    old = self._policies.get((subscription, region, name))
                    most = max(float(value), old[3] if old else 0.0)
                    self._policies[(subscription, region, name)] = (float(value), now, window, most)
                self._charges[(method.upper(), resource_type_of(urlparse(url).path))] = tuple(
                    charged
                )

    def failed(self, key: tuple[str, str, str]) -> None:
        """The request got no answer: it no longer counts as in flight."""
        with self._lock:
            budget = self._budget(*key)
            budget.in_flight = max(0, budget.in_flight - 1)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _window_seconds(policy: str) -> float:
    """The window of a Compute policy from its name (``...3Min`` -> 180 s; default 3 min)."""
    match = _WINDOW.search(policy)
    if match is None:
        return 180.0
    return float(match.group(1)) * _WINDOW_UNITS[match.group(2).lower()]


class PacingPolicy(HTTPPolicy):
    """azure-core pipeline policy: each attempt (it sits after the retry policy) waits for
    its budget before it is sent and updates the budgets from its answer."""

    def __init__(self, pacing: ArmPacing) -> None:
        super().__init__()
        self.pacing = pacing

    def send(self, request: PipelineRequest) -> PipelineResponse:
        http = request.http_request
        key = self.pacing.before(http.method, http.url)
        try:
            response = self.next.send(request)
        except Exception:
            if key is not None:
                self.pacing.failed(key)
            raise
        if key is not None:
            self.pacing.after(key, http.method, http.url, response.http_response.headers)
        return response


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
    if settings.arm_pacing:
        # After the retry policy: every try waits for its budget and reads its answer.
        pacing = pacing_for(settings)
        options["per_retry_policies"] = [PacingPolicy(pacing)]
    if settings.ca_bundle:
        options["connection_verify"] = trust_bundle(settings.ca_bundle)
    return options


_bundles: dict[str, str] = {}
_bundles_lock = threading.Lock()


def trust_bundle(extra: str) -> str:
    """A CA file that trusts the public CAs (certifi's bundle, what the SDK trusts by
    default) *and* ``extra`` (``DISKDR_CA_BUNDLE``: an extra CA, such as the emulator's).

    ``connection_verify`` and ``ssl`` take one file, which replaces the trust store: the
    two are joined into a file named by a hash of its content in the temp directory,
    written once (atomically: several workers may start at the same moment) and reused.
    """
    with _bundles_lock:
        found = _bundles.get(extra)
        if found is not None and os.path.exists(found):
            return found
        try:
            with open(extra, "rb") as added, open(certifi.where(), "rb") as public:
                content = public.read().rstrip(b"\n") + b"\n" + added.read()
        except OSError as error:
            raise ConfigError(f"DISKDR_CA_BUNDLE {extra!r} cannot be read: {error}") from None
        digest = hashlib.sha256(content).hexdigest()[:16]
        path = os.path.join(tempfile.gettempdir(), f"diskdr-ca-{digest}.pem")
        if not os.path.exists(path):
            handle, partial = tempfile.mkstemp(prefix="diskdr-ca-", suffix=".part")
            with os.fdopen(handle, "wb") as out:
                out.write(content)
            os.replace(partial, path)
        _bundles[extra] = path
        return path


_pacings: dict[tuple[str, tuple[tuple[str, float, float], ...]], ArmPacing] = {}
_pacings_lock = threading.Lock()


def pacing_for(settings: Settings) -> ArmPacing:
    """The process's one pacing per ARM endpoint: every client of the process (one per
    subscription, compute and restore point ports alike) spends the same budgets."""
    key = (settings.arm_endpoint, settings.arm_buckets)
    with _pacings_lock:
        pacing = _pacings.get(key)
        if pacing is None:
            buckets = {**ARM_BUCKETS, **{k: (b, r) for k, b, r in settings.arm_buckets}}
            pacing = _pacings[key] = ArmPacing(buckets)
        return pacing


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
