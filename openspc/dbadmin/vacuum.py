"""VACUUM of the small tables that every evaluation rewrites, on PostgreSQL.

Each evaluated sample rewrites its characteristic's row (the evaluator state) and each
realtime event row is marked once it is sent, so dead row versions pile up at the rate of
the samples. PostgreSQL's autovacuum removes them when it is on, its default; on a server
where it is off or lagging, the outbox's index keeps every sent row's old entry, and the
publisher's scan for unsent events grows with every event ever sent. Beat runs this every
five minutes: a few milliseconds on these tables, and nothing to do when autovacuum has been
there first. The large tables (samples, measurements, violations) are left to autovacuum:
vacuuming them this often would read their indexes whole each time.
"""

from __future__ import annotations

import sqlalchemy as sa

from openspc.extensions import db

BUSY_TABLES = ("characteristic", "event_outbox")


def vacuum_busy_tables() -> list[str]:
    """``VACUUM (ANALYZE)`` the busy tables; the tables vacuumed ([] but on PostgreSQL)."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in BUSY_TABLES:
            connection.execute(sa.text(f"VACUUM (ANALYZE) {table}"))
    return list(BUSY_TABLES)
