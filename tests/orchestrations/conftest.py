"""Shared helpers of the orchestrator tests: reach the generator behind a v2 decorator."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from azure.functions.decorators.function_app import FunctionBuilder


def orchestrator_handle(builder: FunctionBuilder) -> Callable[[Any], str]:
    """The SDK's ``Orchestrator.create(fn)`` handle that ``@bp.orchestration_trigger`` made.

    With the v2 programming model the decorator returns a ``FunctionBuilder`` whose
    ``Function`` holds the handle the worker calls with the orchestration's JSON.
    """
    handle = builder._function.get_user_function()
    if not hasattr(handle, "orchestrator_function"):
        raise TypeError(f"{builder._function.get_function_name()} is not an orchestrator")
    return handle


def orchestrator_function(builder: FunctionBuilder) -> Callable[[Any], Generator]:
    """The user's generator function behind an orchestrator's ``FunctionBuilder``."""
    return orchestrator_handle(builder).orchestrator_function  # type: ignore[attr-defined]
