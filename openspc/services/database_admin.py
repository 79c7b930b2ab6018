"""Database administration (api.md §16): the saved connection, a connection test, status,
backups, vacuum and the migration state. Every use by an administrator is audit-logged with
the user's name; no password or raw database error leaves this module.

A backup runs as the ``maintenance.backup`` task on the maintenance queue. ``request_backup``
enqueues it and waits up to ``BACKUP_WAIT_SECONDS`` for its record: the client gets the
finished backup (200), or, when it takes longer, the backup's name and task id (202) to poll
with ``GET /api/v1/database/backups/<name>``. With no broker (embedded) it runs in-process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from flask import Flask

from openspc import get_settings
from openspc.config import Settings
from openspc.dbadmin import backup as backups
from openspc.dbadmin.connection import (
    ConnectionRefused,
    check_connection_request,
    describe,
    dialect_of,
    load_saved,
    request_url,
    save,
)
from openspc.dbadmin.status import (
    VERSION_QUERIES,
    database_size_bytes,
    database_status,
    migration_status,
)
from openspc.dbadmin.transfer import TableCopy, TransferError, transfer
from openspc.dbadmin.vacuum import vacuum_database
from openspc.errors import (
    ApiError,
    BadRequest,
    InsufficientStorage,
    NotFound,
    ServiceUnavailable,
)
from openspc.extensions import db
from openspc.models import User

log = structlog.get_logger(__name__)

BACKUP_WAIT_SECONDS = 10.0
TEST_TIMEOUT_SECONDS = 5
_CONNECT_TIMEOUT = {
    "sqlite": {"timeout": TEST_TIMEOUT_SECONDS},
    "postgresql": {"connect_timeout": TEST_TIMEOUT_SECONDS},
    "mysql": {"connect_timeout": TEST_TIMEOUT_SECONDS},
    "mssql": {"timeout": TEST_TIMEOUT_SECONDS},
}


def _audit(user: User, action: str, **details: Any) -> None:
    log.info("database_admin", action=action, user=user.username, **details)


def read_config(user: User) -> dict[str, Any]:
    """The saved configuration, else the running engine's (no password either way)."""
    settings = get_settings()
    saved = load_saved(settings)
    if saved is not None:
        _audit(user, "read_config")
        return saved.public()
    url = db.engine.url
    return {"dialect": dialect_of(url), "host": url.host or "", "port": url.port or 0,
            "database": url.database or "", "username": url.username or "",
            "has_password": bool(url.password), "options": {}}


def save_config(user: User, request: dict[str, Any]) -> dict[str, Any]:
    _check(request)
    if request["dialect"] == "sqlite" and not request.get("database"):
        # The next start would serve an empty in-memory database.
        raise BadRequest("A SQLite configuration needs the database file's path")
    saved = save(get_settings(), request)
    _audit(user, "save_config", dialect=saved.dialect, host=saved.host, port=saved.port,
           database=saved.database, password_changed=bool(request.get("password")))
    return saved.public()


def _check(request: dict[str, Any]) -> None:
    try:
        check_connection_request(request["dialect"], request.get("port", 0),
                                 request.get("options") or {})
    except ConnectionRefused as exc:
        raise BadRequest(str(exc)) from exc


def test_connection(user: User, request: dict[str, Any]) -> dict[str, Any]:
    """Open a throwaway connection (5 s timeout on every dialect) and read the version."""
    _check(request)
    dialect = request["dialect"]
    url = request_url(get_settings(), request)
    _audit(user, "test_connection", dialect=dialect, host=request.get("host", ""),
           port=request.get("port", 0), database=request.get("database", ""))
    if dialect == "sqlite" and not (url.database and Path(url.database).is_file()):
        return {"success": False, "message": f"Database file not found: {url.database}",
                "latency_ms": None, "server_version": None}
    started = time.perf_counter()
    engine = None
    try:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool,
                                  connect_args=_CONNECT_TIMEOUT[dialect])
        with engine.connect() as connection:
            version = str(connection.execute(sa.text(VERSION_QUERIES[dialect])).scalar_one())
    except Exception as exc:  # a missing driver (pyodbc) fails the same way as a refusal
        log.warning("connection_test_failed", dialect=dialect, error=type(exc).__name__)
        return {"success": False, "message": "Connection failed", "latency_ms": None,
                "server_version": None}
    finally:
        if engine is not None:
            engine.dispose()
    return {"success": True, "message": "Connection successful",
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "server_version": version}


def read_status() -> dict[str, Any]:
    return asdict(database_status(db.engine))


def read_migrations() -> dict[str, Any]:
    return asdict(migration_status(db.engine))


def vacuum(user: User) -> dict[str, str]:
    _audit(user, "vacuum")
    db.session.rollback()  # the request's own reads must not hold a lock the vacuum waits on
    try:
        return {"message": vacuum_database(db.engine)}
    except Exception as exc:
        log.error("vacuum_failed", error=type(exc).__name__)
        raise ApiError("Maintenance operation failed") from exc


def vacuum_on_schedule() -> str:
    return vacuum_database(db.engine, scheduled=True)


