"""Realtime events recorded in the transaction that causes them, published after commit.

``record`` adds the event to the caller's unit of work; ``publish_pending`` sends what has
committed and marks it. A process that dies between the two leaves rows that the periodic
``publish.sweep_outbox`` task sends later, so an event that committed is never lost.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import OutboxEvent
from openspc.models.types import utcnow
from openspc.realtime.emit import emit


def record(frame: dict[str, Any], characteristic_id: int | None) -> None:
    db.session.add(OutboxEvent(frame=frame, characteristic_id=characteristic_id))


def publish_pending(limit: int = 500) -> int:
    """Emit committed, unpublished events in id order; returns how many were sent."""
    query = (
        sa.select(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None))
        .order_by(OutboxEvent.id)
        .limit(limit)
    )
    if db.engine.dialect.name in ("postgresql", "mysql", "mariadb"):
        query = query.with_for_update(skip_locked=True)
    events = db.session.execute(query).scalars().all()
    for event in events:
        emit(event.frame, event.characteristic_id)
        event.published_at = utcnow()
    db.session.commit()
    return len(events)
