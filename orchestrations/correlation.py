"""Every activity an orchestration calls learns which run it works for.

The Durable extension binds the calling orchestration's ``instanceId`` to an activity
trigger, but the Python worker hands an activity only its input (docs/operations.md,
"Correlating a run's telemetry"). So an orchestrator decorated with :func:`correlated`
sends its instance id along with every activity input (``telemetry.with_caller``), and the
activity side (``telemetry.correlated``) takes it out again before the activity runs: the
orchestrators' code and the activities' inputs stay as they are.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from diskdr.telemetry import with_caller


class CorrelatedContext:
    """An orchestration context whose activity calls carry its instance id; everything
    else is the context's own."""

    def __init__(self, context: Any) -> None:
        self._context = context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def call_activity(self, activity: Any, input_: Any = None) -> Any:
        return self._context.call_activity(activity, with_caller(self.instance_id, input_))

    def call_activity_with_retry(
        self, activity: Any, retry_options: Any, input_: Any = None
    ) -> Any:
        return self._context.call_activity_with_retry(
            activity, retry_options, with_caller(self.instance_id, input_)
        )


def correlated(orchestrator: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Decorate an orchestrator (under ``@bp.orchestration_trigger``): it runs with a
    :class:`CorrelatedContext`."""

    @functools.wraps(orchestrator)
    def run(context: Any) -> Any:
        return orchestrator(CorrelatedContext(context))

    return run
