"""Named leases: one holder at a time across every process, for as long as it renews them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from openspc.extensions import db
from openspc.models.types import UTCDateTime


class MaintenanceLease(db.Model):
    """A row per named job (e.g. the retention purge). A holder that dies stops renewing,
    so its lease expires instead of staying held forever."""

    __tablename__ = "maintenance_lease"

    name: Mapped[str] = mapped_column(sa.String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
