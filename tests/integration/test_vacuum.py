"""Beat's VACUUM and ANALYZE of the tables the sample path writes, on a real PostgreSQL
(whose autovacuum may be off, as on the machine these tests run on)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import current_app

from openspc.extensions import db
from openspc.models import Sample
from openspc.tasks.maintenance import vacuum_busy
from tests.conftest import Factory
from tests.integration.conftest import migrated_app

pytestmark = pytest.mark.integration

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


def _counts(table: str) -> sa.Row:
    with db.engine.connect() as connection:
        return connection.execute(sa.text(
            "SELECT n_dead_tup, n_mod_since_analyze, analyze_count + autoanalyze_count AS"
            " analyzed FROM pg_stat_user_tables WHERE relname = :table"), {"table": table}
        ).one()


def _reported(table: str, enough: int) -> None:
    """Wait until the statistics count ``enough`` changed rows of ``table``: a session
    reports its counts when it ends (the test's connections are closed first)."""
    db.session.remove()
    db.engine.dispose()
    deadline = time.monotonic() + 15
    while _counts(table).n_mod_since_analyze < enough:
        assert time.monotonic() < deadline, f"{table}: statistics never came"
        time.sleep(0.2)


def _samples(count: int) -> None:
    chart_id = Factory(current_app).characteristic(subgroup_size=1).id
    db.session.add_all([Sample(char_id=chart_id, mean=float(n)) for n in range(count)])
    db.session.commit()


def _evaluate_all() -> int:
    """Every pending sample marked evaluated, as a worker does: a dead version each."""
    updated = db.session.execute(sa.update(Sample).where(Sample.status == "pending")
                                 .values(status="evaluated")).rowcount
    db.session.commit()
    return updated


def test_evaluated_samples_leave_no_dead_rows_behind(app):
    _samples(300)
    _evaluate_all()
    _reported("sample", 600)
    before = _dead_rows("sample")

    assert "VACUUM (ANALYZE) sample" in vacuum_busy.delay().get()
    assert _dead_rows("sample") == 0
    assert before == 300


def test_samples_are_analyzed_once_enough_of_them_changed(app):
    """The plans of pooled sessions are made again only when statistics change."""
    _samples(20)
    _reported("sample", 20)
    assert "ANALYZE sample" not in vacuum_busy.delay().get(), "20 rows are not worth it"

    _samples(500)
    _reported("sample", 520)
    analyzed = _counts("sample").analyzed

    assert "ANALYZE sample" in vacuum_busy.delay().get()
    assert _counts("sample").analyzed == analyzed + 1
    assert "ANALYZE sample" not in vacuum_busy.delay().get()


def test_a_table_another_vacuum_holds_is_left_for_the_next_run(app):
    _samples(300)
    _evaluate_all()
    _reported("sample", 600)

    with db.engine.connect() as holder:
        holder.execute(sa.text("LOCK TABLE sample IN SHARE UPDATE EXCLUSIVE MODE"))
        assert "VACUUM (ANALYZE) sample" not in vacuum_busy.delay().get()
        holder.rollback()
    assert "VACUUM (ANALYZE) sample" in vacuum_busy.delay().get()
