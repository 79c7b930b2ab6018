"""Leases: one holder of a named job at a time, across every process and host.

A lease is a row with an expiry; its holder renews it inside each unit of work it commits,
so work commits only while the lease is still its own. A holder that dies (killed worker,
lost host) stops renewing and the lease lapses after ``ttl``: nobody is locked out forever.
Plain UPDATE/INSERT on one table, hence the same on SQLite, PostgreSQL, MariaDB and MSSQL.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from openspc.extensions import db
from openspc.models import MaintenanceLease
from openspc.models.types import utcnow

POLL_SECONDS = 0.2


class LeaseLost(Exception):
    """The lease expired and another process took it: the unit of work must not commit."""


def new_holder() -> str:
    """A name that no other process, thread or run shares."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def acquire(name: str, holder: str, ttl: timedelta, wait: float = 0.0) -> bool:
    """Take the lease, waiting up to ``wait`` seconds for its holder to release or lose it.

    The conditional UPDATE re-reads the row under its lock on every dialect, so of two
    processes finding the same expired lease only one takes it; of two inserting the first
    row, the primary key (or, on MariaDB, the deadlock detector) lets one win.
    """
    deadline = time.monotonic() + wait
    while True:
        if _try_acquire(name, holder, ttl):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def _try_acquire(name: str, holder: str, ttl: timedelta) -> bool:
    now = utcnow()
    table = MaintenanceLease.__table__
    try:
        taken = db.session.execute(
            sa.update(table)
            .where(table.c.name == name,
                   sa.or_(table.c.expires_at < now, table.c.holder == holder))
            .values(holder=holder, expires_at=now + ttl)
        ).rowcount
        if not taken:
            db.session.execute(
                sa.insert(table).values(name=name, holder=holder, expires_at=now + ttl)
            )
        db.session.commit()
        return True
    except (IntegrityError, OperationalError) as error:
        db.session.rollback()
        if isinstance(error, IntegrityError) or _deadlock(error):
            return False
        raise
    except Exception:
        db.session.rollback()
        raise


def _deadlock(error: OperationalError) -> bool:
    """Two first takers on MySQL/MariaDB: each UPDATE of the missing row locks the gap its
    INSERT then needs, and the database kills one of them. The other has the lease."""
    code = getattr(error.orig, "pgcode", None) or (error.orig.args[:1] or [None])[0]
    return code in ("40P01", 1213, 1205)


def renew(name: str, holder: str, ttl: timedelta) -> None:
    """Extend the lease in the caller's open transaction; :class:`LeaseLost` when another
    holder has it (the caller then rolls back instead of committing)."""
    table = MaintenanceLease.__table__
    renewed = db.session.execute(
        sa.update(table)
        .where(table.c.name == name, table.c.holder == holder)
        .values(expires_at=utcnow() + ttl)
    ).rowcount
    if not renewed:
        raise LeaseLost(name)


def release(name: str, holder: str) -> None:
    """Give the lease back at once, so a waiting run need not wait for it to lapse."""
    table = MaintenanceLease.__table__
    db.session.rollback()
    db.session.execute(sa.delete(table).where(table.c.name == name, table.c.holder == holder))
    db.session.commit()
