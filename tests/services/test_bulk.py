"""Bulk inserts and updates: what is read back equals what was written, ids come back in
row order, only the named rows change, and errors surface as SQLAlchemy's. Each test runs
on SQLite (SQLAlchemy's statements) and on PostgreSQL (COPY and UPDATE ... FROM VALUES,
integration: it needs the server)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from openspc import create_app
from openspc.extensions import db
from openspc.models import Measurement, OutboxEvent, Sample
from openspc.services import bulk
from tests.conftest import Factory, make_settings, require_service

POSTGRES_URL = os.environ.get(
    "OPENSPC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
DATABASE = "openspc_bulk_test"

# Values that a careless text encoding would change: escapes, quotes, empty vs NULL, floats
# that do not print short, offsets other than UTC.
STRINGS = ["tab\there", "back\\slash\\N", "line\nbreak\r", "quote ' \" ; é €", "", None]
FLOATS = [0.1 + 0.2, 1e-300, -2.5, 123456789.12345679, 5e-324, 1.7976931348623157e308]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def app(request, tmp_path, migrated_template) -> Iterator[Flask]:
    if request.param == "sqlite":
        yield request.getfixturevalue("app")
        return
    admin = sa.create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    except sa.exc.OperationalError as error:
        require_service(False, f"PostgreSQL not reachable: {error.orig}")
    url = make_url(POSTGRES_URL).set(database=DATABASE).render_as_string(hide_password=False)
    application = create_app({"TESTING": True, "RATELIMIT_ENABLED": False},
                             settings=make_settings(tmp_path, OPENSPC_DATABASE_URL=url))
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def chart(app):
    return Factory(app).characteristic(subgroup_size=5)


def sample_row(chart_id: int, n: int) -> dict:
    base = datetime(2024, 3, 1, 8, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    return {
        "char_id": chart_id,
        "timestamp": base + timedelta(minutes=n),
        "batch_number": STRINGS[n % len(STRINGS)],
        "operator_id": STRINGS[(n + 1) % len(STRINGS)],
        "is_excluded": n % 2 == 0,
        "actual_n": n,
        "is_undersized": n % 3 == 0,
        "is_modified": False,
        "mean": FLOATS[n % len(FLOATS)],
        "range_value": None if n % 2 else FLOATS[(n + 1) % len(FLOATS)],
        "std_dev": None,
        "defect_count": None,
        "sample_size": 2**31 - 1 - n,
        "status": "pending",
        "received_at": datetime(2024, 3, 1, 9, tzinfo=UTC),
    }


def stored(model, ids, columns) -> list[tuple]:
    table = model.__table__
    by_id = {row[0]: tuple(row[1:]) for row in db.session.execute(
        sa.select(table.c.id, *(table.c[name] for name in columns)).where(table.c.id.in_(ids))
    )}
    return [by_id[id_] for id_ in ids]


def test_inserted_rows_read_back_equal_with_their_ids_in_row_order(chart):
    rows = [sample_row(chart.id, n) for n in range(12)]
    ids = bulk.insert_returning_ids(Sample, rows)
    db.session.commit()
    assert ids == sorted(ids) and len(set(ids)) == len(rows)
    columns = list(rows[0])
    expected = [tuple(row[name] for name in columns) for row in rows]
    assert stored(Sample, ids, columns) == expected


def test_rows_without_ids_are_inserted_exactly(chart):
    [sample_id] = bulk.insert_returning_ids(Sample, [sample_row(chart.id, 1)])
    bulk.insert_rows(Measurement, [{"sample_id": sample_id, "value": v} for v in FLOATS])
    db.session.commit()
    values = db.session.execute(
        sa.select(Measurement.value).where(Measurement.sample_id == sample_id)
        .order_by(Measurement.id)
    ).scalars().all()
    assert values == FLOATS


def test_json_columns_read_back_equal(chart):
    """Frames as evaluations write them into the outbox, strings and floats included."""
    frames = [[{"text": text, "mean": value, "nested": {"list": [1, None, True]}}]
              for text, value in zip(STRINGS, FLOATS, strict=True)]
    rows = [{"characteristic_id": chart.id, "frame": frame,
             "created_at": datetime(2024, 3, 1, 9, tzinfo=UTC)} for frame in frames]
    ids = bulk.insert_returning_ids(OutboxEvent, rows)
    db.session.commit()
    assert stored(OutboxEvent, ids, ["frame"]) == [(frame,) for frame in frames]


def test_update_by_id_sets_each_rows_own_columns_and_nothing_else(chart):
    ids = bulk.insert_returning_ids(Sample, [sample_row(chart.id, n) for n in range(6)])
    db.session.commit()
    untouched = ids[2]
    bulk.update_by_id(Sample, [
        {"id": ids[0], "status": "evaluated", "sequence": 1, "z_score": 0.1 + 0.2},
        {"id": ids[1], "status": "evaluated", "sequence": 2},
        {"id": ids[3], "status": "evaluated", "sequence": 3, "z_score": None},
        {"id": ids[5], "status": "skipped", "sequence": 4, "z_score": -2.5},
    ])
    db.session.commit()
    columns = ["status", "sequence", "z_score"]
    assert stored(Sample, ids, columns) == [
        ("evaluated", 1, 0.1 + 0.2), ("evaluated", 2, None), ("pending", None, None),
        ("evaluated", 3, None), ("pending", None, None), ("skipped", 4, -2.5),
    ]
    assert stored(Sample, [untouched], ["mean"]) == [(FLOATS[2],)]


def test_writes_belong_to_the_callers_transaction(chart):
    ids = bulk.insert_returning_ids(Sample, [sample_row(chart.id, n) for n in range(3)])
    bulk.insert_rows(Measurement, [{"sample_id": ids[0], "value": 1.0}])
    db.session.rollback()
    assert db.session.execute(sa.select(sa.func.count()).select_from(Sample)).scalar() == 0
    assert db.session.execute(sa.select(sa.func.count()).select_from(Measurement)).scalar() == 0


def test_database_errors_are_sqlalchemy_errors(chart):
    with pytest.raises(sa.exc.IntegrityError):
        bulk.insert_rows(Measurement, [{"sample_id": 10**6, "value": 1.0}])
    db.session.rollback()
    with pytest.raises(sa.exc.IntegrityError):
        bulk.insert_returning_ids(Sample, [{**sample_row(chart.id, 1), "status": None}])
    db.session.rollback()


def test_nothing_to_write_writes_nothing(chart):
    assert bulk.insert_returning_ids(Sample, []) == []
    bulk.insert_rows(Measurement, [])
    bulk.update_by_id(Sample, [])
    assert db.session.execute(sa.select(sa.func.count()).select_from(Sample)).scalar() == 0
