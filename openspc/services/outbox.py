"""Realtime events recorded in the transaction that causes them, published after commit.

``record``/``record_many`` add events to the caller's unit of work; ``publish_pending`` sends
what has committed and marks it. A process that dies between the two leaves rows that the
periodic ``publish.sweep_outbox`` task sends later, so an event that committed is never lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import OutboxEvent
from openspc.models.types import utcnow
from openspc.realtime.emit import emit

Event = tuple[dict[str, Any], int | None]
"""A frame and the characteristic whose subscribers receive it (None: everyone)."""


def record(frame: dict[str, Any], characteristic_id: int | None) -> None:
    record_many([(frame, characteristic_id)])


def record_many(events: Sequence[Event]) -> None:
    """Insert the events now, in order, with one Core statement (an evaluation of 1,000
    samples records 1,000+ frames: no ORM object per row). Inserting at once, rather than at
    the next flush, keeps the id order equal to the order of the calls."""
    if events:
        now = utcnow()
        db.session.execute(sa.insert(OutboxEvent.__table__), [
            {"frame": frame, "characteristic_id": characteristic_id, "created_at": now}
            for frame, characteristic_id in events
        ])


def publish_pending(limit: int = 500) -> int:
    """Emit committed, unpublished events in id order, mark them and commit; returns how
    many were sent. The rows are locked (others' locked rows skipped) while they are sent,
    so two publishers do not send the same event; a crash before the commit only makes the
    sweeper send them again."""
    table = OutboxEvent.__table__
    pending = (
        sa.select(table.c.id).where(table.c.published_at.is_(None))
        .order_by(table.c.id).limit(limit)
    )
    dialect = db.engine.dialect
    if dialect.name in ("postgresql", "mysql", "mariadb"):
        pending = pending.with_for_update(skip_locked=True)
    now = utcnow()
    if dialect.update_returning:
        # One round trip: lock, mark and read the batch in a single UPDATE.
        events = sorted(db.session.execute(
            sa.update(table).where(table.c.id.in_(pending.scalar_subquery()))
            .values(published_at=now)
            .returning(table.c.id, table.c.frame, table.c.characteristic_id)
        ).all(), key=lambda event: event.id)
    else:
        events = db.session.execute(
            sa.select(table.c.id, table.c.frame, table.c.characteristic_id)
            .where(table.c.id.in_(list(db.session.execute(pending).scalars())))
            .order_by(table.c.id)
        ).all()
        if events:
            db.session.execute(sa.update(table).where(table.c.id.in_([e.id for e in events]))
                               .values(published_at=now))
    for event in events:
        emit(event.frame, event.characteristic_id)
    db.session.commit()
    return len(events)
