"""Events written in the same transaction as the change they announce.

An event row commits with its samples and violations, so a crash after commit cannot lose
it: the publisher sends unpublished rows and marks them, and the sweeper retries leftovers.
A row holds the list of frames one change produced for one characteristic, in order.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from openspc.extensions import db
from openspc.models.types import UTCDateTime, utcnow


class OutboxEvent(db.Model):
    __tablename__ = "event_outbox"
    __table_args__ = (sa.Index("ix_event_outbox_published_at", "published_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    characteristic_id: Mapped[int | None] = mapped_column(sa.Integer)
    frame: Mapped[list[dict]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
