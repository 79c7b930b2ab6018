"""Domain errors raised by services and views; one handler turns them into the API's shape."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error with an HTTP status and the reference's ``{"detail": ...}`` body."""

    status = 500

    def __init__(self, detail: Any, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class ValidationFailed(ApiError):
    """422 with the list of ``{type, loc, msg, input}`` items, one per failing field."""

    status = 422


class ServiceUnavailable(ApiError):
    status = 503


def field_error(
    loc: list, msg: str, value: Any = None, kind: str = "value_error"
) -> ValidationFailed:
    """A 422 for one field, for checks that only a service can make (e.g. chart type vs size)."""
    return ValidationFailed([{"type": kind, "loc": loc, "msg": msg, "input": value}])


class InsufficientStorage(ApiError):
    status = 507
