"""Azure Monitor export, on when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)
SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"


def configure_telemetry(
    environ: Mapping[str, str] | None = None,
    configure: Callable[..., None] | None = None,
) -> bool:
    """Turn on the Azure Monitor OpenTelemetry distro if the connection string is set.

    Returns whether it was turned on. ``configure`` is the distro's
    ``configure_azure_monitor`` (a parameter so that tests need no network).
    """
    env = os.environ if environ is None else environ
    connection_string = env.get(SETTING, "").strip()
    if not connection_string:
        return False
    if configure is None:
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure = configure_azure_monitor
    # The root logger: diskdr's domain, triggers, orchestrations and activities alike.
    configure(connection_string=connection_string)
    log.info("Azure Monitor export is on")
    return True
