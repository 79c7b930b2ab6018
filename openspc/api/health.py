"""App-level routes: ``/``, ``/health`` (liveness) and ``/ready`` (readiness: database and
broker)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app
from marshmallow import fields

from openspc import get_settings
from openspc.api.blueprint import Blueprint
from openspc.api.validation import OneOf, Schema
from openspc.extensions import db, limiter

blp = Blueprint("health", __name__, description="Service health")


class RootSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    docs = fields.String(required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, validate=OneOf(["healthy", "unhealthy"]))


class ReadinessSchema(Schema):
    status = fields.String(required=True, validate=OneOf(["ready", "not_ready"]))
    checks = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True)


@blp.route("/")
@limiter.exempt
@blp.response(200, RootSchema)
def root():
    return {"name": "OpenSPC", "version": get_settings().app_version, "docs": "/docs"}


@blp.route("/health")
@limiter.exempt
@blp.response(200, HealthSchema)
def health():
    """The liveness probe: 200 while the process serves, with the database's state in the
    body (api.md §20). A 503 here made an orchestrator restart every web process during a
    database outage, which restarts cannot cure; ``/ready`` is the probe that fails then."""
    return {"status": "healthy" if _database_ok() else "unhealthy"}


@blp.route("/ready")
@limiter.exempt
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, schema=ReadinessSchema, description="Database or broker unavailable")
def ready():
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    ready = all(checks.values())
    return {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503


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
