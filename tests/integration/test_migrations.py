"""One migration history on every database: up from empty, down to base, and models agree.

The schema is created only by migrations (data-model.md §5), so the models must describe
exactly what the migrations build: alembic's autogenerate comparison finds no difference.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from openspc import create_app
from openspc.config import load_settings
from openspc.extensions import db

pytestmark = pytest.mark.integration

DATABASE = "openspc_migrations_test"
MSSQL_URL = "mssql+pyodbc://spc:pw@mssql:1433/openspc?driver=ODBC+Driver+18+for+SQL+Server"


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrations.db'}"
        return
    server = request.getfixturevalue("postgres" if request.param == "postgresql" else "mariadb")
    yield server.fresh_database(DATABASE)
    server.drop_database(DATABASE)


@pytest.fixture
def app(database_url, tmp_path):
    settings = load_settings(env={
        "OPENSPC_DATABASE_URL": database_url, "OPENSPC_DATA_DIR": str(tmp_path),
        "OPENSPC_JWT_SECRET": "x" * 40, "OPENSPC_LOG_LEVEL": "WARNING",
    }, env_file="")
    application = create_app({"RATELIMIT_ENABLED": False}, settings=settings)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def _model_differences() -> list:
    """Tables, columns, types, nullability, indexes, unique and foreign keys; server defaults
    too except on MySQL/MariaDB, where alembic compares expression defaults (``now()``,
    ``true()``) as text and reports every one of them as changed."""
    compare_defaults = db.engine.dialect.name not in ("mysql", "mariadb")
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": compare_defaults}
        )
        return compare_metadata(context, db.metadata)


def test_upgrade_to_head_and_down_to_base(app):
    model_tables = set(db.metadata.tables)
    assert _tables() == set()

    upgrade()
    assert _tables() == model_tables | {"alembic_version"}
    plants = db.session.execute(sa.text("SELECT name, code, is_active FROM plant")).all()
    assert [(p.name, p.code, bool(p.is_active)) for p in plants] == [
        ("Default Plant", "DEFAULT", True)
    ]
    db.session.rollback()

    downgrade(revision="base")
    assert _tables() == {"alembic_version"}

    upgrade()
    assert _tables() == model_tables | {"alembic_version"}


def test_models_and_migrations_agree(app):
    upgrade()
    assert _model_differences() == []


def test_mssql_offline_sql_renders_every_table(tmp_path):
    """No server: alembic renders the DDL with the MSSQL dialect, no driver needed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSPC_")}
    env.update(OPENSPC_DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}",
               OPENSPC_DATA_DIR=str(tmp_path), OPENSPC_LOG_LEVEL="WARNING")
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "openspc:create_app", "db", "upgrade",
         "--sql", "-x", f"url={MSSQL_URL}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    sql = done.stdout
    created = set(re.findall(r"^CREATE TABLE \[?(\w+)\]? \(", sql, re.MULTILINE))
    assert created == set(db.metadata.tables) | {"alembic_version"}
    assert "CREATE TABLE [user] (" in sql, "user is a reserved word on SQL Server"
    assert "BOOLEAN" not in sql and " BIT" in sql
    assert "DATETIMEOFFSET" in sql, "aware timestamps keep their offset on SQL Server"
    assert "IDENTITY" in sql
    assert re.search(r"INSERT INTO plant \(name, code, is_active, settings\) "
                     r"VALUES \(N?'Default Plant', N?'DEFAULT', 1, N?'\{\}'\)", sql), sql
    assert "IDENTITY_INSERT" not in sql, "SQL Server refuses it for rows without an id"
    assert sql.rstrip().endswith("GO")
