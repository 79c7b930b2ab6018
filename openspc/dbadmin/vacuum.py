"""VACUUM and ANALYZE of the tables the sample path writes, on PostgreSQL, once they need it.

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

from openspc.dbadmin.engine import lock_timed_out
from openspc.extensions import db

TABLES = ("characteristic", "event_outbox", "sample", "measurement", "violation")
THRESHOLD = 50
SCALE = 0.05
LOCK_TIMEOUT = "1s"


def vacuum_busy_tables() -> list[str]:
    """VACUUM (ANALYZE) or ANALYZE each of ``TABLES`` that needs it; the statements run, in
    ``TABLES`` order ([] but on PostgreSQL)."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return []
    done = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text(f"SET lock_timeout = '{LOCK_TIMEOUT}'"))
        counts = {row.relname: row for row in connection.execute(sa.text(
            "SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze"
            " FROM pg_stat_user_tables"
            " WHERE schemaname = current_schema() AND relname = ANY(:tables)"
        ), {"tables": list(TABLES)})}
        for table in TABLES:
            row = counts.get(table)
            if row is None:
                continue
            due = THRESHOLD + SCALE * row.n_live_tup
            if row.n_dead_tup > due:
                statement = f"VACUUM (ANALYZE) {table}"
            elif row.n_mod_since_analyze > due:
                statement = f"ANALYZE {table}"
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

