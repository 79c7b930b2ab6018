"""VACUUM and ANALYZE: of the whole database per dialect (on demand and on beat's schedule),
and, on PostgreSQL, of the tables the sample path writes, every few seconds once they need it.

Per dialect (``vacuum_database``):
- SQLite: ``VACUUM`` then ``ANALYZE``. VACUUM rewrites the file and holds the write lock
  meanwhile, so the scheduled run does it only once a fifth of the pages are free
  (``SQLITE_FREE_SHARE``) and otherwise runs ``PRAGMA optimize``, which takes a moment.
- PostgreSQL: ``VACUUM (ANALYZE)`` of every table on demand (the reference only ran ANALYZE);
  on schedule of the tables with dead rows, and ``ANALYZE`` of those changed since their last
  analysis, as for the busy tables below. Neither blocks reads or writes of rows;
  ``lock_timeout`` skips a table that DDL or another VACUUM holds.
- MySQL/MariaDB: ``OPTIMIZE TABLE`` of every table (InnoDB rebuilds it online, blocking
  writes only for a moment at either end); the scheduled run optimizes only tables with a
  fifth of their space free and analyzes the rest.
- MSSQL: nothing is run; the reference's advice is returned.

The busy tables:

PostgreSQL's autovacuum does this when it is on, its default, but late for these tables: it
waits for a fifth of a table to be dead and a tenth to have changed, and on some servers
(the one these figures come from) it is off. Two things then go wrong:

- Sessions keep their plans until a table's statistics change. The prepared statements of
  single submissions (``services/pg_submission.py``) and the measurement key's trigger are
  planned in each pooled connection soon after it opens; planned while ``sample`` was small
  or never analyzed, the check for pending samples kept walking a characteristic's whole
  history by timestamp, and single submissions fell from ~830/s to ~440/s after a run of
  batches (40,000 samples); an ANALYZE alone brought them back to ~800/s.
- Dead row versions pile up at the rate of the samples: each evaluated sample rewrites its
  characteristic's row (the evaluator state) and its own row (pending to evaluated), and
  each realtime event row is marked once sent. The publisher's scan for unsent events
  grows with every event ever sent, and index scans step over every dead entry.

Beat runs this every 5 seconds: the plans above stay slow until it has run. One read of
``pg_stat_user_tables`` decides, in a millisecond; a table is analyzed once more than
``THRESHOLD`` rows plus ``SCALE`` of its live rows changed since its last analysis, and
vacuumed (and analyzed) once as many of its rows are dead. Nothing is done when autovacuum
has been there first; a table another VACUUM holds is left for the next run.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from openspc.dbadmin.connection import dialect_of
from openspc.dbadmin.engine import lock_timed_out
from openspc.extensions import db

TABLES = ("characteristic", "event_outbox", "sample", "measurement", "violation")
THRESHOLD = 50
SCALE = 0.05
LOCK_TIMEOUT = "1s"
SQLITE_FREE_SHARE = 0.2
MYSQL_FREE_SHARE = 0.2
MYSQL_LOCK_WAIT_SECONDS = 1


def vacuum_busy_tables() -> list[str]:
    """VACUUM (ANALYZE) or ANALYZE each of ``TABLES`` that needs it; the statements run, in
    ``TABLES`` order ([] but on PostgreSQL)."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return []
    return _vacuum_postgresql_tables(engine, TABLES, THRESHOLD, SCALE)


