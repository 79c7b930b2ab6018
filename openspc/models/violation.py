"""Nelson rule violations: at most one per (sample, rule)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from openspc.extensions import db
from openspc.models.types import UTCDateTime, utcnow


class Violation(db.Model):
    __tablename__ = "violation"
    __table_args__ = (
        sa.UniqueConstraint("sample_id", "rule_id", name="uq_violation_sample_rule"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sample.id", ondelete="CASCADE"), index=True
    )
    char_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("characteristic.id", ondelete="CASCADE"), index=True
    )
    rule_id: Mapped[int] = mapped_column(sa.Integer)
    rule_name: Mapped[str | None] = mapped_column(sa.String(100))
    severity: Mapped[str] = mapped_column(sa.String(20))
    acknowledged: Mapped[bool] = mapped_column(sa.Boolean, default=False, index=True)
    requires_acknowledgement: Mapped[bool] = mapped_column(
        sa.Boolean, server_default=sa.true(), default=True
    )
    ack_user: Mapped[str | None] = mapped_column(sa.String(100))
    ack_reason: Mapped[str | None] = mapped_column(sa.String(500))
    ack_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )
    first_sample_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sample.id", ondelete="SET NULL", name="fk_violation_first_sample"),
        index=True,
    )
    last_sample_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sample.id", ondelete="SET NULL", name="fk_violation_last_sample"),
        index=True,
    )
    limits_version: Mapped[int | None] = mapped_column(sa.Integer)
