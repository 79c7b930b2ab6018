"""Database administration (api.md §16): admin only, rate-limited per client address, in the
reference's order (role, then validation, then the limit). ``/backups`` is ours: the
backups recorded in OPENSPC_BACKUP_DIR, and how a client polls a backup still running."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields

from openspc.api.blueprint import Blueprint
from openspc.api.validation import OneOf, Schema
from openspc.auth.current import current_user
from openspc.auth.roles import require_role
from openspc.dbadmin.connection import DATABASE_PATTERN, DIALECTS, HOST_PATTERN
from openspc.extensions import limiter
from openspc.services import database_admin as service

blp = Blueprint("database_admin", __name__, url_prefix="/api/v1/database",
                description="Database administration")


def _matches(pattern, message: str):
    def check(value: str) -> None:
        if value and not pattern.match(value):
            raise ValidationError(f"Value error, {message}")
    return check


class OptionValue(fields.Field):
    """A connection option's value: a string, an integer or a boolean."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, (str, int, bool)):
            return value
        raise ValidationError("Input should be a valid string")


class DatabaseConfigRequest(Schema):
    dialect = fields.String(required=True, validate=OneOf(DIALECTS))
    host = fields.String(load_default="", validate=_matches(HOST_PATTERN, "Invalid hostname"))
    port = fields.Integer(load_default=0, strict=False)
    database = fields.String(load_default="",
                             validate=_matches(DATABASE_PATTERN, "Invalid database name"))
    username = fields.String(load_default="")
    password = fields.String(load_default="", load_only=True)
    options = fields.Dict(keys=fields.String(), values=OptionValue(), load_default=dict)


class DatabaseConfigResponse(Schema):
    dialect = fields.String()
    host = fields.String()
    port = fields.Integer()
    database = fields.String()
    username = fields.String()
    has_password = fields.Boolean()
    options = fields.Dict()


class ConnectionTestResult(Schema):
    success = fields.Boolean()
    message = fields.String()
    latency_ms = fields.Float(allow_none=True)
    server_version = fields.String(allow_none=True)


class DatabaseStatusResponse(Schema):
    dialect = fields.String()
    is_connected = fields.Boolean()
    version = fields.String()
    table_count = fields.Integer()
    database_size_mb = fields.Float(allow_none=True)
    migration_current = fields.String(allow_none=True)
    migration_head = fields.String(allow_none=True)
    is_up_to_date = fields.Boolean()


class MigrationStatusResponse(Schema):
    current_revision = fields.String(allow_none=True)
    head_revision = fields.String(allow_none=True)
    pending_count = fields.Integer()
    is_up_to_date = fields.Boolean()


class BackupQuery(Schema):
    backup_dir = fields.String(load_default=None)


class BackupResult(Schema):
    """The reference's four fields, then what is recorded of every backup; a backup still
    running after a few seconds answers 202 with ``task_id`` and the URL to ``poll``."""

    message = fields.String()
    path = fields.String()
    directory = fields.String()
    size_mb = fields.Float()
    name = fields.String()
    dialect = fields.String()
    status = fields.String()
    started_at = fields.String()
    finished_at = fields.String(allow_none=True)
    duration_ms = fields.Float(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True)
    error = fields.String(allow_none=True)
    task_id = fields.String()
    poll = fields.String()


class MaintenanceMessage(Schema):
    message = fields.String()


@blp.route("/config", methods=["GET"])
@require_role("admin")
@limiter.limit("60/minute")
@blp.response(200, DatabaseConfigResponse)
def get_config():
    return service.read_config(current_user())


@blp.route("/config", methods=["PUT"])
@require_role("admin")
@blp.arguments(DatabaseConfigRequest)
@limiter.limit("10/minute")
@blp.response(200, DatabaseConfigResponse)
def put_config(body: dict[str, Any]):
    """Saved for the next start (the password encrypted; empty keeps the saved one)."""
    return service.save_config(current_user(), body)


@blp.route("/test", methods=["POST"])
@require_role("admin")
@blp.arguments(DatabaseConfigRequest)
@limiter.limit("5/minute")
@blp.response(200, ConnectionTestResult)
def test_connection(body: dict[str, Any]):
    return service.test_connection(current_user(), body)


@blp.route("/status", methods=["GET"])
@require_role("admin")
@limiter.limit("60/minute")
@blp.response(200, DatabaseStatusResponse)
def get_status():
    return service.read_status()


@blp.route("/backup", methods=["POST"])
@require_role("admin")
@blp.arguments(BackupQuery, location="query")
@limiter.limit("2/minute")
@blp.response(200, BackupResult)
@blp.alt_response(202, schema=BackupResult, description="Still running: poll the backup")
def create_backup(query: dict[str, Any]):
    status, body = service.request_backup(current_user(), query["backup_dir"])
    return body, status


@blp.route("/backups", methods=["GET"])
@require_role("admin")
@limiter.limit("60/minute")
@blp.response(200, BackupResult(many=True))
def list_backups():
    return service.list_backups()


@blp.route("/backups/<string:name>", methods=["GET"])
@require_role("admin")
@limiter.limit("60/minute")
@blp.response(200, BackupResult)
def get_backup(name: str):
    return service.read_backup(name)


@blp.route("/vacuum", methods=["POST"])
@require_role("admin")
@limiter.limit("1/minute")
@blp.response(200, MaintenanceMessage)
def vacuum():
    return service.vacuum(current_user())


@blp.route("/migrations", methods=["GET"])
@require_role("admin")
@limiter.limit("60/minute")
@blp.response(200, MigrationStatusResponse)
def get_migrations():
    return service.read_migrations()
