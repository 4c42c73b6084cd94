"""App settings (environment variables) of diskdr, read and checked in one place.

DESIGN's settings table is the contract; the extra ``DISKDR_*`` knobs below are documented
in ``docs/operations.md``. Errors name the setting and say what was expected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from diskdr.errors import ConfigError, ScheduleError
from diskdr.policy import parse_duration
from diskdr.schedule import Cron

_SUBSCRIPTION_ID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
CREDENTIAL_MODES = ("default", "emulator")
AZURE_PUBLIC_ARM = "https://management.azure.com"
DEFAULT_TICK_SCHEDULE = "0 */5 * * * *"
DEFAULT_PURGE_SCHEDULE = "0 17 3 * * *"  # daily, 03:17 UTC
#: The policy as text in an app setting (infra/ sets it from the ``policy`` parameter).
POLICY_TEXT = "DISKDR_POLICY_TEXT"


def parse_duration_setting(name: str, text: str) -> timedelta:
    """An ISO 8601 duration as the policy file reads them (``PT2H``, ``P1DT12H``), or zero."""
    try:
        return parse_duration(text, allow_zero=True)
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from None


def _int_setting(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {text!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}: expected an integer from {low} to {high}, got {value}")
    return value


def _bool_setting(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, got {text!r}")


def tick_schedule(environ: Mapping[str, str] | None = None) -> str:
    """``DISKDR_TICK_SCHEDULE`` (DESIGN's default when unset), checked as NCRONTAB."""
    env = os.environ if environ is None else environ
    text = env.get("DISKDR_TICK_SCHEDULE", "").strip() or DEFAULT_TICK_SCHEDULE
    try:
        Cron.parse(text)
    except ScheduleError as error:
        raise ConfigError(f"DISKDR_TICK_SCHEDULE: {error}") from None
    return text


def indexed_tick_schedule(environ: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """The schedule to register the timer with when the app is indexed, and the error.

    A bad ``DISKDR_TICK_SCHEDULE`` must not stop the app from loading (every function
    would be down): the timer is registered with DESIGN's default instead, and the
    error is returned so that the tick can fail loudly on every run and the health
    endpoint can report it.
    """
    try:
        return tick_schedule(environ), None
    except ConfigError as error:
        return DEFAULT_TICK_SCHEDULE, str(error)


def _buckets(text: str) -> tuple[tuple[str, float, float], ...]:
    """``DISKDR_ARM_BUCKETS``: ``reads=250/25,writes=200/10,deletes=200/10`` (burst/refill
    per second); kinds left out keep ARM's documented bucket."""
    buckets = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        kind, _, spec = item.partition("=")
        burst, _, rate = spec.partition("/")
        try:
            values = (float(burst), float(rate))
        except ValueError:
            values = (0.0, 0.0)
        if kind.strip() not in ("reads", "writes", "deletes") or min(values) <= 0:
            raise ConfigError(
                f"DISKDR_ARM_BUCKETS: expected kind=burst/rate items (kinds reads, writes, "
                f"deletes; positive numbers), got {item!r}"
            )
        buckets.append((kind.strip(), *values))
    return tuple(buckets)


def purge_schedule(environ: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """``DISKDR_PURGE_SCHEDULE`` (NCRONTAB, default daily) and its error, as
    :func:`indexed_tick_schedule`: a bad value falls back to the default instead of
    failing the app's import."""
    env = os.environ if environ is None else environ
    text = env.get("DISKDR_PURGE_SCHEDULE", "").strip() or DEFAULT_PURGE_SCHEDULE
    try:
        Cron.parse(text)
    except ScheduleError as error:
        return DEFAULT_PURGE_SCHEDULE, f"DISKDR_PURGE_SCHEDULE: {error}"
    return text, None


def _purge_after(env: Mapping[str, str], catch_up_window: timedelta) -> timedelta:
    """``DISKDR_PURGE_AFTER`` (default: the catch-up window), never inside the window: the
    scheduler tick reads a cycle instance's existence to start each slot once."""
    text = env.get("DISKDR_PURGE_AFTER", "").strip()
    if not text:
        return catch_up_window
    value = parse_duration_setting("DISKDR_PURGE_AFTER", text)
    if value < catch_up_window:
        raise ConfigError(
            f"DISKDR_PURGE_AFTER: expected at least the catch-up window ({catch_up_window}), "
            f"got {value}: a purged cycle inside the window would run again"
        )
    return value


def _duration(
    env: Mapping[str, str], name: str, default: str, minimum: timedelta = timedelta(seconds=1)
) -> timedelta:
    value = parse_duration_setting(name, env.get(name, "").strip() or default)
    if value < minimum:
        raise ConfigError(
            f"{name}: expected at least {int(minimum.total_seconds())} s, got {value}"
        )
    return value


@dataclass(frozen=True)
class Settings:
    """Everything diskdr reads from its environment."""

    subscription_ids: tuple[str, ...]
    install_id: str
    policy_file: Path
    # The policy itself, as deployed by the Bicep parameter (wins over the file when set).
    policy_text: str | None = None
    arm_endpoint: str = AZURE_PUBLIC_ARM
    ca_bundle: str | None = None
    credential: str = "default"
    tick_schedule: str = DEFAULT_TICK_SCHEDULE
    vm_batch_size: int = 10
    vms_in_flight: int = 100
    max_copies_per_region: int = 50
    prune_dry_run: bool = False
    group_deadline: timedelta = timedelta(hours=2)
    copy_deadline: timedelta = timedelta(hours=24)
    catch_up_window: timedelta = timedelta(days=1)
    debounce: timedelta = timedelta(minutes=15)
    # Throttle-aware pacing of ARM calls (diskdr.azure.clients.ArmPacing) and the buckets
    # it assumes: (kind, burst, refill per second); empty = ARM's documented ones.
    arm_pacing: bool = True
    arm_buckets: tuple[tuple[str, float, float], ...] = ()
    purge_after: timedelta = timedelta(days=1)  # finished instances older than this go

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        subscriptions = tuple(
            s.strip() for s in env.get("DISKDR_SUBSCRIPTION_IDS", "").split(",") if s.strip()
        )
        if not subscriptions:
            raise ConfigError("DISKDR_SUBSCRIPTION_IDS: required, a comma list of subscription ids")
        for subscription in subscriptions:
            if not _SUBSCRIPTION_ID.match(subscription):
                raise ConfigError(
                    f"DISKDR_SUBSCRIPTION_IDS: {subscription!r} is not a subscription id (a GUID)"
                )
        install_id = env.get("DISKDR_INSTALL_ID", "").strip()
        if not install_id:
            raise ConfigError("DISKDR_INSTALL_ID: required, the value of the diskdr-owner tag")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", install_id):
            raise ConfigError(
                "DISKDR_INSTALL_ID: expected 1-63 letters, digits, '.', '_' or '-' "
                f"starting with a letter or digit, got {install_id!r}"
            )
        credential = env.get("DISKDR_CREDENTIAL", "").strip().lower() or "default"
        if credential not in CREDENTIAL_MODES:
            raise ConfigError(
                f"DISKDR_CREDENTIAL: expected one of {', '.join(CREDENTIAL_MODES)}, "
                f"got {credential!r}"
            )
        endpoint = (env.get("DISKDR_ARM_ENDPOINT", "").strip() or AZURE_PUBLIC_ARM).rstrip("/")
        if not endpoint.startswith("https://"):
            raise ConfigError(f"DISKDR_ARM_ENDPOINT: expected an https:// URL, got {endpoint!r}")
        root = Path(env.get("AzureWebJobsScriptRoot") or os.getcwd())
        policy_file = Path(env.get("DISKDR_POLICY_FILE", "").strip() or "policies.yaml")
        ca_bundle = env.get("DISKDR_CA_BUNDLE", "").strip() or None
        if ca_bundle and not Path(ca_bundle).is_absolute():
            ca_bundle = str(root / ca_bundle)
        catch_up_window = _duration(env, "DISKDR_CATCH_UP_WINDOW", "P1D")
        return cls(
            subscription_ids=subscriptions,
            install_id=install_id,
            policy_file=policy_file if policy_file.is_absolute() else root / policy_file,
            policy_text=env.get(POLICY_TEXT, "").strip() or None,
            arm_endpoint=endpoint,
            ca_bundle=ca_bundle,
            credential=credential,
            # The schedule the timer runs on: a bad value is the timer's failure (it
            # refuses to tick, /api/health names it), not every function's.
            tick_schedule=indexed_tick_schedule(env)[0],
            vm_batch_size=_int_setting(env, "DISKDR_VM_BATCH_SIZE", 10, 1, 500),
            vms_in_flight=_int_setting(env, "DISKDR_MAX_VMS_IN_FLIGHT", 100, 1, 1000),
            # Half of Azure's 100: the cap is shared with copies other tools make.
            max_copies_per_region=_int_setting(env, "DISKDR_MAX_COPIES_PER_REGION", 50, 1, 100),
            prune_dry_run=_bool_setting(env, "DISKDR_PRUNE_DRY_RUN", False),
            group_deadline=_duration(env, "DISKDR_GROUP_DEADLINE", "PT2H"),
            copy_deadline=_duration(env, "DISKDR_COPY_DEADLINE", "P1D"),
            catch_up_window=catch_up_window,
            debounce=_duration(env, "DISKDR_DEBOUNCE", "PT15M", timedelta(minutes=1)),
            arm_pacing=_bool_setting(env, "DISKDR_ARM_PACING", True),
            arm_buckets=_buckets(env.get("DISKDR_ARM_BUCKETS", "")),
            purge_after=_purge_after(env, catch_up_window),
        )