def _vacuum_postgresql_tables(engine: Engine, tables: tuple[str, ...] | None, threshold: float,
                              scale: float) -> list[str]:
    """The statements run on the tables (all of the schema's when ``tables`` is None) whose
    dead rows or changes since their last analysis exceed ``threshold + scale * live``."""
    done = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
        rows = connection.execute(sa.text(
            "SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze,"
            " COALESCE(last_analyze, last_autoanalyze) IS NULL AS never_analyzed"
            " FROM pg_stat_user_tables WHERE schemaname = current_schema()"
            " ORDER BY relname"
        )).all()
        counts = {row.relname: row for row in rows}
        for table in tables or tuple(counts):
            row = counts.get(table)
            if row is None:
                continue
            due = threshold + scale * row.n_live_tup
            name = connection.dialect.identifier_preparer.quote(table)
            if row.n_dead_tup > due:
                statement = f"VACUUM (ANALYZE) {name}"
            elif row.n_mod_since_analyze > due or (tables is None and row.never_analyzed):
                statement = f"ANALYZE {name}"
            else:
                continue
            try:
                connection.execute(sa.text(statement))
            except sa.exc.OperationalError as error:
                if not lock_timed_out(error):
                    raise
                continue
            done.append(statement)
    return done


def vacuum_database(engine: Engine, scheduled: bool = False) -> str:
    """Vacuum and analyze the database as its dialect allows; the message says what ran.
    ``scheduled`` runs the rewriting steps only where they pay off (module docstring)."""
    return _VACUUM[dialect_of(engine.url)](engine, scheduled)


def _vacuum_sqlite(engine: Engine, scheduled: bool) -> str:
    with engine.connect() as connection:
        pages = connection.execute(sa.text("PRAGMA page_count")).scalar_one()
        free = connection.execute(sa.text("PRAGMA freelist_count")).scalar_one()
    if scheduled and free <= SQLITE_FREE_SHARE * pages:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA optimize")
        return f"PRAGMA optimize completed ({free} of {pages} pages free, no VACUUM needed)"
    for statement in ("VACUUM", "ANALYZE"):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(statement)
    return "VACUUM and ANALYZE completed successfully"


def _vacuum_postgresql(engine: Engine, scheduled: bool) -> str:
    """On demand every table (the statistics lag behind the last writes, and VACUUM skips
    the pages already clean); on schedule the tables the statistics say need it."""
    done = _vacuum_postgresql_tables(engine, None, THRESHOLD if scheduled else -1,
                                     SCALE if scheduled else 0)
    vacuumed = sum(s.startswith("VACUUM") for s in done)
    return (f"VACUUM (ANALYZE) completed for {vacuumed} tables, "
            f"ANALYZE for {len(done) - vacuumed} tables")


def _vacuum_mysql(engine: Engine, scheduled: bool) -> str:
    """A table in use by an open transaction is skipped after a second: OPTIMIZE would wait
    for its metadata lock, and every query on that table would queue behind it."""
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SET SESSION lock_wait_timeout = {MYSQL_LOCK_WAIT_SECONDS}")
        tables = connection.execute(sa.text(
            "SELECT table_name, data_free, data_length + index_length FROM"
            " information_schema.tables WHERE table_schema = DATABASE()"
            " AND table_type = 'BASE TABLE' ORDER BY table_name")).all()
        optimized, skipped = 0, 0
        for name, data_free, used in tables:
            fragmented = (data_free or 0) > MYSQL_FREE_SHARE * ((used or 0) + (data_free or 0))
            statement = "OPTIMIZE" if fragmented or not scheduled else "ANALYZE"
            try:
                report = connection.execute(sa.text(f"{statement} TABLE `{name}`")).all()
            except sa.exc.OperationalError:
                report = [("", "", "error", "")]
            if any(str(row[2]).lower() == "error" for row in report):
                skipped += 1
                continue
            optimized += statement == "OPTIMIZE"
    if not scheduled:
        message = f"OPTIMIZE TABLE completed for {optimized} tables"
    else:
        message = (f"OPTIMIZE TABLE completed for {optimized} tables,"
                   f" ANALYZE TABLE for {len(tables) - optimized - skipped}")
    return message + (f"; {skipped} tables in use were skipped" if skipped else "")


def _vacuum_mssql(engine: Engine, scheduled: bool) -> str:
    return "Run DBCC SHRINKDATABASE from SQL Server Management Studio"


_VACUUM = {"sqlite": _vacuum_sqlite, "postgresql": _vacuum_postgresql,
           "mysql": _vacuum_mysql, "mssql": _vacuum_mssql}
