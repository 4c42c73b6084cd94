"""Typed ARM errors raised by the emulator's models and turned into ARM error bodies.

Every error carries the HTTP status and the Azure error code that Azure itself answers
with, so a model can say "this is a 409 OperationNotAllowed" without knowing about HTTP
responses (the moto habit: the exception knows its status, the model never formats a body).
Sources of each code are listed in ``docs/emulator.md``.
"""

from __future__ import annotations

from typing import Any


class ArmError(Exception):
    """An error answered as ``{"error": {"code", "message", "target"?, "details"?}}``."""

    status = 400
    code = "BadRequest"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.target = target
        self.details = details
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}


class BadRequest(ArmError):
    status = 400
    code = "BadRequest"


class InvalidParameter(ArmError):
    """A request property has an invalid value (``target`` names it)."""

    status = 400
    code = "InvalidParameter"


class InvalidRequestContent(ArmError):
    """The request body is not valid JSON or not an object."""

    status = 400
    code = "InvalidRequestContent"


class MissingApiVersion(ArmError):
    status = 400
    code = "MissingApiVersionParameter"


class InvalidApiVersion(ArmError):
    status = 400
    code = "InvalidApiVersionParameter"


class AuthenticationFailed(ArmError):
    status = 401
    code = "AuthenticationFailed"


class ResourceNotFound(ArmError):
    """ARM's answer for a resource id that does not exist."""

    status = 404
    code = "ResourceNotFound"

    @classmethod
    def for_resource(cls, resource_type: str, name: str, resource_group: str) -> ResourceNotFound:
        return cls(
            f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' "
            "was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
        )


class NotFound(ArmError):
    """The resource provider's own 404 for a referenced resource (e.g. a copy source)."""

    status = 404
    code = "NotFound"


class ResourceGroupNotFound(ArmError):
    status = 404
    code = "ResourceGroupNotFound"

    @classmethod
    def named(cls, name: str) -> ResourceGroupNotFound:
        return cls(f"Resource group '{name}' could not be found.")


class InvalidResourceType(ArmError):
    status = 404
    code = "InvalidResourceType"


class MethodNotAllowed(ArmError):
    status = 405
    code = "MethodNotAllowed"


class Conflict(ArmError):
    status = 409
    code = "Conflict"


class OperationNotAllowed(ArmError):
    """Compute's refusal of an operation that breaks a platform rule or limit."""

    status = 409
    code = "OperationNotAllowed"


class PropertyChangeNotAllowed(ArmError):
    status = 409
    code = "PropertyChangeNotAllowed"


class InvalidResourceLocation(ArmError):
    """A resource of that name exists in the group in another location."""

    status = 409
    code = "InvalidResourceLocation"


class TooManyRequests(ArmError):
    status = 429
    code = "TooManyRequests"


class InternalServerError(ArmError):
    status = 500
    code = "InternalServerError"
