"""Realtime events recorded in the transaction that causes them, published after commit.

``record``/``record_many`` add events to the caller's unit of work; ``publish_pending`` sends
what has committed and marks it. A process that dies between the two leaves rows that the
periodic ``publish.sweep_outbox`` task sends later, so an event that committed is never lost.

``publish_soon`` is what a use case calls after its commit. Embedded, it publishes right
away. Distributed, it wakes this process's publisher thread and returns: sending and marking
the events costs a transaction of its own, which a request answering a verdict should not
wait for, and one thread draining the outbox for all the requests of a busy process sends
many requests' events per transaction.

Evaluations write their events *claimed* instead (``record_claimed``) and send them from the
frames they hold, right after their commit (``send_claimed``): reading a batch's 1,000+
frames back from the outbox, only to send them, cost a worker a tenth of its CPU. Publishers
leave claimed rows alone; a failed send drops the claim (the rows wait for the publishers
and the sweeper), and the sweeper takes a claim its process left behind.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from flask import Flask, current_app

from openspc import get_settings
from openspc.extensions import db
from openspc.models import OutboxEvent
from openspc.models.types import utcnow
from openspc.realtime.emit import emit_many
from openspc.services.bulk import insert_returning_ids
from openspc.services.transaction import transactional

log = structlog.get_logger(__name__)

Event = tuple[dict[str, Any], int | None]
"""A frame and the characteristic whose subscribers receive it (None: everyone)."""

PUBLISH_BATCH = 100
"""Outbox rows sent per publishing transaction."""

CLAIMED = datetime(9999, 12, 31, tzinfo=UTC)
"""``published_at`` of a row whose committing process sends its frames itself, right after
its commit (evaluations, and the direct submission path of pg_submission.py). Publishers
leave claimed rows alone, so a frame is not sent by both while the process is between its
commit and its mark; the sweeper takes a claim older than ``CLAIM_TIMEOUT`` (the process
died in between)."""

CLAIM_TIMEOUT = timedelta(seconds=10)
"""A claim is settled (sent and marked) milliseconds after its commit; one this old was left
by a process that died in between, and the sweeper (every 10 s) sends its frames."""

FRAMES_PER_MESSAGE = 500
"""Frames per Redis message: bounds a message's size whatever the rows hold."""


def record(frame: dict[str, Any], characteristic_id: int | None) -> None:
    record_many([(frame, characteristic_id)])


def record_many(events: Sequence[Event]) -> None:
    """Insert the events now, in order: one row per run of consecutive events for the same
    characteristic, holding their frames as a list. An evaluation of 1,000 samples records
    1,000+ frames; one row for them makes writing, marking and reading them back one small
    operation instead of a thousand. Inserting at once, rather than at the next flush, keeps
    the id order equal to the order of the calls."""
    rows = rows_of(events)
    if rows:
        db.session.execute(sa.insert(OutboxEvent.__table__), rows)


@dataclass(frozen=True)
class Claim:
    """Events recorded claimed, for their transaction's process to send after its commit."""

    row_ids: list[int]
    events: list[Event]


def record_claimed(events: Sequence[Event]) -> Claim | None:
    """:func:`record_many`, with the rows claimed: the caller sends them after its commit
    with :func:`send_claimed`. None when there is no event."""
    rows = rows_of(events)
    if not rows:
        return None
    for row in rows:
        row["published_at"] = CLAIMED
    return Claim(insert_returning_ids(OutboxEvent, rows), list(events))


def send_claimed(claim: Claim | None) -> None:
    """After the commit that recorded ``claim``: send its events, then mark its rows sent.
    If sending fails, the claim is dropped instead and the rows wait, unsent, for the
    publishers and the sweeper; if even that fails, the sweeper takes the claim once it is
    old. A crash between the send and the mark sends the events twice (at least once)."""
    if claim is None:
        return
    published = send(claim.events)
    table = OutboxEvent.__table__
    try:
        _lazy_commit()
        db.session.execute(sa.update(table).where(table.c.id.in_(claim.row_ids))
                           .values(published_at=published))
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("outbox_mark_failed")


def send(events: Sequence[Event]) -> datetime | None:
    """Emit the events, in order, ``FRAMES_PER_MESSAGE`` to a message; when they left, or
    None if a message could not be sent (logged: the caller keeps the events unsent)."""
    try:
        _emit(events)
    except Exception:
        log.exception("outbox_publish_failed")
        return None
    return utcnow()


def _emit(events: Sequence[Event]) -> None:
    for start in range(0, len(events), FRAMES_PER_MESSAGE):
        emit_many(events[start:start + FRAMES_PER_MESSAGE])


