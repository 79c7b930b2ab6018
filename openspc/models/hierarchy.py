"""The ISA-95 equipment tree; a node's plant scopes everything below it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from openspc.extensions import db


class Hierarchy(db.Model):
    __tablename__ = "hierarchy"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("hierarchy.id", ondelete="CASCADE"), index=True
    )
    plant_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("plant.id", ondelete="CASCADE", name="fk_hierarchy_plant")
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    type: Mapped[str] = mapped_column(sa.String(100))
