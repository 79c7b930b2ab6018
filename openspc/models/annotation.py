"""Chart annotations (a point or a period) and their text history."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openspc.extensions import db
from openspc.models.types import UTCDateTime, utcnow


class Annotation(db.Model):
    __tablename__ = "annotation"
    __table_args__ = (
        sa.CheckConstraint("annotation_type IN ('point', 'period')", name="ck_annotation_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    characteristic_id: Mapped[int] = mapped_column(
        sa.ForeignKey("characteristic.id", ondelete="CASCADE"), index=True
    )
    annotation_type: Mapped[str] = mapped_column(sa.String(20))
    text: Mapped[str] = mapped_column(sa.Text)
    color: Mapped[str | None] = mapped_column(sa.String(20))
    sample_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sample.id", ondelete="SET NULL", name="fk_ann_sample"), index=True
    )
    start_sample_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sample.id", ondelete="SET NULL", name="fk_ann_start_sample"), index=True
    )
    end_sample_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sample.id", ondelete="SET NULL", name="fk_ann_end_sample"), index=True
    )
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    history: Mapped[list[AnnotationHistory]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin",
        order_by="AnnotationHistory.changed_at.desc()",
    )


class AnnotationHistory(db.Model):
    __tablename__ = "annotation_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    annotation_id: Mapped[int] = mapped_column(
        sa.ForeignKey("annotation.id", ondelete="CASCADE"), index=True
    )
    previous_text: Mapped[str] = mapped_column(sa.Text)
    changed_by: Mapped[str | None] = mapped_column(sa.String(255))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
