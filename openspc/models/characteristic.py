"""A characteristic (one control chart), its rule settings, config and limits versions."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openspc.extensions import db
from openspc.models.types import Double, UTCDateTime, utcnow


class Characteristic(db.Model):
    __tablename__ = "characteristic"
    # Room on each page for the evaluator state's updates (migration 0003).
    __table_args__ = {"postgresql_with": {"fillfactor": 20}}

    id: Mapped[int] = mapped_column(primary_key=True)
    hierarchy_id: Mapped[int] = mapped_column(
        sa.ForeignKey("hierarchy.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.String(500))
    subgroup_size: Mapped[int] = mapped_column(sa.Integer, default=1)
    chart_type: Mapped[str] = mapped_column(sa.String(10), server_default="i_mr", default="i_mr")
    target_value: Mapped[float | None] = mapped_column(Double)
    usl: Mapped[float | None] = mapped_column(Double)
    lsl: Mapped[float | None] = mapped_column(Double)
    ucl: Mapped[float | None] = mapped_column(Double)
    lcl: Mapped[float | None] = mapped_column(Double)
    subgroup_mode: Mapped[str] = mapped_column(
        sa.String(50), server_default="NOMINAL_TOLERANCE", default="NOMINAL_TOLERANCE"
    )
    min_measurements: Mapped[int] = mapped_column(sa.Integer, server_default="1", default=1)
    warn_below_count: Mapped[int | None] = mapped_column(sa.Integer)
    stored_sigma: Mapped[float | None] = mapped_column(Double)
    stored_center_line: Mapped[float | None] = mapped_column(Double)
    decimal_precision: Mapped[int] = mapped_column(sa.Integer, server_default="3", default=3)
    limits_version: Mapped[int | None] = mapped_column(sa.Integer)
    eval_sequence: Mapped[int] = mapped_column(sa.Integer, server_default="0", default=0)
    eval_state: Mapped[dict | None] = mapped_column(sa.JSON)

    # Loaded when read: most requests touch a characteristic without needing its rules.
    rules: Mapped[list[CharacteristicRule]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="select"
    )


class CharacteristicRule(db.Model):
    __tablename__ = "characteristic_rules"

    char_id: Mapped[int] = mapped_column(
        sa.ForeignKey("characteristic.id", ondelete="CASCADE"), primary_key=True
    )
    rule_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    is_enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    require_acknowledgement: Mapped[bool] = mapped_column(
        sa.Boolean, server_default=sa.true(), default=True
    )
    parameters: Mapped[dict | None] = mapped_column(sa.JSON)
    severity: Mapped[str | None] = mapped_column(sa.String(20))


class CharacteristicConfig(db.Model):
    __tablename__ = "characteristic_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    characteristic_id: Mapped[int] = mapped_column(
        sa.ForeignKey("characteristic.id", ondelete="CASCADE"), unique=True, index=True
    )
    config_json: Mapped[str] = mapped_column(sa.Text)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow, onupdate=utcnow
    )


class ControlLimitsVersion(db.Model):
    """Every set of limits a characteristic has had; violations point at the one in force."""

    __tablename__ = "control_limits"
    __table_args__ = (
        sa.UniqueConstraint("characteristic_id", "version", name="uq_control_limits_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    characteristic_id: Mapped[int] = mapped_column(
        sa.ForeignKey("characteristic.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(sa.Integer)
    method: Mapped[str] = mapped_column(sa.String(30))
    center_line: Mapped[float] = mapped_column(Double)
    ucl: Mapped[float] = mapped_column(Double)
    lcl: Mapped[float] = mapped_column(Double)
    sigma: Mapped[float | None] = mapped_column(Double)
    sample_count: Mapped[int | None] = mapped_column(sa.Integer)
    secondary_chart: Mapped[str | None] = mapped_column(sa.String(5))
    secondary_center_line: Mapped[float | None] = mapped_column(Double)
    secondary_ucl: Mapped[float | None] = mapped_column(Double)
    secondary_lcl: Mapped[float | None] = mapped_column(Double)
    created_by: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )
