"""Backup, restore and transfer of a database holding N samples (default 10^6, n = 1, so as
many measurements), on the local SQLite, PostgreSQL and MariaDB.

    .venv/bin/python bench/bench_dbadmin.py [N]

1. A SQLite file migrated to head gets one characteristic and N evaluated samples (written
   straight through sqlite3, not timed).
2. SQLite: backup (online backup API) and restore into a new file.
3. ``openspc db transfer`` (the service it calls) from that file to PostgreSQL and to MariaDB,
   then each target's backup (pg_dump / mariadb-dump) and its restore into a new database.
Prints one line per step: seconds and file size. Databases ``openspc_bench_dbadmin*`` are
dropped at the end.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openspc import create_app  # noqa: E402
from openspc.config import load_settings  # noqa: E402
from openspc.dbadmin.backup import backup_name, create_backup, restore  # noqa: E402
from openspc.extensions import db  # noqa: E402
from openspc.services.database_admin import transfer_database  # noqa: E402

SERVERS = {
    "postgresql": "postgresql+psycopg2://postgres@127.0.0.1:5432/",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/",
}
NAME = "openspc_bench_dbadmin"


def _fill(path: Path, count: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO hierarchy (name, type, plant_id) VALUES ('Line', 'Line', 1)")
        raw.execute("INSERT INTO characteristic (hierarchy_id, name, subgroup_size, chart_type,"
                    " ucl, lcl) VALUES (1, 'Bore', 1, 'i_mr', 13, 7)")
        chunk = 100_000
        for first in range(0, count, chunk):
            ids = range(first + 1, min(first + chunk, count) + 1)
            raw.executemany(
                "INSERT INTO sample (id, char_id, timestamp, received_at, is_excluded, actual_n,"
                " is_undersized, is_modified, mean, status, sequence) VALUES"
                " (?, 1, ?, ?, 0, 1, 0, 0, ?, 'evaluated', ?)",
                [(i, (start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                  (start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f"),
                  10 + (i % 97) / 100, i) for i in ids])
            raw.executemany("INSERT INTO measurement (id, sample_id, value) VALUES (?, ?, ?)",
                            [(i, i, 10 + (i % 97) / 100) for i in ids])


def _timed(label: str, step, size_of=None):
    started = time.perf_counter()
    result = step()
    seconds = time.perf_counter() - started
    size = f", {size_of(result) / 2**20:.1f} MB" if size_of else ""
    print(f"{label}: {seconds:.1f} s{size}", flush=True)
    return result


def _database(server: str, name: str, drop_only: bool = False) -> str:
    engine = sa.create_engine(SERVERS[server], isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        if server == "postgresql":
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop_only:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        else:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
            if not drop_only:
                connection.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    engine.dispose()
    return SERVERS[server] + name


def main(count: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="openspc-bench-dbadmin-"))
    source = folder / "openspc.db"
    settings = load_settings(env={"OPENSPC_DATABASE_URL": f"sqlite:///{source}",
                                  "OPENSPC_DATA_DIR": str(folder),
                                  "OPENSPC_LOG_LEVEL": "WARNING"}, env_file="")
    app = create_app({"RATELIMIT_ENABLED": False}, settings=settings)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    _fill(source, count)
    print(f"{count} samples, {count} measurements; SQLite file "
          f"{source.stat().st_size / 2**20:.1f} MB", flush=True)

    backups = folder / "backups"
    backups.mkdir()
    made = _timed("sqlite backup", lambda: create_backup(
        f"sqlite:///{source}", backups, backup_name("sqlite", backups)),
        lambda r: r.size_bytes)
    _timed("sqlite restore", lambda: restore(Path(made.path), f"sqlite:///{folder / 'r.db'}"))

    for server in SERVERS:
        target = _database(server, NAME)
        _timed(f"transfer sqlite -> {server}", lambda target=target: transfer_database(
            app, target, batch_size=5000, resume=False, progress=lambda _line: None))
        dialect = "postgresql" if server == "postgresql" else "mysql"
        made = _timed(f"{server} backup", lambda target=target, dialect=dialect: create_backup(
            target, backups, backup_name(dialect, backups)), lambda r: r.size_bytes)
        copy = _database(server, NAME + "_restored")
        _timed(f"{server} restore", lambda copy=copy, made=made: restore(Path(made.path), copy))
        _database(server, NAME, drop_only=True)
        _database(server, NAME + "_restored", drop_only=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