def backup_directory(settings: Settings, requested: str | None) -> Path:
    """``OPENSPC_BACKUP_DIR`` (created if missing), or an existing directory inside it: the
    reference wrote wherever it was told (ops.md §12, gap 12)."""
    root = settings.backup_directory
    root.mkdir(parents=True, exist_ok=True)
    if not requested:
        return root
    directory = Path(requested)
    if not directory.is_absolute():
        directory = root / directory
    try:
        directory = directory.resolve(strict=True)
    except (OSError, ValueError):  # missing, unreadable, or not a path (a NUL byte)
        directory = None
    if directory is None or not directory.is_dir():
        raise BadRequest(f"Backup directory does not exist: {requested}")
    if directory != root and root not in directory.parents:
        raise BadRequest(f"Backup directory must be inside OPENSPC_BACKUP_DIR ({root})")
    return directory


def request_backup(user: User, requested_dir: str | None) -> tuple[int, dict[str, Any]]:
    """Check, enqueue and wait for a backup: (200, the finished backup) or (202, how to poll)."""
    from openspc.tasks.maintenance import backup as backup_task

    settings = get_settings()
    directory = backup_directory(settings, requested_dir)
    url = db.engine.url
    dialect = dialect_of(url)
    if dialect == "sqlite" and not (url.database and Path(url.database).is_file()):
        raise NotFound("Database file not found")
    with db.engine.connect() as connection:
        size = database_size_bytes(connection) or 0
    try:
        backups.check_free_space(directory, size)
    except backups.InsufficientSpace as exc:
        raise InsufficientStorage(str(exc)) from exc
    name = backups.backup_name(dialect, directory)
    _audit(user, "backup", name=name, directory=str(directory))
    queued = backups.queued_record(directory, name, dialect)
    backups.write_record(queued)
    try:
        task = backup_task.apply_async(kwargs={"directory": str(directory), "name": name})
    except backups.BackupError as exc:
        raise ApiError(str(exc)) from exc
    except Exception as exc:  # the broker is unreachable: nothing will run it
        log.error("backup_enqueue_failed", name=name, error=type(exc).__name__)
        queued.status, queued.error = "failed", "Could not reach the task broker"
        backups.write_record(queued)
        raise ServiceUnavailable("Backup could not be queued: the task broker is unavailable"
                                 ) from exc
    record = _wait_for(directory / (name + backups.SIDECAR), BACKUP_WAIT_SECONDS)
    if record is None or record.status in backups.UNFINISHED:
        return 202, {"message": f"Backup started: {name}", "name": name, "task_id": task.id,
                     "status": record.status if record else "queued",
                     "poll": f"/api/v1/database/backups/{name}"}
    if record.status != "completed":
        raise ApiError(record.error or "Backup failed")
    return 200, backup_response(record)


def _wait_for(sidecar: Path, seconds: float) -> backups.BackupRecord | None:
    deadline = time.monotonic() + seconds
    while True:
        record = backups.read_record(sidecar)
        if (record is not None and record.status not in backups.UNFINISHED) \
                or time.monotonic() > deadline:
            return record
        time.sleep(0.1)


def backup_response(record: backups.BackupRecord) -> dict[str, Any]:
    """The reference's BackupResult, plus what we record of every backup."""
    message = (f"Backup created: {record.name}" if record.status == "completed"
               else f"Backup {record.status}: {record.name}")
    return {"message": message, "path": record.path, "directory": record.directory,
            "size_mb": record.size_mb, **asdict(record)}


def list_backups() -> list[dict[str, Any]]:
    return [backup_response(r) for r in backups.list_backups(get_settings().backup_directory)]


def read_backup(name: str) -> dict[str, Any]:
    for record in backups.list_backups(get_settings().backup_directory):
        if record.name == name:
            return backup_response(record)
    raise NotFound(f"Backup not found: {name}")


def run_backup(directory: str | None = None, name: str | None = None) -> dict[str, Any]:
    """The task's body: back the running database up to ``directory`` (default
    OPENSPC_BACKUP_DIR), then keep the newest OPENSPC_BACKUP_KEEP backups there."""
    settings = get_settings()
    target = Path(directory) if directory else backup_directory(settings, None)
    url = db.engine.url
    record = backups.create_backup(url, target, name or backups.backup_name(
        dialect_of(url), target))
    backups.prune(target, settings.backup_keep)
    return asdict(record)


def transfer_database(source_app: Flask, target_url: str, *, batch_size: int, resume: bool,
                      progress: Callable[[str], None]) -> list[TableCopy]:
    """Migrate the database at ``target_url`` to head, then copy the running database into it
    (``openspc.dbadmin.transfer``); the source must be at head too."""
    from flask_migrate import upgrade

    from openspc import create_app, engine_options

    with source_app.app_context():
        source_state = migration_status(db.engine)
        source = db.engine
    if not source_state.is_up_to_date:
        raise TransferError("The running database is not at the newest migration "
                            f"({source_state.current_revision}): run `openspc migrate` first")
    target_app = create_app({"SQLALCHEMY_DATABASE_URI": target_url,
                             "SQLALCHEMY_ENGINE_OPTIONS": engine_options(target_url)},
                            settings=get_settings(source_app))
    with target_app.app_context():
        progress(f"Migrating {describe(target_url)} to {source_state.head_revision}")
        upgrade()
        target = db.engine
        try:
            return transfer(source, target, db.metadata, batch_size=batch_size, resume=resume,
                            progress=progress)
        finally:
            target.dispose()
