"""Backups taken through POST /api/v1/database/backup while a client writes samples, restored
with ``openspc restore`` into a fresh database of the same dialect, then compared with the
source (SQLite, PostgreSQL, MariaDB); and the vacuum of each dialect.

A single writer commits batches one after another, so sample ids rise with commit order: a
consistent backup holds exactly the samples up to some id, each with all its measurements,
no fewer than were committed when the backup was asked for and no more than when it ended.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from celery._state import _set_task_join_will_block
from flask_migrate import upgrade

from openspc import create_app
from openspc.cli import main
from openspc.extensions import db
from tests.conftest import Factory, make_settings
from tests.integration.conftest import migrated_app
from tests.integration.rest import characteristic_via_api

NAME = "openspc_dbadmin_backup_test"
RESTORED = "openspc_dbadmin_restored_test"
SUBGROUP = 3
STEADY_TABLES = ("plant", "hierarchy", "characteristic", "characteristic_rules", "user",
                 "user_plant_role")


@contextlib.contextmanager
def sqlite_app(tmp_path: Path) -> Iterator:
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False},
                     settings=make_settings(tmp_path))
    with app.app_context():
        upgrade()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def dialect(request):
    return request.param


@pytest.fixture
def server(dialect, request):
    if dialect == "sqlite":
        return None
    return request.getfixturevalue("postgres" if dialect == "postgresql" else "mariadb")


@pytest.fixture
def app(dialect, server, tmp_path) -> Iterator:
    if server is None:
        with sqlite_app(tmp_path) as application:
            yield application
    else:
        with migrated_app(server, NAME, tmp_path) as application:
            yield application


@pytest.fixture
def restored_url(dialect, server, tmp_path) -> Iterator[str]:
    if server is None:
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    yield server.fresh_database(RESTORED)
    server.drop_database(RESTORED)


class Writer(threading.Thread):
    """Posts batches of samples through the API until stopped; counts what was committed."""

    def __init__(self, app, headers, char_id):
        super().__init__(daemon=True)
        self.client, self.headers, self.char_id = app.test_client(), headers, char_id
        self.committed = 0
        self.stop = threading.Event()
        self.error: str | None = None
        self.batches = 0

    def run(self) -> None:
        while not self.stop.is_set():
            n = self.batches
            response = self.client.post("/api/v1/samples/batch", headers=self.headers, json={
                "characteristic_id": self.char_id,
                "samples": [{"measurements": [10 + ((n * 7 + i * 3 + k) % 11) / 10
                                              for k in range(SUBGROUP)]} for i in range(10)]})
            if response.status_code != 200:
                self.error = f"{response.status_code} {response.get_data(as_text=True)}"
                return
            self.batches += 1
            self.committed += response.json["imported"]

    def wait_for(self, samples: int) -> None:
        while self.committed < samples and self.is_alive():
            self.stop.wait(0.05)
        assert self.error is None, self.error


def _samples(url) -> list[tuple]:
    """(sample id, characteristic, measurement values in order) for every sample."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(
                "SELECT s.id, s.char_id, m.value FROM sample s JOIN measurement m"
                " ON m.sample_id = s.id ORDER BY s.id, m.id")).all()
    finally:
        engine.dispose()
    samples: dict[int, tuple] = {}
    for sample_id, char_id, value in rows:
        samples.setdefault(sample_id, (sample_id, char_id, []))[2].append(round(value, 9))
    return [(i, c, tuple(v)) for i, c, v in samples.values()]


def _digest(samples: list[tuple]) -> str:
    return hashlib.sha256(repr(samples).encode()).hexdigest()


def _counts(url, tables) -> dict[str, int]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            quote = connection.dialect.identifier_preparer.quote
            return {t: connection.execute(sa.text(f"SELECT count(*) FROM {quote(t)}"))
                    .scalar_one() for t in tables}
    finally:
        engine.dispose()


def test_a_backup_taken_while_samples_arrive_restores_one_consistent_state(
        app, dialect, restored_url):
    client = app.test_client()
    factory = Factory(app)
    headers, char_id = characteristic_via_api(client, factory, subgroup_size=SUBGROUP)
    admin = factory.headers(factory.user("admin"))
    source_url = db.engine.url.render_as_string(hide_password=False)

    writer = Writer(app, headers, char_id)
    writer.start()
    try:
        writer.wait_for(300)
        committed_before = writer.committed
        response = client.post("/api/v1/database/backup", headers=admin)
        committed_after = writer.committed
        writer.wait_for(committed_after + 100)
    finally:
        writer.stop.set()
        writer.join(30)
        # Eager tasks in two threads at once (the writer's evaluations, this backup) race on
        # Celery's process-wide "joining would block" flag and can leave it set, which makes
        # a later test's ``result.get()`` refuse to run.
        _set_task_join_will_block(False)
    assert writer.error is None, writer.error
    assert response.status_code == 200, response.json
    backup = Path(response.json["path"])
    assert response.json["dialect"] == ("mysql" if dialect == "mariadb" else dialect)
    assert response.json["sha256"] == hashlib.sha256(backup.read_bytes()).hexdigest()

    main(["restore", str(backup), "--to", restored_url])

    restored = _samples(restored_url)
    source = _samples(source_url)
    assert committed_before <= len(restored) <= committed_after
    assert len(source) > len(restored), "the writer went on after the backup"
    assert all(len(values) == SUBGROUP for _, _, values in restored)
    assert _digest(restored) == _digest(source[:len(restored)])
    assert _counts(restored_url, STEADY_TABLES) == _counts(source_url, STEADY_TABLES)


