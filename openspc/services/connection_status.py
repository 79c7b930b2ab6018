"""Live connection status, written by the listener that owns a connection, read by REST.

The owner of a broker or OPC-UA server (``openspc.services.leases``) reports its state on
every change and at least once per lease renewal; any web process reads it. A status is
*live* only while its writer still holds an unexpired lease on the connection: a killed
listener's last "connected" report is shown as not connected, with the reason, instead of
being trusted forever (the reference kept stale state, integration.md §11.2 G-20).

``counters`` is free-form (``{"messages": 120, "samples": 40, "refused": 2}``): each kind of
listener reports what it counts, and status routes show them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from openspc.extensions import db
from openspc.models.listener import ConnectionStatus
from openspc.models.types import utcnow
from openspc.services.leases import lease_holders

LISTENER_GONE = "No listener holds this connection"
"""``error_message`` of a connection whose reporting listener has stopped or died."""

_UNSET: Any = object()


@dataclass(frozen=True)
class LiveStatus:
    target_id: int
    is_connected: bool
    error_message: str | None
    last_connected: datetime | None = None
    last_message_at: datetime | None = None
    subscribed: list[str] = field(default_factory=list)
    counters: dict[str, float] = field(default_factory=dict)
    holder: str | None = None
    updated_at: datetime | None = None


def report_status(kind: str, target_id: int, holder: str, *, is_connected: bool,
                  error_message: str | None = None, last_connected: datetime | None = _UNSET,
                  last_message_at: datetime | None = _UNSET, subscribed: list[str] = _UNSET,
                  counters: dict[str, float] = _UNSET) -> None:
    """Write the owner's view of one connection (one transaction). Fields left out keep
    their stored value; ``last_connected`` is set on every report that says connected and
    none was given, so it always tells when the present session began or was last seen."""
    values: dict[str, Any] = {"holder": holder, "is_connected": is_connected,
                              "error_message": error_message, "updated_at": utcnow()}
    for name, value in (("last_connected", last_connected), ("last_message_at", last_message_at),
                        ("subscribed", subscribed), ("counters", counters)):
        if value is not _UNSET:
            values[name] = value
    table = ConnectionStatus.__table__
    try:
        updated = db.session.execute(
            sa.update(table).where(table.c.kind == kind, table.c.target_id == target_id)
            .values(**values)
        ).rowcount
        if not updated:
            db.session.execute(sa.insert(table).values(
                kind=kind, target_id=target_id,
                **{"subscribed": [], "counters": {}, **values}))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        report_status(kind, target_id, holder, is_connected=is_connected,
                      error_message=error_message, **{
                          k: v for k, v in values.items()
                          if k in ("last_connected", "last_message_at", "subscribed",
                                   "counters")})
    except Exception:
        db.session.rollback()
        raise


def read_statuses(kind: str, target_ids: Iterable[int] | None = None) -> dict[int, LiveStatus]:
    """The live status of each connection that has one (absent: never reported)."""
    table = ConnectionStatus.__table__
    query = sa.select(table).where(table.c.kind == kind)
    if target_ids is not None:
        query = query.where(table.c.target_id.in_(list(target_ids)))
    holders = lease_holders(kind)
    statuses: dict[int, LiveStatus] = {}
    for row in db.session.execute(query).mappings():
        alive = holders.get(row["target_id"]) == row["holder"]
        statuses[row["target_id"]] = LiveStatus(
            target_id=row["target_id"],
            is_connected=bool(row["is_connected"]) and alive,
            error_message=row["error_message"] if alive else LISTENER_GONE,
            last_connected=row["last_connected"], last_message_at=row["last_message_at"],
            subscribed=list(row["subscribed"] or []) if alive else [],
            counters=dict(row["counters"] or {}), holder=row["holder"] if alive else None,
            updated_at=row["updated_at"],
        )
    return statuses


def forget_status(kind: str, target_id: int) -> None:
    """Drop a deleted connection's status, in the caller's transaction."""
    table = ConnectionStatus.__table__
    db.session.execute(
        sa.delete(table).where(table.c.kind == kind, table.c.target_id == target_id))
