"""Maintenance tasks, run eagerly in the test app."""

from datetime import timedelta

import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import OutboxEvent, RefreshToken
from openspc.models.types import utcnow
from openspc.tasks.maintenance import ping, purge_outbox, purge_refresh_tokens, vacuum_busy


def test_ping_answers_pong(app):
    assert ping.delay().get() == "pong"


def test_expired_refresh_tokens_are_purged_and_live_ones_kept(app, factory):
    user = factory.user("operator")
    now = utcnow()
    db.session.add_all([
        RefreshToken(jti="expired", user_id=user.id, expires_at=now - timedelta(seconds=1)),
        RefreshToken(jti="expired-revoked", user_id=user.id, expires_at=now - timedelta(days=1),
                     revoked_at=now - timedelta(days=2)),
        RefreshToken(jti="live", user_id=user.id, expires_at=now + timedelta(days=6)),
        RefreshToken(jti="live-revoked", user_id=user.id, expires_at=now + timedelta(days=1),
                     revoked_at=now),
    ])
    db.session.commit()
    assert purge_refresh_tokens.delay().get() == 2
    remaining = db.session.execute(sa.select(RefreshToken.jti).order_by(RefreshToken.jti))
    assert remaining.scalars().all() == ["live", "live-revoked"]


def test_sent_events_older_than_a_day_are_purged_and_unsent_ones_kept(app):
    now = utcnow()
    frames = [{"type": "ack_update"}]
    db.session.add_all([
        OutboxEvent(frame=frames, characteristic_id=1, created_at=now - timedelta(days=3),
                    published_at=now - timedelta(days=1, seconds=1)),
        OutboxEvent(frame=frames, characteristic_id=2, created_at=now - timedelta(days=3),
                    published_at=now - timedelta(hours=23)),
        OutboxEvent(frame=frames, characteristic_id=3, created_at=now - timedelta(days=3)),
    ])
    db.session.commit()
    assert purge_outbox.delay().get() == 1
    remaining = db.session.execute(
        sa.select(OutboxEvent.characteristic_id).order_by(OutboxEvent.characteristic_id))
    assert remaining.scalars().all() == [2, 3]


def test_the_vacuum_of_busy_tables_is_for_postgresql_only(app):
    assert vacuum_busy.delay().get() == []
