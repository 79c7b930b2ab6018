"""``GET /metrics``: Prometheus text format, for the operator's scraper.

Who may read it is its own setting: with ``OPENSPC_METRICS_TOKEN`` set, the scraper sends
``Authorization: Bearer <token>`` (Prometheus ``authorization.credentials``); unset, the
route is open, as exporters usually are, and is best kept off the public proxy.
"""

from __future__ import annotations

import hmac

from flask import Response, request

from openspc import get_settings
from openspc.api.blueprint import Blueprint
from openspc.errors import Unauthorized
from openspc.extensions import limiter
from openspc.services.metrics import exposition

blp = Blueprint("metrics", __name__, description="Operational metrics (Prometheus)")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@blp.route("/metrics")
@limiter.exempt
@blp.doc(responses={"200": {"description": "Prometheus text exposition format",
                            "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "401": {"$ref": "#/components/responses/DEFAULT_ERROR"}})
def metrics() -> Response:
    """Queue depth, pending samples and the oldest one's age, evaluation lag, ingest per
    source, unacknowledged violations, outbox backlog and HTTP latency per route."""
    token = get_settings().metrics_token
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            raise Unauthorized("Not authenticated", headers={"WWW-Authenticate": "Bearer"})
    return Response(exposition(), content_type=CONTENT_TYPE)
