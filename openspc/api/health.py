"""App-level routes: ``/``, ``/health`` (liveness) and ``/ready`` (readiness: database and
broker)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, jsonify

from openspc import get_settings
from openspc.api.blueprint import Blueprint
from openspc.extensions import db, limiter

blp = Blueprint("health", __name__, description="Service health")


@blp.route("/")
@limiter.exempt
def root():
    return jsonify(name="OpenSPC", version=get_settings().app_version, docs="/docs")


@blp.route("/health")
@limiter.exempt
def health():
    """The liveness probe: 200 while the process serves, with the database's state in the
    body (api.md §20). A 503 here made an orchestrator restart every web process during a
    database outage, which restarts cannot cure; ``/ready`` is the probe that fails then."""
    return jsonify(status="healthy" if _database_ok() else "unhealthy")


@blp.route("/ready")
@limiter.exempt
def ready():
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    response = jsonify(status="ready" if all(checks.values()) else "not_ready", checks=checks)
    response.status_code = 200 if all(checks.values()) else 503
    return response


def _database_ok() -> bool:
    try:
        db.session.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        db.session.rollback()
        return False


def _broker_ok() -> bool:
    settings = get_settings()
    if settings.embedded:
        return True
    try:
        with current_app.extensions["celery"].connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False