def rows_of(events: Sequence[Event]) -> list[dict[str, Any]]:
    """The outbox rows of these events (see :func:`record_many`), in order."""
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for frame, characteristic_id in events:
        if rows and rows[-1]["characteristic_id"] == characteristic_id:
            rows[-1]["frame"].append(frame)
        else:
            rows.append({"frame": [frame], "characteristic_id": characteristic_id,
                         "created_at": now})
    return rows


def publish_pending(limit: int = PUBLISH_BATCH, claims_before: datetime | None = None) -> int:
    """Emit committed, unpublished events in id order, mark them and commit; returns how
    many rows were sent. The rows are locked (others' locked rows skipped) while they are sent,
    so two publishers do not send the same event; a crash before the commit only makes the
    sweeper send them again. ``claims_before``: also send rows claimed before then."""
    table = OutboxEvent.__table__
    unsent = table.c.published_at.is_(None)
    if claims_before is not None:
        unsent = sa.or_(unsent, sa.and_(table.c.published_at == CLAIMED,
                                        table.c.created_at < claims_before))
    pending = sa.select(table.c.id).where(unsent).order_by(table.c.id).limit(limit)
    dialect = db.engine.dialect
    if dialect.name in ("postgresql", "mysql", "mariadb"):
        pending = pending.with_for_update(skip_locked=True)
    now = utcnow()
    if dialect.update_returning:
        # One round trip: lock, mark and read the batch in a single UPDATE.
        events = sorted(db.session.execute(
            sa.update(table).where(table.c.id.in_(pending.scalar_subquery()))
            .values(published_at=now)
            .returning(table.c.id, table.c.frame, table.c.characteristic_id)
        ).all(), key=lambda event: event.id)
    else:
        events = db.session.execute(
            sa.select(table.c.id, table.c.frame, table.c.characteristic_id)
            .where(table.c.id.in_(list(db.session.execute(pending).scalars())))
            .order_by(table.c.id)
        ).all()
        if events:
            db.session.execute(sa.update(table).where(table.c.id.in_([e.id for e in events]))
                               .values(published_at=now))
    _emit([(frame, event.characteristic_id) for event in events for frame in event.frame])
    db.session.commit()
    return len(events)


KEEP_PUBLISHED = timedelta(days=1)
"""How long sent events stay in the outbox (to look into a complaint about a missed frame)."""


@transactional
def purge_published(older_than: timedelta = KEEP_PUBLISHED) -> int:
    """Delete events sent more than ``older_than`` ago; unsent ones are never deleted.
    Returns how many rows went."""
    table = OutboxEvent.__table__
    return db.session.execute(
        sa.delete(table).where(table.c.published_at < utcnow() - older_than)
    ).rowcount


def publish_all(claims_before: datetime | None = None) -> int:
    """Send every committed event, batch after batch; returns how many rows were sent. A
    failure loses nothing (the next call resends), so it is logged and never fails the
    committed use case or the sweeper. ``claims_before``: as :func:`publish_pending`."""
    total = 0
    try:
        sent = PUBLISH_BATCH
        while sent == PUBLISH_BATCH:
            _lazy_commit()
            sent = publish_pending(PUBLISH_BATCH, claims_before)
            total += sent
    except Exception:
        db.session.rollback()
        log.exception("outbox_publish_failed")
    return total


def _lazy_commit() -> None:
    """PostgreSQL: do not wait for the WAL flush when committing the "published" marks. A
    mark lost in a crash only makes the sweeper send the frame again, which the outbox
    already allows (a publisher may die between sending and marking)."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("SET LOCAL synchronous_commit TO OFF"))


class _Publisher:
    """A daemon thread that drains the outbox each time it is woken. A wake-up that arrives
    while it is sending is kept (the event stays set), so no committed event waits for the
    sweeper unless the process dies."""

    def __init__(self, app: Flask):
        self._app = app
        self._wake = threading.Event()
        threading.Thread(target=self._run, name="openspc-outbox", daemon=True).start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                with self._app.app_context():
                    publish_all()
                    db.session.remove()
            except Exception:
                # E.g. the rollback after a failed send, on a connection the database
                # dropped. The thread must outlive it: the next wake-up (or the sweeper)
                # sends what is left.
                log.exception("outbox_publisher_failed")


_publishers: dict[int, _Publisher] = {}
_publishers_lock = threading.Lock()


def publish_soon() -> None:
    """After commit: send the committed events, now (embedded) or on this process's publisher
    thread (started on first use, after any fork)."""
    if get_settings().embedded:
        publish_all()
        return
    app = current_app._get_current_object()
    with _publishers_lock:
        publisher = _publishers.get(id(app))
        if publisher is None:
            publisher = _publishers[id(app)] = _Publisher(app)
    publisher.wake()
