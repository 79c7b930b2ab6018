"""Bearer user or API key: the authentication of the data-entry routes (api.md §9).

A valid ``Authorization: Bearer`` access token wins; otherwise ``X-API-Key`` is tried. Bad,
inactive, expired or unknown keys all get the same 401 ``Not authenticated`` so that a
caller learns nothing about which keys exist.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

import redis
import structlog
from flask import g, request
from limits import RateLimitItemPerMinute
from werkzeug.exceptions import TooManyRequests

from openspc.auth.api_keys import allows_characteristic
from openspc.auth.current import BEARER, Caller, bearer_user
from openspc.auth.roles import enforce_password_change
from openspc.errors import Forbidden, Unauthorized
from openspc.extensions import limiter
from openspc.models import ApiKey
from openspc.services.api_keys import authenticate_api_key

log = structlog.get_logger(__name__)

API_KEY_HEADER = "X-API-Key"


def user_or_api_key(view: Callable) -> Callable:
    """Authenticate by Bearer token or API key and set ``g.caller`` (401 otherwise).

    A key caller is also held to its own ``rate_limit_per_minute`` (429).
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.caller = authenticate_caller()
        g.current_user = g.caller.user
        return view(*args, **kwargs)

    return wrapper


def authenticate_caller() -> Caller:
    """The caller of this request: Bearer user first, then the ``X-API-Key`` header."""
    user = bearer_user(required=False)
    if user is not None:
        enforce_password_change(user)
        return Caller(user=user)
    presented = request.headers.get(API_KEY_HEADER, "").strip()
    api_key = authenticate_api_key(presented) if presented else None
    if api_key is None:
        raise Unauthorized("Not authenticated", BEARER)
    enforce_api_key_rate_limit(api_key)
    return Caller(api_key=api_key)


def enforce_api_key_rate_limit(api_key: ApiKey) -> None:
    """Count one request against the key's ``rate_limit_per_minute``; 429 beyond it.

    The counter lives in Flask-Limiter's storage (Redis when configured, so it holds across
    processes) under the key's id, not the client IP: a key shared by many gateways has one
    budget. It is checked here rather than with ``@limiter.limit`` because the key is only
    known after authentication, which runs after Flask-Limiter's own request hook. Off when
    the limiter is off (dev mode).
    """
    if not limiter.enabled:
        return
    item = RateLimitItemPerMinute(api_key.rate_limit_per_minute)
    try:
        if limiter.limiter.hit(item, "api_key", api_key.id):
            return
        window_ends = limiter.limiter.get_window_stats(item, "api_key", api_key.id).reset_time
    except redis.RedisError:
        # As the route limits do while Redis is down: serve rather than refuse a device's
        # measurements for want of a counter.
        log.warning("api_key_rate_limit_unavailable", api_key_id=api_key.id)
        return
    raise TooManyRequests(description=str(item),
                          retry_after=max(1, math.ceil(window_ends - time.time())))


def check_api_key_permission(api_key: ApiKey | None, characteristic_id: int) -> None:
    """403 unless the key may write to this characteristic; a user caller (None) passes."""
    if api_key is not None and not allows_characteristic(api_key, characteristic_id):
        raise Forbidden(
            f"API key does not have permission for characteristic {characteristic_id}"
        )
