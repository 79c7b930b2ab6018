"""One migration history on every database: up from empty, down to base, and models agree.

The schema is created only by migrations (data-model.md §5), so the models must describe
exactly what the migrations build: alembic's autogenerate comparison finds no difference.
Floating-point columns hold doubles on every database, MySQL/MariaDB included (revision 0002).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from itertools import count

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from openspc import create_app
from openspc.config import load_settings
from openspc.extensions import db
from openspc.models import (
    Characteristic,
    ControlLimitsVersion,
    Hierarchy,
    Measurement,
    MqttBroker,
    Plant,
    Sample,
    SampleEditHistory,
)
from openspc.models.dialects import include_object

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
        context = MigrationContext.configure(conn, opts={
            "compare_type": True, "compare_server_default": compare_defaults,
            "include_object": include_object(conn.dialect.name),
        })
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
    assert "FLOAT(" not in sql, "plain FLOAT is float(53), double precision, on SQL Server"
    assert re.search(r"CREATE TABLE measurement \([^;]*FOREIGN KEY\(sample_id\) REFERENCES "
                     r"sample \(id\) ON DELETE CASCADE", sql), "0004 changes PostgreSQL only"
    doubles = sql.split("-- Running upgrade 0001 -> 0002")
    only_0002 = doubles[-1].split("-- Running upgrade 0002 -> ")[0]
    assert len(doubles) == 2 and "ALTER" not in only_0002, "0002 changes MySQL/MariaDB only"
    assert sql.rstrip().endswith("GO")


def _float_tables() -> set[str]:
    return {t.name for t in db.metadata.tables.values() if _float_columns(t)}


def _float_columns(table: sa.Table) -> list[sa.Column]:
    return [c for c in table.columns if isinstance(c.type, sa.Float)]


def _sixteen_digit_values() -> Iterator[float]:
    """Distinct doubles of several magnitudes and both signs, none of which single precision
    (about 7 significant digits) can hold."""
    for k in count(1):
        yield (-1) ** k * (k + 0.123456789012345) * 10.0 ** (k % 5 - 2)


def _store_floats() -> dict[tuple[str, str], float]:
    """One row in every table with floating-point columns, each such column set to its own
    value; returns (table, column) -> the value written."""
    values = _sixteen_digit_values()
    written = {}

    def add(row):
        for column in _float_columns(row.__table__):
            written[row.__tablename__, column.name] = next(values)
            setattr(row, column.key, written[row.__tablename__, column.name])
        db.session.add(row)
        db.session.flush()
        return row

    plant = db.session.execute(sa.select(Plant)).scalar_one()
    add(MqttBroker(plant_id=plant.id, name="Broker", host="localhost"))
    node = add(Hierarchy(plant_id=plant.id, name="Line 1", type="Line"))
    char = add(Characteristic(hierarchy_id=node.id, name="Bore diameter", subgroup_size=1))
    add(ControlLimitsVersion(characteristic_id=char.id, version=1, method="moving_range"))
    sample = add(Sample(char_id=char.id, sequence=1))
    add(Measurement(sample_id=sample.id))
    add(SampleEditHistory(sample_id=sample.id, reason="typo", previous_values=[],
                          new_values=[]))
    db.session.commit()
    assert {table for table, _ in written} == _float_tables()
    return written


def _read_floats() -> dict[tuple[str, str], float]:
    """Every floating-point attribute of every model, loaded by a new session."""
    db.session.remove()
    read = {}
    for mapper in db.Model.registry.mappers:
        table = mapper.local_table
        if not _float_columns(table):
            continue  # tables added after 0001 do not exist at that revision
        for row in db.session.execute(sa.select(mapper.class_)).scalars():
            for column in _float_columns(table):
                read[table.name, column.name] = getattr(row, column.key)
    db.session.remove()
    return read


def test_floats_read_back_with_every_digit(app):
    """A measurement of 10.123456789012345 stays exactly that, as do sample statistics and
    limits: single precision would keep 10.12346 on MySQL/MariaDB."""
    upgrade()
    written = _store_floats()
    assert _read_floats() == written


def test_upgrade_and_downgrade_keep_stored_floats_as_read(app):
    """Rows stored before 0002 read the same after it, and after going back down to 0001."""
    upgrade(revision="0001")
    _store_floats()
    before = _read_floats()

    upgrade()
    assert _read_floats() == before

    downgrade(revision="0001")
    assert _read_floats() == before
