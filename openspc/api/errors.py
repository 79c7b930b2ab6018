"""The one place that turns errors into the reference's bodies (api.md §E)."""

from __future__ import annotations

import math
import time
from typing import Any

import redis
import structlog
from flask import Flask, current_app, jsonify
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from openspc.api.routing import PathParamInvalid
from openspc.errors import ApiError
from openspc.extensions import db, limiter

log = structlog.get_logger(__name__)

_HTTP_TEXT = {404: "Not Found", 405: "Method Not Allowed"}


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _database_error)
    app.register_error_handler(Exception, _unhandled)


ECHO_CHARS = 100
"""Longest prefix of an input string an error body repeats."""

ECHO_ITEMS = 25
"""Most items of an input list or object an error body repeats (a full subgroup)."""


def bounded(value: Any, depth: int = 0) -> Any:
    """An input as an error body may repeat it: a short prefix of long text, the first
    items of long lists and objects, no deeper than three levels, and valid JSON. A 30 MB
    string used to come back whole in the 422 body."""
    if isinstance(value, str):
        return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + "…"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no Infinity: 1e400 in a body reads as inf
    if isinstance(value, list | dict) and depth >= 3:
        return "…"
    if isinstance(value, list):
        return [bounded(item, depth + 1) for item in value[:ECHO_ITEMS]]
    if isinstance(value, dict):
        return {bounded(key, 3): bounded(item, depth + 1)
                for key, item in list(value.items())[:ECHO_ITEMS]}
    return value


def _detail(detail: Any) -> Any:
    """A 422's items with their inputs bounded; other details as given."""
    if isinstance(detail, list):
        return [{**item, "input": bounded(item.get("input"))} if isinstance(item, dict)
                else item for item in detail]
    return detail


def _api_error(error: ApiError):
    response = jsonify({"detail": _detail(error.detail)})
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _http_error(error: HTTPException):
    if isinstance(error, PathParamInvalid):
        response = jsonify({"detail": _detail(error.items)})
    elif error.code == 413:
        limit = current_app.config["MAX_CONTENT_LENGTH"]
        response = jsonify({"detail": f"Request body larger than {limit} bytes"})
    elif error.code == 429:
        response = jsonify({"detail": f"Rate limit exceeded: {error.description}"})
        response.headers["Retry-After"] = str(_seconds_until_retry(error))
    else:
        detail = _HTTP_TEXT.get(error.code) or error.name
        response = jsonify({"detail": detail})
    response.status_code = error.code or 500
    if error.code == 405:
        allowed = error.get_headers()
        response.headers.extend([h for h in allowed if h[0] == "Allow"])
    return response


def _seconds_until_retry(error: HTTPException) -> int:
    """Seconds until the breached window ends: given by the raiser (the per-key limit), else
    read from Flask-Limiter's breached route limit. If its storage (Redis) cannot say, the
    whole window, which is never too early."""
    given = getattr(error, "retry_after", None)
    if isinstance(given, int):
        return max(1, given)
    breached = limiter.current_limit
    if breached is None:
        return 1
    try:
        return max(1, math.ceil(breached.window.reset_time - time.time()))
    except redis.RedisError:
        return breached.limit.limit.get_expiry()


def _database_error(error: DBAPIError):
    """A lost or refused database connection (a restart, a network cut, a deadlock victim)
    is 503 with ``Retry-After``, not 500: the unit of work rolled back, nothing of the request
    was stored, and retrying is the right thing for a client or a device to do. The pool
    drops the dead connections, so the retry gets a fresh one."""
    if not (isinstance(error, OperationalError) or error.connection_invalidated):
        return _unhandled(error)
    log.warning("database_unavailable", error=str(error.orig).strip())
    db.session.rollback()
    response = jsonify({"detail": "Database unavailable, please retry"})
    response.status_code = 503
    response.headers["Retry-After"] = "1"
    return response


def _unhandled(error: Exception):
    log.exception("unhandled_error", error=type(error).__name__)
    response = jsonify({"detail": "Internal Server Error"})
    response.status_code = 500
    return response
