"""Per-dialect connection settings."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from openspc.extensions import db


def configure_engine_events(app: Flask) -> None:
    """SQLite: WAL, foreign keys and a busy timeout on every connection, as the reference."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def dialect_name(engine: Engine | None = None) -> str:
    return (engine or db.engine).dialect.name


def lock_timed_out(error: OperationalError) -> bool:
    """Whether PostgreSQL gave up waiting for a lock (``lock_timeout``, SQLSTATE 55P03)."""
    return getattr(error.orig, "pgcode", None) == "55P03"
