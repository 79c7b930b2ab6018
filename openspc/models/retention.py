"""Retention policies and the history of purge runs."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from openspc.extensions import db
from openspc.models.types import UTCDateTime, utcnow


class RetentionPolicy(db.Model):
    __tablename__ = "retention_policy"
    __table_args__ = (
        sa.UniqueConstraint(
            "plant_id", "scope", "hierarchy_id", "characteristic_id",
            name="uq_retention_policy_scope_target",
        ),
        sa.CheckConstraint(
            "(scope = 'global' AND hierarchy_id IS NULL AND characteristic_id IS NULL)"
            " OR (scope = 'hierarchy' AND hierarchy_id IS NOT NULL AND characteristic_id IS NULL)"
            " OR (scope = 'characteristic' AND characteristic_id IS NOT NULL"
            " AND hierarchy_id IS NULL)",
            name="ck_retention_policy_scope",
        ),
        sa.CheckConstraint(
            "(retention_type = 'forever' AND retention_value IS NULL AND retention_unit IS NULL)"
            " OR (retention_type = 'sample_count' AND retention_value IS NOT NULL"
            " AND retention_unit IS NULL)"
            " OR (retention_type = 'time_delta' AND retention_value IS NOT NULL"
            " AND retention_unit IS NOT NULL)",
            name="ck_retention_policy_type_value",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("plant.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(sa.String(20))
    hierarchy_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hierarchy.id", ondelete="CASCADE"), index=True
    )
    characteristic_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("characteristic.id", ondelete="CASCADE"), index=True
    )
    retention_type: Mapped[str] = mapped_column(sa.String(20))
    retention_value: Mapped[int | None] = mapped_column(sa.Integer)
    retention_unit: Mapped[str | None] = mapped_column(sa.String(10))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow, onupdate=utcnow
    )


class PurgeHistory(db.Model):
    __tablename__ = "purge_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    plant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("plant.id", ondelete="CASCADE"), index=True
    )
    started_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow, index=True
    )
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(20), default="running")
    samples_deleted: Mapped[int] = mapped_column(sa.Integer, server_default="0", default=0)
    violations_deleted: Mapped[int] = mapped_column(sa.Integer, server_default="0", default=0)
    characteristics_processed: Mapped[int] = mapped_column(
        sa.Integer, server_default="0", default=0
    )
    error_message: Mapped[str | None] = mapped_column(sa.Text)
