"""How a running listener learns that its configuration changed, within about a second.

Every REST change of a broker, OPC-UA server or mapping calls ``config_changed(kind)`` inside
its own transaction, so the new generation commits with the change it announces. Listeners
poll ``config_generation(kind)`` (one primary-key read) about once a second and reload when
it moved. A poll works with every database and needs no Redis (embedded mode).
"""

from __future__ import annotations

import sqlalchemy as sa

from openspc.extensions import db
from openspc.models.listener import ListenerConfig


def config_changed(kind: str) -> None:
    """Bump the generation of ``kind`` in the caller's transaction (not committed here)."""
    table = ListenerConfig.__table__
    bumped = db.session.execute(
        sa.update(table).where(table.c.kind == kind)
        .values(generation=table.c.generation + 1)
    ).rowcount
    if not bumped:  # the migration seeds one row per kind; a database built otherwise
        db.session.execute(sa.insert(table).values(kind=kind, generation=1))


def config_generation(kind: str) -> int:
    """The current generation of ``kind`` (0 before any change); ends the read transaction."""
    try:
        generation = db.session.execute(
            sa.select(ListenerConfig.generation).where(ListenerConfig.kind == kind)
        ).scalar()
    finally:
        db.session.rollback()
    return generation or 0
