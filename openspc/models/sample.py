"""Samples (subgroups), their measurements and edit history."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openspc.extensions import db
from openspc.models.dialects import except_on
from openspc.models.types import Double, UTCDateTime, utcnow

PENDING = "pending"
EVALUATED = "evaluated"
QUARANTINED = "quarantine"
"""A stored sample the evaluator could not judge (its statistics are not finite): kept for
inspection, left out of charts, limits and rules, so the samples after it are judged."""


class Sample(db.Model):
    __tablename__ = "sample"
    __table_args__ = (
        sa.Index("ix_sample_char_id_timestamp", "char_id", "timestamp"),
        sa.Index("ix_sample_char_id_status", "char_id", "status"),
        sa.UniqueConstraint("char_id", "sequence", name="uq_sample_char_sequence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    char_id: Mapped[int] = mapped_column(
        sa.ForeignKey("characteristic.id", ondelete="CASCADE", name="fk_sample_char_id_cascade"),
    )
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    batch_number: Mapped[str | None] = mapped_column(sa.String(100))
    operator_id: Mapped[str | None] = mapped_column(sa.String(100))
    is_excluded: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    actual_n: Mapped[int] = mapped_column(sa.Integer, server_default="1", default=1)
    is_undersized: Mapped[bool] = mapped_column(
        sa.Boolean, server_default=sa.false(), default=False
    )
    effective_ucl: Mapped[float | None] = mapped_column(Double)
    effective_lcl: Mapped[float | None] = mapped_column(Double)
    z_score: Mapped[float | None] = mapped_column(Double)
    is_modified: Mapped[bool] = mapped_column(
        sa.Boolean, server_default=sa.false(), default=False
    )
    mean: Mapped[float | None] = mapped_column(Double)
    range_value: Mapped[float | None] = mapped_column(Double)
    std_dev: Mapped[float | None] = mapped_column(Double)
    defect_count: Mapped[int | None] = mapped_column(sa.Integer)
    sample_size: Mapped[float | None] = mapped_column(Double)
    """Units inspected (p, np: whole) or inspection units (u: a positive real)."""
    status: Mapped[str] = mapped_column(sa.String(10), server_default=PENDING, default=PENDING)
    sequence: Mapped[int | None] = mapped_column(sa.Integer)
    limits_version: Mapped[int | None] = mapped_column(sa.Integer)
    received_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )

    measurements: Mapped[list[Measurement]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Measurement.id",
        lazy="selectin",
    )


def production_order(descending: bool = False) -> tuple[sa.ColumnElement, ...]:
    """Production order, the order a control chart is read in: the sample's timestamp, then
    its arrival (the ``sequence`` the evaluator gives it under the characteristic's lock),
    then its id for samples not yet judged. The rules judge, replay, limit windows and
    chart-data all use it (design.md, "the sample path")."""
    columns = (Sample.timestamp, Sample.sequence, Sample.id)
    return tuple(column.desc() for column in columns) if descending else columns


class Measurement(db.Model):
    """A subgroup's values, one row each, in id order.

    On PostgreSQL the key to ``sample`` is kept by statement-level triggers (migration
    0004) instead of a foreign key: a batch of 1,000 samples writes 5,000 measurements, and
    the key's check, one query per row, cost PostgreSQL as much as the rows themselves. The
    triggers check and lock the referenced samples once per statement and delete the
    measurements of deleted samples, as the key's ``ON DELETE CASCADE`` did.
    """

    __tablename__ = "measurement"
    __table_args__ = (
        except_on(sa.ForeignKeyConstraint(["sample_id"], ["sample.id"], ondelete="CASCADE"),
                  "postgresql"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(index=True)
    value: Mapped[float] = mapped_column(Double)


class SampleEditHistory(db.Model):
    __tablename__ = "sample_edit_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sample.id", ondelete="CASCADE"), index=True
    )
    edited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edited_by: Mapped[str | None] = mapped_column(sa.String(255))
    reason: Mapped[str] = mapped_column(sa.Text)
    previous_values: Mapped[list] = mapped_column(sa.JSON)
    new_values: Mapped[list] = mapped_column(sa.JSON)
    previous_mean: Mapped[float] = mapped_column(Double)
    new_mean: Mapped[float] = mapped_column(Double)
