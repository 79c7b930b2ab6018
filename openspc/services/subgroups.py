"""Listener values into subgroups, and subgroups into samples through the one ingest service.

Shared by the listeners: a value belongs to a characteristic; ``on_change`` emits a sample as
soon as a characteristic has ``subgroup_size`` values, ``on_timer`` only when its partial
subgroup times out. A partial subgroup older than ``PARTIAL_TIMEOUT`` is emitted as it is
(ingest then accepts or refuses it by ``min_measurements``), as the reference's 60 s
timeout did. The unfinished part of a subgroup is stored in ``subgroup_buffer`` in the same
transaction as the samples its values completed, so nothing is lost or counted twice when
a listener stops or dies between two values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog

from openspc.errors import ApiError
from openspc.extensions import db
from openspc.models import SubgroupBuffer
from openspc.models.types import utcnow
from openspc.services.ingest import SampleInput, error_text, submit_samples

log = structlog.get_logger(__name__)

PARTIAL_TIMEOUT = timedelta(seconds=60)
ON_CHANGE, ON_TIMER = "on_change", "on_timer"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a mapped value goes and how its subgroups close."""

    characteristic_id: int
    subgroup_size: int
    strategy: str = ON_CHANGE


@dataclass(frozen=True, slots=True)
class Value:
    value: float
    timestamp: datetime


@dataclass
class Outcome:
    samples: int = 0
    refused: int = 0
    buffered: int = 0


def _sample(characteristic_id: int, values: Sequence[Value]) -> SampleInput:
    """The subgroup's time is its last value's source time."""
    return SampleInput(characteristic_id=characteristic_id,
                       measurements=[v.value for v in values], timestamp=values[-1].timestamp)


def _encode(values: Sequence[Value]) -> list[list]:
    return [[v.value, v.timestamp.isoformat()] for v in values]


def _decode(stored: list[list]) -> list[Value]:
    return [Value(float(value), datetime.fromisoformat(moment)) for value, moment in stored]


def _submit(source: str, samples: list[SampleInput]) -> Outcome:
    """Write the samples with the buffer changes already in the session: one commit."""
    outcome = Outcome()
    if not samples:
        db.session.commit()
        return outcome
    for item, result in zip(samples, submit_samples(samples), strict=True):
        if isinstance(result, ApiError):
            outcome.refused += 1
            log.warning("listener_sample_refused", source=source,
                        characteristic_id=item.characteristic_id, error=error_text(result))
        else:
            outcome.samples += 1
    return outcome


def assemble(source: str, values: Iterable[tuple[Target, Value]]) -> Outcome:
    """Add values (in arrival order) to their characteristics' subgroups and store the
    samples they complete, with the partial subgroups left, in one transaction."""
    by_target: dict[Target, list[Value]] = {}
    for target, value in values:
        by_target.setdefault(target, []).append(value)
    buffered_ids = [t.characteristic_id for t in by_target if t.subgroup_size > 1]
    stored = {}
    if buffered_ids:
        stored = {row.characteristic_id: row for row in db.session.execute(
            sa.select(SubgroupBuffer).where(SubgroupBuffer.characteristic_id.in_(buffered_ids))
        ).scalars()}
    samples: list[SampleInput] = []
    left = 0
    now = utcnow()
    for target, new in by_target.items():
        if target.subgroup_size <= 1 and target.strategy == ON_CHANGE:
            samples.extend(_sample(target.characteristic_id, [v]) for v in new)
            continue
        row = stored.get(target.characteristic_id)
        pending = (_decode(row.values) if row is not None else []) + new
        if target.strategy == ON_CHANGE:
            size = target.subgroup_size
            while len(pending) >= size:
                samples.append(_sample(target.characteristic_id, pending[:size]))
                pending = pending[size:]
        left += len(pending)
        _store(source, target.characteristic_id, row, pending, now)
    outcome = _submit(source, samples)
    outcome.buffered = left
    return outcome


def _store(source: str, characteristic_id: int, row: SubgroupBuffer | None,
           pending: list[Value], now: datetime) -> None:
    if not pending:
        if row is not None:
            db.session.delete(row)
        return
    if row is None:
        db.session.add(SubgroupBuffer(characteristic_id=characteristic_id, source=source,
                                      values=_encode(pending), first_received_at=now,
                                      updated_at=now))
        return
    if not row.values:
        row.first_received_at = now
    row.values = _encode(pending)


def flush_partial(source: str, targets: Iterable[Target],
                  timeout: timedelta = PARTIAL_TIMEOUT) -> Outcome:
    """Emit the partial subgroups of ``targets`` that waited ``timeout`` or longer (in
    chunks of the subgroup size, the last one partial)."""
    by_id = {t.characteristic_id: t for t in targets}
    if not by_id:
        return Outcome()
    rows = db.session.execute(
        sa.select(SubgroupBuffer).where(
            SubgroupBuffer.characteristic_id.in_(list(by_id)),
            SubgroupBuffer.first_received_at <= utcnow() - timeout)
    ).scalars().all()
    samples = []
    for row in rows:
        size = max(by_id[row.characteristic_id].subgroup_size, 1)
        pending = _decode(row.values)
        samples.extend(_sample(row.characteristic_id, pending[i:i + size])
                       for i in range(0, len(pending), size))
        db.session.delete(row)
    return _submit(source, samples)
