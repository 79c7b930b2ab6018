"""Partial subgroups waiting for their next values, kept across listener restarts.

A listener assembles a characteristic's measurements into subgroups of its subgroup size;
the values of a subgroup not yet complete live here, written in the transaction that
consumed the rest, so a restart or a takeover by another listener resumes the subgroup
instead of losing it (the reference cleared them on every refresh, G-8). One row per
characteristic; ``values`` is ``[[value, source time ISO-8601], ...]`` in arrival order
(JSON keeps every digit of a double).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from openspc.extensions import db
from openspc.models.types import UTCDateTime, utcnow


class SubgroupBuffer(db.Model):
    __tablename__ = "subgroup_buffer"

    characteristic_id: Mapped[int] = mapped_column(
        sa.ForeignKey("characteristic.id", ondelete="CASCADE",
                      name="fk_subgroup_buffer_characteristic"),
        primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(sa.String(20))
    values: Mapped[list] = mapped_column(sa.JSON, default=list)
    first_received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
