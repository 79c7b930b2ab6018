"""Leases: one holder at a time across every process and host, for as long as it renews.

Two kinds, each a row with an expiry that a dead holder stops renewing, so nothing stays
held forever: *connection leases* (one listener owns a broker or an OPC-UA server) and *job
leases* (one run of a named job, e.g. the retention purge, at a time).

Connection leases.

A listener calls ``claim_connections`` every few seconds with the connections it should run
(``kind`` ``"mqtt"`` or ``"opcua"``, ids of brokers or servers). The call renews the leases
it holds and takes those that are free or expired, and returns the ids it now owns: the
listener connects those and nothing else. A killed listener stops renewing, its leases
expire after ``ttl`` seconds and the next claim of another listener takes them over, so N
listeners run without a duplicate connection and a dead one is replaced within ``ttl`` plus
one claim period.

Why a table and not a Redis lock: the database is in every deployment (embedded mode has no
Redis), and the conditional UPDATE below is atomic on every dialect (a concurrent claimer
re-reads the row after the first commits and matches nothing). Expiry is written with the
claimer's clock: hosts running listeners need synchronised clocks (NTP), which a skew far
below ``ttl`` satisfies.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from openspc.extensions import db
from openspc.models.lease import MaintenanceLease
from openspc.models.listener import ConnectionLease
from openspc.models.types import utcnow

DEFAULT_TTL = 10.0
"""Seconds a lease lives without renewal; claim every ``DEFAULT_TTL / 3``."""


def new_holder_id(prefix: str) -> str:
    """A name for this listener process, unique across hosts and restarts, readable in logs."""
    return f"{prefix}-{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def claim_connections(kind: str, target_ids: Iterable[int], holder: str,
                      ttl: float = DEFAULT_TTL) -> set[int]:
    """Renew or take the lease of each target; returns the ids ``holder`` owns afterwards.

    Leases ``holder`` holds on targets not listed are left to expire; call
    ``release_connections`` to give them up at once.
    """
    owned: set[int] = set()
    for target_id in sorted(set(target_ids)):
        if _claim_one(kind, target_id, holder, ttl):
            owned.add(target_id)
    return owned


def _claim_one(kind: str, target_id: int, holder: str, ttl: float) -> bool:
    now = utcnow()
    expires_at = now + timedelta(seconds=ttl)
    lease = ConnectionLease.__table__
    try:
        taken = db.session.execute(
            sa.update(lease)
            .where(lease.c.kind == kind, lease.c.target_id == target_id,
                   sa.or_(lease.c.holder == holder, lease.c.expires_at < now))
            .values(holder=holder, expires_at=expires_at,
                    acquired_at=sa.case((lease.c.holder == holder, lease.c.acquired_at),
                                        else_=now))
        ).rowcount
        if not taken:
            exists = db.session.execute(
                sa.select(lease.c.holder)
                .where(lease.c.kind == kind, lease.c.target_id == target_id)
            ).first()
            if exists is not None:
                db.session.rollback()
                return False
            db.session.execute(sa.insert(lease).values(
                kind=kind, target_id=target_id, holder=holder, acquired_at=now,
                expires_at=expires_at))
        db.session.commit()
        return True
    except IntegrityError:
        db.session.rollback()
        return False
    except OperationalError as error:
        db.session.rollback()
        if _deadlock(error):
            return False
        raise
    except Exception:
        db.session.rollback()
        raise


def release_connections(kind: str, holder: str, target_ids: Iterable[int] | None = None) -> None:
    """Give up ``holder``'s leases (all of ``kind``, or only ``target_ids``) so another
    listener can take them at its next claim instead of after expiry."""
    lease = ConnectionLease.__table__
    statement = sa.delete(lease).where(lease.c.kind == kind, lease.c.holder == holder)
    if target_ids is not None:
        statement = statement.where(lease.c.target_id.in_(list(target_ids)))
    try:
        db.session.execute(statement)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def lease_holders(kind: str) -> dict[int, str]:
    """Target id -> holder, for the leases of ``kind`` that have not expired."""
    lease = ConnectionLease.__table__
    rows = db.session.execute(
        sa.select(lease.c.target_id, lease.c.holder)
        .where(lease.c.kind == kind, lease.c.expires_at >= utcnow())
    ).all()
    return {row.target_id: row.holder for row in rows}


# Job leases: one run of a named job at a time.

POLL_SECONDS = 0.2


class LeaseLost(Exception):
    """The lease expired and another process took it: the unit of work must not commit."""


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
