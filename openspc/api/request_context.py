"""Request ids: bound to every log line of a request and echoed in ``X-Request-ID``."""

from __future__ import annotations

import time
import uuid

import structlog
from flask import Flask, g, request

from openspc import metrics

log = structlog.get_logger("openspc.access")


def init_request_context(app: Flask) -> None:
    @app.before_request
    def _bind_request_id() -> None:
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        g.request_started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)

    @app.after_request
    def _log_access(response):
        request_id = getattr(g, "request_id", None)
        if request_id:
            response.headers["X-Request-ID"] = request_id
            elapsed = time.perf_counter() - g.request_started
            log.info(
                "request", method=request.method, path=request.path,
                status=response.status_code, duration_ms=round(elapsed * 1000, 2),
            )
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            metrics.observe_request(request.method, route, response.status_code, elapsed)
        return response
