"""What the database is: dialect, server version, size, tables, and where its schema stands
against the migrations shipped with this code.

The migration scripts are found through Flask-Migrate's own configuration (the directory
``create_app`` gave it), so the answer does not depend on the working directory as the
reference's ``script_location="alembic"`` did.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
import structlog
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy.engine import Connection, Engine

from openspc.dbadmin.connection import dialect_of

log = structlog.get_logger(__name__)

VERSION_QUERIES = {
    "sqlite": "SELECT sqlite_version()",
    "postgresql": "SELECT version()",
    "mysql": "SELECT VERSION()",
    "mssql": "SELECT @@VERSION",
}
_TABLE_COUNT = {
    "sqlite": "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
              " AND name NOT LIKE 'sqlite_%'",
    "postgresql": "SELECT count(*) FROM information_schema.tables"
                  " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    "mysql": "SELECT count(*) FROM information_schema.tables"
             " WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'",
    "mssql": "SELECT count(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE'",
}
_SIZE_BYTES = {
    "sqlite": "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
    "postgresql": "SELECT pg_database_size(current_database())",
    "mysql": "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables"
             " WHERE table_schema = DATABASE()",
}


@dataclass
class MigrationStatus:
    current_revision: str | None
    head_revision: str | None
    pending_count: int
    is_up_to_date: bool


@dataclass
class DatabaseStatus:
    dialect: str
    is_connected: bool
    version: str
    table_count: int
    database_size_mb: float | None
    migration_current: str | None
    migration_head: str | None
    is_up_to_date: bool


def script_directory() -> ScriptDirectory:
    migrate = current_app.extensions["migrate"]
    return ScriptDirectory.from_config(migrate.migrate.get_config(migrate.directory))


def migration_status(engine: Engine) -> MigrationStatus:
    """Current and head revisions; on any error both unknown and not up to date (as the
    reference), with the reason in the log."""
    try:
        scripts = script_directory()
        head = scripts.get_current_head()
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        pending = _pending(scripts, current, head)
    except Exception as exc:
        log.warning("migration_status_failed", error=type(exc).__name__)
        return MigrationStatus(None, None, 0, False)
    return MigrationStatus(current, head, pending, current == head)


def _pending(scripts: ScriptDirectory, current: str | None, head: str | None) -> int:
    if head is None or current == head:
        return 0
    return len(list(scripts.iterate_revisions(head, current or "base")))


def database_size_bytes(connection: Connection) -> int | None:
    """None for MSSQL (the reference gives no size there either)."""
    query = _SIZE_BYTES.get(dialect_of(connection.engine.url))
    return int(connection.execute(sa.text(query)).scalar_one()) if query else None


def database_status(engine: Engine) -> DatabaseStatus:
    dialect = dialect_of(engine.url)
    migrations = migration_status(engine)
    try:
        with engine.connect() as connection:
            version = str(connection.execute(sa.text(VERSION_QUERIES[dialect])).scalar_one())
            tables = int(connection.execute(sa.text(_TABLE_COUNT[dialect])).scalar_one())
            size = database_size_bytes(connection)
    except Exception as exc:
        log.warning("database_status_failed", error=type(exc).__name__)
        return DatabaseStatus(dialect, False, "Unknown", 0, None, migrations.current_revision,
                              migrations.head_revision, migrations.is_up_to_date)
    return DatabaseStatus(
        dialect, True, version, tables, None if size is None else round(size / 2**20, 2),
        migrations.current_revision, migrations.head_revision, migrations.is_up_to_date,
    )