def test_restore_refuses_a_database_that_holds_tables_and_a_damaged_file(
        app, restored_url, tmp_path, capsys):
    admin = Factory(app).headers(Factory(app).user("admin"))
    backup = Path(app.test_client().post("/api/v1/database/backup", headers=admin).json["path"])
    engine = sa.create_engine(restored_url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE keep_me (x INTEGER)"))
    engine.dispose()
    with pytest.raises(SystemExit, match="is not empty"):
        main(["restore", str(backup), "--to", restored_url])

    damaged = tmp_path / backup.name
    shutil.copy(backup, damaged)
    shutil.copy(str(backup) + ".json", str(damaged) + ".json")
    with damaged.open("r+b") as handle:
        handle.seek(200)
        handle.write(b"\x00garbage\x00")
    with pytest.raises(SystemExit, match="does not match the checksum"):
        main(["restore", str(damaged), "--to", restored_url])


def test_vacuum_runs_on_each_dialect(app, dialect):
    """What each dialect reports after its maintenance, read from the server itself."""
    client = app.test_client()
    factory = Factory(app)
    headers, char_id = characteristic_via_api(client, factory, subgroup_size=1)
    admin = factory.headers(factory.user("admin"))
    client.post("/api/v1/samples/batch", headers=headers, json={
        "characteristic_id": char_id, "samples": [{"measurements": [10.0]}] * 200})
    db.session.execute(sa.text("DELETE FROM violation"))
    db.session.commit()
    db.session.remove()

    response = client.post("/api/v1/database/vacuum", headers=admin)
    assert response.status_code == 200, response.json
    message = response.json["message"]
    with db.engine.connect() as connection:
        if dialect == "sqlite":
            assert message == "VACUUM and ANALYZE completed successfully"
            assert connection.exec_driver_sql("PRAGMA freelist_count").scalar_one() == 0
        elif dialect == "postgresql":
            assert message.startswith("VACUUM (ANALYZE) completed for ")
            tables, never = connection.execute(sa.text(
                "SELECT count(*), count(*) FILTER (WHERE last_vacuum IS NULL)"
                " FROM pg_stat_user_tables WHERE schemaname = current_schema()")).one()
            assert message == f"VACUUM (ANALYZE) completed for {tables} tables, ANALYZE for 0"\
                              " tables"
            assert never == 0
        else:
            tables = connection.execute(sa.text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
                " AND table_type = 'BASE TABLE'")).scalar_one()
            assert message == f"OPTIMIZE TABLE completed for {tables} tables"


@pytest.mark.parametrize("dialect", ["mariadb"])
def test_mariadb_vacuum_skips_a_table_in_use_instead_of_queueing_writes_behind_it(app):
    admin = Factory(app).headers(Factory(app).user("admin"))
    with db.engine.connect() as holder:
        holder.execute(sa.text("SELECT count(*) FROM sample")).all()  # transaction stays open
        started = time.monotonic()
        response = app.test_client().post("/api/v1/database/vacuum", headers=admin)
        elapsed = time.monotonic() - started
        holder.rollback()
    assert response.status_code == 200
    assert response.json["message"].endswith("; 1 tables in use were skipped")
    assert elapsed < 20


def test_status_and_migrations_on_each_dialect(app, dialect):
    admin = Factory(app).headers(Factory(app).user("admin"))
    client = app.test_client()
    status = client.get("/api/v1/database/status", headers=admin).json
    migrations = client.get("/api/v1/database/migrations", headers=admin).json
    head = migrations["head_revision"]
    assert migrations == {"current_revision": head, "head_revision": head, "pending_count": 0,
                          "is_up_to_date": True}
    assert status["dialect"] == ("mysql" if dialect == "mariadb" else dialect)
    assert status["is_connected"] is True
    assert status["table_count"] == len(db.metadata.tables) + 1  # and alembic_version
    assert status["database_size_mb"] > 0
    assert (status["migration_current"], status["migration_head"]) == (head, head)
    expected = {"sqlite": "3.", "postgresql": "PostgreSQL ", "mariadb": ""}[dialect]
    assert status["version"].startswith(expected) and status["version"] != "Unknown"
    if dialect == "mariadb":
        assert "MariaDB" in status["version"]


def test_no_log_line_holds_the_password_of_a_postgresql_backup(postgres, tmp_path):
    """The server trusts local connections, so a password in the URL is accepted and unused:
    enough to see where it would leak (arguments, tool errors, log lines)."""
    import logging

    from openspc.dbadmin.backup import BackupError, create_backup
    from openspc.logging import configure_logging

    secret = "S3cret-in-the-url"
    configure_logging("json", "DEBUG")
    lines: list[str] = []
    formatter = logging.getLogger().handlers[0].formatter

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(formatter.format(record))

    handler = Collect()
    logging.getLogger().addHandler(handler)
    try:
        url = sa.engine.make_url(postgres.fresh_database(NAME)).set(password=secret)
        done = create_backup(url, tmp_path, "openspc_backup_ok.dump")
        assert done.status == "completed"
        with pytest.raises(BackupError, match=r"^pg_dump failed \(exit status 1\)$"):
            create_backup(url.set(database="no_such_database"), tmp_path, "failed.dump")
    finally:
        logging.getLogger().removeHandler(handler)
        postgres.drop_database(NAME)
    text = "\n".join(lines)
    assert "backup_tool_failed" in text and "no_such_database" in text
    assert secret not in text
    assert secret not in (tmp_path / "failed.dump.json").read_text()
