"""What listener processes (MQTT, OPC-UA) share with the web processes through the database.

A *connection* is one broker or one OPC-UA server, named by ``(kind, target_id)`` with
``kind`` ``"mqtt"`` or ``"opcua"`` and ``target_id`` the broker's or server's id.

- ``ConnectionLease``: which listener owns a connection. One row per connection; the holder
  renews ``expires_at`` while it lives, so a killed holder loses it after its time to live
  and another listener takes it over (design.md, "One owner per connection").
- ``ConnectionStatus``: the live state the owner reports (connected, error, last message,
  subscriptions, counters), so that REST in any process reads the same answer.
- ``ListenerConfig``: a generation number per kind, bumped by every configuration change
  made through REST; a listener polls it (one primary-key read) to notice changes within
  about a second without a message bus.

The database holds these, not Redis, because it is the one store every deployment has (the
embedded mode runs without Redis) and the status must survive the restart of a web process.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from openspc.extensions import db
from openspc.models.types import UTCDateTime, utcnow

LISTENER_KINDS = ("mqtt", "opcua")


class ConnectionLease(db.Model):
    __tablename__ = "connection_lease"

    kind: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    target_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(sa.String(100))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConnectionStatus(db.Model):
    __tablename__ = "connection_status"

    kind: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    target_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str] = mapped_column(sa.String(100))
    is_connected: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    last_connected: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_message: Mapped[str | None] = mapped_column(sa.String(500))
    subscribed: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    counters: Mapped[dict[str, float]] = mapped_column(sa.JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ListenerConfig(db.Model):
    __tablename__ = "listener_config"

    kind: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    generation: Mapped[int] = mapped_column(sa.Integer, default=0)
