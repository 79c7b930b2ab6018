"""Beat's VACUUM of the tables every evaluation rewrites, on a real PostgreSQL (whose
autovacuum may be off, as on the machine these tests run on)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.tasks.maintenance import vacuum_busy
from tests.conftest import Factory
from tests.integration.conftest import migrated_app

NAME = "openspc_vacuum_test"


@pytest.fixture
def app(postgres, tmp_path) -> Iterator:
    with migrated_app(postgres, NAME, tmp_path) as application:
        yield application


def _dead_rows(table: str) -> int:
    """Dead row versions of ``table``, read off its pages (not the lagging statistics)."""
    with db.engine.connect() as connection:
        connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pgstattuple"))
        connection.commit()
        return connection.execute(
            sa.text("SELECT dead_tuple_count FROM pgstattuple(:table)"), {"table": table}
        ).scalar_one()


def test_the_busy_tables_lose_their_dead_rows(app):
    chart = Factory(app).characteristic(subgroup_size=1)
    for sequence in range(200):
        db.session.execute(sa.update(type(chart)).where(type(chart).id == chart.id)
                           .values(eval_sequence=sequence))
        db.session.commit()
    db.session.remove()
    before = _dead_rows("characteristic")

    assert vacuum_busy.delay().get() == ["characteristic", "event_outbox"]
    deadline = time.monotonic() + 5
    while _dead_rows("characteristic") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _dead_rows("characteristic") == 0
    assert before > 0
