"""Evaluation of pending samples: in production order, exactly once, whatever the workers do.

``evaluate_pending(characteristic_id)`` locks the characteristic's row, takes every pending
sample (in id order, chunk by chunk), gives each the next ``sequence`` number under the lock
(its arrival) and judges them in production order (timestamp, then arrival:
``production_order``) with the incremental rule engine, whose state (the last points the
rules need, and the newest timestamp judged) is persisted on the characteristic.

A chart is read in timestamp order and the Nelson rules speak of that order, so a sample
older than the newest judged one (a back-dated entry, a device's store-and-forward burst)
takes its place: the judged samples after it are judged again with the reconciliation of an
edit (:func:`reevaluate_from`), once per chunk, so the cost is proportional to the samples
after the insertion point. In-order samples, the common case, only append.

Why this is exactly-once: a sample leaves ``pending`` in the same transaction that writes its
violations and its events, and a second task (duplicate, retry, redelivery after a SIGKILL)
waits on the lock and then finds nothing pending, so it does nothing. The unique constraint
on (sample, rule) is the last line of defence.

Samples of a characteristic without usable limits stay ``pending``: they are stored and
shown (G-2) but not judged, and the first limits make the next evaluation judge the whole
backlog in arrival order (a Phase I study of the very data the limits came from). Marking
them evaluated with no rules would have lost those verdicts for good.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
import sqlalchemy as sa
import structlog

from openspc import get_settings, metrics
from openspc.extensions import db
from openspc.models import Characteristic, Hierarchy, Sample, Violation
from openspc.models.sample import EVALUATED, PENDING, QUARANTINED, production_order
from openspc.models.types import utcnow
from openspc.services import outbox
from openspc.services.bulk import insert_returning_ids, update_by_id
from openspc.services.ingest import np_sample_size
from openspc.services.limits import limits_in_force
from openspc.services.rules import rule_settings
from openspc.services.transaction import transactional
from openspc.spc import (
    RULE_NAMES,
    ChartType,
    ControlLimits,
    Points,
    RuleConfig,
    RuleEvaluator,
    SPCError,
    SubgroupMode,
    attribute_points,
    evaluate_batch,
    variables_points,
    zone_labels,
)
from openspc.spc import Violation as RuleHit

log = structlog.get_logger(__name__)

CHUNK = 2000
"""Pending samples evaluated per transaction: bounds the lock time under a large backlog."""

CHANNEL = "openspc:evaluated:{}"
"""Redis channel on which the evaluator announces evaluated sample ids, per characteristic."""

RECHECK_SECONDS = 1.0
"""A waiter re-reads the database at least this often, in case a notification was lost."""

_POINT_COLUMNS = (
    Sample.id, Sample.timestamp, Sample.mean, Sample.actual_n, Sample.defect_count,
    Sample.sample_size, Sample.is_excluded,
)


@dataclass(frozen=True)
class PointRow:
    """A stored sample as the evaluator reads it (``_POINT_COLUMNS`` and ``range_value``)."""

    id: int
    timestamp: datetime
    mean: float | None
    actual_n: int
    defect_count: int | None
    sample_size: int | None
    is_excluded: bool
    range_value: float | None


@dataclass(frozen=True)
class Verdict:
    """One sample as the evaluation has just judged it: the row it read under the lock
    (``_POINT_COLUMNS`` and ``range_value``), its zone (``unknown`` when excluded) and its new
    violation rows. The request that evaluated the sample answers from this after its commit
    instead of reading the sample, its violations and the characteristic back."""

    row: Any
    zone: str
    violations: list[dict[str, Any]]

    @property
    def sample_id(self) -> int:
        return self.row.id


@dataclass(frozen=True)
class Context:
    """What judging a point of one characteristic needs: the limits in force, the subgroup
    mode, the rule settings and each rule's ``require_acknowledgement``."""

    characteristic_id: int
    limits: ControlLimits
    mode: SubgroupMode
    rules: list[dict[str, Any]]
    config: RuleConfig
    requires_ack: dict[int, bool]
    version: int | None

    @property
    def key(self) -> list[Any]:
        """Identifies the classification of stored window points: any change rebuilds them."""
        limits = self.limits
        return [
            self.version, limits.chart_type.value, self.mode.value, limits.center_line,
            limits.sigma, limits.ucl, limits.lcl, limits.n, self.config.window,
        ]


def usable_limits(characteristic: Characteristic) -> ControlLimits | None:
    """The limits that judge this characteristic's points, or None while it has none.

    The derivation is the limits service's (one for every reader, engine.md §17 C9); an np
    chart is judged at the sample size it is fixed to. Without a stored UCL/LCL, or with a
    zero or undefined sigma (G-9), there is nothing to judge against.
    """
    if characteristic.ucl is None or characteristic.lcl is None:
        return None
    n = None
    if characteristic.chart_type == ChartType.NP.value:
        n = np_sample_size(characteristic.id)
    try:
        limits = limits_in_force(characteristic, n)
    except SPCError:
        return None
    if limits is None or not math.isfinite(limits.sigma) or limits.sigma <= 0:
        return None
    return limits


def evaluation_context(characteristic: Characteristic,
                       rules: list[dict[str, Any]] | None = None) -> Context | None:
    """What judging this characteristic's points needs, or None without usable limits.
    ``rules`` are its rule settings when the caller has them (the evaluator's state keeps
    them), else they are read."""
    limits = usable_limits(characteristic)
    if limits is None:
        return None
    settings = rules if rules is not None else rule_settings(characteristic)
    return Context(
        characteristic_id=characteristic.id,
        limits=limits,
        mode=SubgroupMode(characteristic.subgroup_mode),
        rules=settings,
        config=RuleConfig.from_dict(settings),
        requires_ack={s["rule_id"]: s["require_acknowledgement"] for s in settings},
        version=characteristic.limits_version,
    )


def points_of(context: Context, rows: Sequence[Any]) -> Points:
    """The plotted points of stored samples (anything with mean, actual_n, defect_count,
    sample_size), classified against the context's limits and mode."""
    limits = context.limits
    if limits.chart_type.is_attribute:
        return attribute_points(
            limits, [r.defect_count for r in rows], [r.sample_size for r in rows],
            standardized=context.mode == SubgroupMode.STANDARDIZED,
        )
    return variables_points(limits, [r.mean for r in rows], [r.actual_n for r in rows],
                            context.mode)


def _mode_fields(context: Context, points: Points, index: int) -> dict[str, float | None]:
    """z_score (STANDARDIZED) or per-point limits (VARIABLE_LIMITS, attribute charts)."""
    if context.mode == SubgroupMode.STANDARDIZED:
        return {"z_score": float(points.value[index]), "effective_ucl": None,
                "effective_lcl": None}
    if context.mode == SubgroupMode.VARIABLE_LIMITS or context.limits.chart_type.is_attribute:
        return {"z_score": None, "effective_ucl": float(points.ucl[index]),
                "effective_lcl": float(points.lcl[index])}
    return {"z_score": None, "effective_ucl": None, "effective_lcl": None}


def zones_of(characteristic: Characteristic, rows: Sequence[Any]) -> list[str]:
    """Zone label of each stored sample under the current limits; ``unknown`` without limits
    (the same derivation the evaluator uses, engine.md §17 C9)."""
    context = evaluation_context(characteristic)
    if context is None or not rows:
        return ["unknown"] * len(rows)
    return [str(label) for label in zone_labels(points_of(context, rows))]


def lock_characteristic(characteristic_id: int,
                        wait: float | None = None) -> Characteristic | None:
    """Lock the characteristic's row for the rest of the transaction and load it fresh.

    PostgreSQL: ``SELECT ... FOR NO KEY UPDATE``, which excludes other evaluators but not the
    ``FOR KEY SHARE`` lock that inserting a sample takes on its characteristic (foreign key
    check), so ingest never waits for an evaluation to commit; MySQL: ``FOR UPDATE``. SQLite
    has no row locks and would let two deferred transactions read the same pending rows, so
    there a no-op UPDATE takes the database's write lock first (other writers then wait on
    the busy timeout).

    ``wait`` bounds the wait for the lock on PostgreSQL (``lock_timeout`` for this
    transaction): past it the database raises and the caller's transaction is lost, which
    is what a caller with a cheaper way out wants. Elsewhere the wait is bounded by the
    holder, which keeps the lock for one chunk of evaluation at most.
    """
    row = _locked_row(characteristic_id, wait)
    return None if row is None else row[0]


def lock_for_submission(characteristic_id: int,
                        wait: float) -> tuple[Characteristic, int | None, bool] | None:
    """:func:`lock_characteristic` for a single submission, answering in the same round trip
    what the submission needs next: the owning plant (for its role check) and whether
    samples are pending already (when none are, the new sample is the only one to judge and
    :func:`evaluate_locked` need not read it back). None when the characteristic is unknown."""
    plant_id = (
        sa.select(Hierarchy.plant_id).where(Hierarchy.id == Characteristic.hierarchy_id)
        .scalar_subquery()
    )
    backlog = sa.exists().where(Sample.char_id == Characteristic.id, Sample.status == PENDING)
    row = _locked_row(characteristic_id, wait, plant_id, backlog)
    return None if row is None else (row[0], row[1], bool(row[2]))


def _locked_row(characteristic_id: int, wait: float | None,
                *columns: sa.ColumnElement[Any]) -> sa.Row | None:
    dialect = db.engine.dialect.name
    if wait is not None and dialect == "postgresql":
        db.session.execute(sa.text(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'"))
    if dialect == "sqlite":
        table = Characteristic.__table__
        db.session.execute(
            sa.update(table).where(table.c.id == characteristic_id)
            .values(eval_sequence=table.c.eval_sequence)
        )
    return db.session.execute(
        sa.select(Characteristic, *columns).where(Characteristic.id == characteristic_id)
        .with_for_update(key_share=True).execution_options(populate_existing=True)
    ).first()


_JUDGED_COLUMNS = (Sample.limits_version, Sample.z_score, Sample.effective_ucl,
                   Sample.effective_lcl)
"""What judging writes on a sample besides its status: re-judging rewrites only rows where
one of them changes, so late data costs a read of the later samples, not a write of each."""

Position = tuple[datetime, int]
"""A judged sample's place in production order: its timestamp and its arrival sequence."""


def _from(position: Position) -> sa.ColumnElement[bool]:
    """Samples at or after ``position`` in production order (row values are not portable)."""
    timestamp, sequence = position
    return sa.or_(Sample.timestamp > timestamp,
                  sa.and_(Sample.timestamp == timestamp, Sample.sequence >= sequence))


def _window_before(context: Context, before: Position | None) -> RuleEvaluator:
    """A fresh evaluator seeded with the last evaluated, non-excluded points in production
    order (classified with the current limits), optionally only those before ``before``."""
    evaluator = RuleEvaluator(context.config)
    query = sa.select(*_POINT_COLUMNS).where(
        Sample.char_id == context.characteristic_id, Sample.status == EVALUATED,
        Sample.is_excluded.is_(False), Sample.sequence.is_not(None),
    )
    if before is not None:
        query = query.where(sa.not_(_from(before)))
    rows = db.session.execute(
        query.order_by(*production_order(descending=True)).limit(context.config.window)
    ).all()[::-1]
    if rows:
        evaluator.evaluate_many(points_of(context, rows), [r.id for r in rows])
    return evaluator


def _evaluator(characteristic: Characteristic, context: Context) -> RuleEvaluator:
    return stored_evaluator(characteristic, context) or _window_before(context, None)


def stored_evaluator(characteristic: Any, context: Context) -> RuleEvaluator | None:
    """The evaluator persisted on the characteristic (anything with its ``eval_state``), or
    None when the state is missing or was built for other limits, mode or rules."""
    state = characteristic.eval_state
    if state and state.get("key") == context.key:
        return RuleEvaluator.from_dict(context.config, state["evaluator"])
    return None


def state_of(context: Context, evaluator: RuleEvaluator,
             newest: datetime | None) -> dict[str, Any]:
    """The evaluator's window, the rule settings it ran with and the newest timestamp judged,
    as persisted on the characteristic. Every change of the rules drops this state under the
    characteristic's lock, so rules found here are current and the next evaluation need not
    read them again."""
    return {"key": context.key, "rules": context.rules, "evaluator": evaluator.to_dict(),
            "newest": newest.isoformat() if newest is not None else None}


def newest_in_state(state: dict[str, Any] | None) -> datetime | None:
    """The newest timestamp judged, as the persisted state knows it (None: not known)."""
    newest = (state or {}).get("newest")
    return datetime.fromisoformat(newest) if newest else None


def _newest_judged(characteristic: Characteristic) -> datetime | None:
    """The timestamp of the newest judged sample: from the state, else read."""
    return newest_in_state(characteristic.eval_state) or _newest_evaluated(characteristic.id)


def _newest_evaluated(characteristic_id: int) -> datetime | None:
    return db.session.execute(
        sa.select(sa.func.max(Sample.timestamp)).where(
            Sample.char_id == characteristic_id, Sample.status == EVALUATED)
    ).scalar()


def violation_payload(row: dict[str, Any]) -> dict[str, Any]:
    """The 7 fields of a violation in ``sample`` and ``violation`` frames (api.md §R.1)."""
    return {
        "id": row["id"],
        "sample_id": row["sample_id"],
        "characteristic_id": row["char_id"],
        "rule_id": row["rule_id"],
        "rule_name": row["rule_name"],
        "severity": row["severity"],
        "timestamp": row["created_at"].isoformat(),
    }


def violation_rows(context: Context, hits: Iterable[RuleHit]) -> list[dict[str, Any]]:
    """The violation rows of these rule hits, without their ids."""
    now = utcnow()
    return [
        {
            "sample_id": hit.point,
            "char_id": context.characteristic_id,
            "rule_id": hit.rule_id,
            "rule_name": RULE_NAMES[hit.rule_id],
            "severity": hit.severity.value,
            "acknowledged": False,
            "requires_acknowledgement": context.requires_ack.get(hit.rule_id, True),
            "created_at": now,
            "first_sample_id": hit.first,
            "last_sample_id": hit.last,
            "limits_version": context.version,
        }
        for hit in hits
    ]


def _insert_violations(rows: list[dict[str, Any]]) -> None:
    for row, violation_id in zip(rows, insert_returning_ids(Violation, rows), strict=True):
        row["id"] = violation_id


def evaluate_pending(characteristic_id: int) -> list[int]:
    """Evaluate every pending sample of a characteristic; returns the ids evaluated.

    One transaction per chunk of pending samples; after each commit the outbox is published
    and waiting requests are notified. Finding nothing pending (or no limits) does nothing.
    """
    evaluated: list[int] = []
    while True:
        chunk = _evaluate_chunk(characteristic_id)
        ids = [verdict.sample_id for verdict in chunk.verdicts]
        if not ids:
            break
        evaluated.extend(ids)
        after_commit(characteristic_id, ids, chunk.events)
        _observe(chunk.verdicts)
        if len(ids) < CHUNK:
            break
    return evaluated


def _observe(verdicts: list[Verdict]) -> None:
    """One lag observation per run: its oldest sample's receipt to the verdict's commit."""
    oldest = min(verdict.row.received_at for verdict in verdicts)
    metrics.observe_evaluation(len(verdicts), (utcnow() - oldest).total_seconds())


@dataclass(frozen=True)
class Evaluation:
    """The verdicts of an evaluation, in evaluation order, and its events, recorded claimed
    for the caller to send after its commit (:func:`after_commit`)."""

    verdicts: list[Verdict]
    events: outbox.Claim | None


NOTHING = Evaluation([], None)


@transactional
def _evaluate_chunk(characteristic_id: int) -> Evaluation:
    characteristic = lock_characteristic(characteristic_id)
    if characteristic is None:
        return NOTHING
    return evaluate_locked(characteristic)


def evaluate_locked(characteristic: Characteristic,
                    pending: Sequence[PointRow] | None = None) -> Evaluation:
    """Evaluate the oldest ``CHUNK`` pending samples of a characteristic whose row the
    caller's transaction has locked (:func:`lock_characteristic`). ``pending``: the caller
    knows them all already (a submission that found no backlog under the lock and inserted
    one sample), so they are not read back. The caller commits, then calls
    :func:`after_commit`."""
    characteristic_id = characteristic.id
    context = evaluation_context(characteristic, (characteristic.eval_state or {}).get("rules"))
    if context is None:
        return NOTHING
    rows = pending if pending is not None else db.session.execute(
        sa.select(*_POINT_COLUMNS, Sample.range_value, Sample.received_at)
        .where(Sample.char_id == characteristic_id, Sample.status == PENDING)
        .order_by(Sample.id)
        .limit(CHUNK)
    ).all()
    if not rows:
        return NOTHING
    newest = _newest_judged(characteristic)
    if newest is not None and min(row.timestamp for row in rows) < newest:
        return _backfill(characteristic, context, rows)
    evaluator = _evaluator(characteristic, context)
    judgement = judge(context, evaluator, rows, characteristic.eval_sequence or 0,
                      _insert_violations)
    events = outbox.record_claimed(judgement.events)
    update_by_id(Sample, judgement.updates)
    characteristic.eval_sequence = judgement.sequence
    characteristic.eval_state = state_of(context, evaluator, judgement.newest)
    return Evaluation(judgement.verdicts, events)


def _backfill(characteristic: Characteristic, context: Context,
              rows: Sequence[Any]) -> Evaluation:
    """Judge pending samples of which one at least is older than the newest judged sample:
    they take their places in production order, and everything from the oldest of them on
    is judged again (:func:`_rejudge_from`), in one pass for the whole chunk."""
    _, _, quarantined = _judgeable(context, [row for row in rows if not row.is_excluded])
    update_by_id(Sample, [{"id": sample_id, "status": QUARANTINED} for sample_id in quarantined])
    rows = [row for row in rows if row.id not in quarantined]
    if not rows:
        return NOTHING
    first = characteristic.eval_sequence or 0
    sequences = arrival_sequences(rows, first)
    update_by_id(Sample, [
        {"id": row.id, "status": EVALUATED, "sequence": sequences[row.id],
         "limits_version": context.version}
        for row in rows
    ])
    characteristic.eval_sequence = first + len(rows)
    start = min((row.timestamp, sequences[row.id]) for row in rows)
    rejudged = _rejudge_from(characteristic, context, start)
    judged = {row.id: i for i, row in enumerate(rejudged.tail)}
    zones = zone_labels(rejudged.points) if rejudged.tail else []
    by_sample: dict[int, list[dict[str, Any]]] = {}
    for violation in rejudged.created:
        by_sample.setdefault(violation["sample_id"], []).append(violation)

    events: list[outbox.Event] = []
    verdicts = []
    for row in sorted(rows, key=lambda r: (r.timestamp, sequences[r.id])):
        mine = by_sample.pop(row.id, [])
        if row.id not in judged:
            verdicts.append(Verdict(row, "unknown", mine))
            continue
        verdict = Verdict(row, str(zones[judged[row.id]]), mine)
        verdicts.append(verdict)
        events += _sample_frames(context, row, verdict.zone, mine)
    events += _violation_frames(context.characteristic_id,
                                [violation_payload(v) for group in by_sample.values()
                                 for v in group])
    events += rejudged.cleared
    return Evaluation(verdicts, outbox.record_claimed(events))


@dataclass(frozen=True)
class Judgement:
    """What judging pending samples decided, for the caller to write: each sample's new
    columns (``updates``, with its id), the verdicts, the events, the last sequence and the
    newest timestamp judged."""

    updates: list[dict[str, Any]]
    verdicts: list[Verdict]
    events: list[outbox.Event]
    sequence: int
    newest: datetime


def arrival_sequences(rows: Sequence[Any], sequence: int) -> dict[int, int]:
    """``{sample id: sequence}``: pending rows (read in id order) numbered from
    ``sequence`` + 1 in the order the evaluator took them, which breaks timestamp ties."""
    return {row.id: sequence + index for index, row in enumerate(rows, start=1)}


def judge(context: Context, evaluator: RuleEvaluator, rows: Sequence[Any], sequence: int,
          store_violations: Callable[[list[dict[str, Any]]], None]) -> Judgement:
    """Judge pending sample rows, none older than the newest judged sample, in production
    order with the evaluator (which then stands after them), numbering their arrival from
    ``sequence``. ``store_violations`` writes the new violation rows and sets their ``id``,
    which the verdicts and frames carry. Shared by :func:`evaluate_locked` and the
    PostgreSQL submission path, which write the outcome each their own way."""
    arrival = {row.id: index for index, row in enumerate(rows)}
    ordered = sorted(rows, key=lambda row: (row.timestamp, arrival[row.id]))
    points, included, quarantined = _judgeable(
        context, [row for row in ordered if not row.is_excluded])
    sequences = arrival_sequences([row for row in rows if row.id not in quarantined], sequence)
    rows = ordered
    hits = evaluator.evaluate_many(points, [r.id for r in included]) if included else []
    violations = violation_rows(context, hits)
    if violations:
        store_violations(violations)
    by_sample: dict[int, list[dict[str, Any]]] = {}
    for violation in violations:
        by_sample.setdefault(violation["sample_id"], []).append(violation)

    position = {row.id: index for index, row in enumerate(included)}
    zones = zone_labels(points) if points is not None else []
    updates = []
    events: list[outbox.Event] = []
    verdicts = []
    for row in rows:
        if row.id in quarantined:
            updates.append({"id": row.id, "status": QUARANTINED})
            continue
        update = {"id": row.id, "status": EVALUATED, "sequence": sequences[row.id],
                  "limits_version": context.version}
        verdict = Verdict(row, "unknown", by_sample.get(row.id, []))
        if row.id in position:
            update.update(_mode_fields(context, points, position[row.id]))
            verdict = Verdict(row, str(zones[position[row.id]]), verdict.violations)
            events += _sample_frames(context, row, verdict.zone, verdict.violations)
        updates.append(update)
        verdicts.append(verdict)
    return Judgement(updates, verdicts, events, sequence + len(sequences), rows[-1].timestamp)


def _judgeable(context: Context, rows: list[Any]) -> tuple[Points | None, list[Any], set[int]]:
    """The points of the rows that can be judged, those rows, and the ids of the others.

    A row whose point is not finite (stored before ingest refused overflowing statistics,
    or written by hand) would make every evaluation of its characteristic fail, and every
    sample after it stay pending: it is quarantined instead, and logged."""
    if not rows:
        return None, [], set()
    try:
        return points_of(context, rows), rows, set()
    except SPCError:
        pass
    judgeable, quarantined = [], set()
    for row in rows:
        try:
            points_of(context, [row])
            judgeable.append(row)
        except SPCError as error:
            quarantined.add(row.id)
            log.error("sample_quarantined", characteristic_id=context.characteristic_id,
                      sample_id=row.id, reason=str(error))
    return (points_of(context, judgeable) if judgeable else None), judgeable, quarantined


def _sample_frames(context: Context, row: Any, zone: str,
                   violations: list[dict[str, Any]]) -> list[outbox.Event]:
    """The ``sample`` frame of an evaluated sample, then a ``violation`` frame per hit."""
    payloads = [violation_payload(v) for v in violations]
    sample_frame = {
        "type": "sample",
        "characteristic_id": context.characteristic_id,
        "sample": {
            "id": row.id,
            "characteristic_id": context.characteristic_id,
            "timestamp": row.timestamp.isoformat(),
            "mean": row.mean,
            "zone": zone,
            "in_control": not violations,
        },
        "violations": payloads,
    }
    return [(sample_frame, context.characteristic_id),
            *_violation_frames(context.characteristic_id, payloads)]


def _violation_frames(characteristic_id: int,
                      payloads: list[dict[str, Any]]) -> list[outbox.Event]:
    return [({"type": "violation", "violation": payload}, characteristic_id)
            for payload in payloads]


def after_commit(characteristic_id: int, sample_ids: list[int],
                 events: outbox.Claim | None) -> None:
    """Once an evaluation committed: wake the requests waiting for these samples, then send
    its events."""
    notify_evaluated(characteristic_id, sample_ids)
    outbox.send_claimed(events)


def reevaluate_from(characteristic: Characteristic, position: Position) -> list[dict[str, Any]]:
    """Re-judge the evaluated samples from ``position`` on in production order, after a
    change to one of them (an edit, G-12). Part of the caller's transaction, which must hold
    the characteristic's lock (:func:`lock_characteristic`). New violations are announced
    with ``violation`` frames, those that no longer hold with ``violation_cleared`` frames.
    Returns the new violations."""
    context = evaluation_context(characteristic)
    if context is None:
        return []
    rejudged = _rejudge_from(characteristic, context, position)
    outbox.record_many([
        *_violation_frames(context.characteristic_id,
                           [violation_payload(v) for v in rejudged.created]),
        *rejudged.cleared,
    ])
    return rejudged.created


@dataclass(frozen=True)
class Rejudgement:
    """The judged samples from an insertion point on (``tail``, in production order), their
    points, the violations inserted, and a ``violation_cleared`` frame per one removed."""

    tail: list[Any]
    points: Points | None
    created: list[dict[str, Any]]
    cleared: list[outbox.Event]


def _rejudge_from(characteristic: Characteristic, context: Context,
                  position: Position) -> Rejudgement:
    """Judge again, under the current limits, every evaluated sample from ``position`` on.

    The window before ``position`` seeds the evaluator; a violation that still fires keeps
    its row (and its acknowledgement), one that no longer fires is deleted, a new one is
    inserted. The evaluator state then describes the end of the history, ready for the next
    pending sample.
    """
    evaluator = _window_before(context, position)
    tail = db.session.execute(
        sa.select(*_POINT_COLUMNS, Sample.range_value, *_JUDGED_COLUMNS).where(
            Sample.char_id == characteristic.id, Sample.status == EVALUATED,
            Sample.is_excluded.is_(False), _from(position),
        ).order_by(*production_order())
    ).all()
    rejudged = Rejudgement(tail, None, [], [])
    if tail:
        points = points_of(context, tail)
        hits = evaluator.evaluate_many(points, [r.id for r in tail])
        changed = []
        for index, row in enumerate(tail):
            judged = {"limits_version": context.version, **_mode_fields(context, points, index)}
            if any(getattr(row, column) != value for column, value in judged.items()):
                changed.append({"id": row.id, **judged})
        update_by_id(Sample, changed)
        created, cleared = _reconcile(context, position, hits)
        rejudged = Rejudgement(tail, points, created, cleared)
    characteristic.eval_state = state_of(context, evaluator, _newest_evaluated(characteristic.id))
    return rejudged


def _reconcile(context: Context, position: Position,
               hits: list[RuleHit]) -> tuple[list[dict[str, Any]], list[outbox.Event]]:
    """Make the stored violations of the samples from ``position`` on equal ``hits``."""
    wanted = {(hit.point, hit.rule_id): hit for hit in hits}
    from_position = sa.select(Sample.id).where(
        Sample.char_id == context.characteristic_id, _from(position))
    existing = db.session.execute(
        sa.select(Violation).where(Violation.char_id == context.characteristic_id,
                                   Violation.sample_id.in_(from_position))
    ).scalars().all()
    cleared: list[outbox.Event] = []
    for violation in existing:
        hit = wanted.pop((violation.sample_id, violation.rule_id), None)
        if hit is None:
            cleared.append(({"type": "violation_cleared", "violation": {
                "id": violation.id, "sample_id": violation.sample_id,
                "characteristic_id": violation.char_id, "rule_id": violation.rule_id,
                "rule_name": violation.rule_name,
            }}, context.characteristic_id))
            db.session.delete(violation)
        else:
            violation.first_sample_id, violation.last_sample_id = hit.first, hit.last
    db.session.flush()
    created = violation_rows(context, wanted.values())
    _insert_violations(created)
    return created, cleared


def replay(characteristic_id: int) -> list[RuleHit]:
    """Re-evaluate a characteristic's evaluated history from scratch with the vectorised
    batch evaluator, in production order and under the current limits; writes nothing.

    Equal to the stored violations when the limits did not change and no sample was
    excluded or deleted after its evaluation: the proof that evaluation is deterministic.
    """
    characteristic = db.session.get(Characteristic, characteristic_id)
    context = evaluation_context(characteristic) if characteristic else None
    if context is None:
        return []
    rows = db.session.execute(
        sa.select(*_POINT_COLUMNS).where(
            Sample.char_id == characteristic_id, Sample.status == EVALUATED,
            Sample.is_excluded.is_(False),
        ).order_by(*production_order())
    ).all()
    if not rows:
        return []
    result = evaluate_batch(points_of(context, rows), context.config)
    return result.violations([r.id for r in rows])


def characteristics_with_stale_samples(older_than: timedelta) -> list[int]:
    """Characteristics with limits whose samples have waited longer than ``older_than``
    (their enqueue failed, or the task died with its worker): the sweeper's work list."""
    cutoff = utcnow() - older_than
    return list(db.session.execute(
        sa.select(Sample.char_id).distinct()
        .join(Characteristic, Characteristic.id == Sample.char_id)
        .where(Sample.status == PENDING, Sample.received_at < cutoff,
               Characteristic.ucl.is_not(None), Characteristic.lcl.is_not(None))
    ).scalars())


_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis | None:
    """The Redis client for notifications; None when embedded (the task ran eagerly)."""
    settings = get_settings()
    url = settings.message_queue_url
    if settings.embedded or not url:
        return None
    if url not in _clients:
        _clients[url] = redis.Redis.from_url(url)
    return _clients[url]


def notify_evaluated(characteristic_id: int, sample_ids: list[int]) -> None:
    client = _redis()
    if client is None or not sample_ids:
        return
    try:
        client.publish(CHANNEL.format(characteristic_id), json.dumps(sample_ids))
    except redis.RedisError:
        log.warning("evaluation_notify_failed", characteristic_id=characteristic_id)


def _still_pending(sample_ids: Collection[int]) -> dict[int, int]:
    """``{sample_id: characteristic_id}`` of the given samples that are pending and whose
    characteristic has limits (only those will be evaluated soon). Ends the read
    transaction so that the next check sees new commits."""
    if not sample_ids:
        return {}
    rows = db.session.execute(
        sa.select(Sample.id, Sample.char_id)
        .join(Characteristic, Characteristic.id == Sample.char_id)
        .where(Sample.id.in_(list(sample_ids)), Sample.status == PENDING,
               Characteristic.ucl.is_not(None), Characteristic.lcl.is_not(None))
    ).all()
    db.session.rollback()
    return {row.id: row.char_id for row in rows}


class _Waiter:
    """The samples one request waits for; ``done`` is set when every one was announced."""

    def __init__(self, sample_ids: Collection[int]):
        self.left = set(sample_ids)
        self.done = threading.Event()


class _Listener:
    """One Redis subscription per process to every characteristic's channel, shared by all
    the requests that wait for a verdict.

    A subscription per request cost each ``POST /samples`` a Redis connection, SUBSCRIBE
    and UNSUBSCRIBE round trips, and a database re-read per notification; here the
    listener thread hands each announced id to its waiter, and a waiter whose ids were all
    announced returns without reading the database again (a notification is only published
    after the commit that evaluated those ids).
    """

    def __init__(self, client: redis.Redis):
        self._client = client
        self._lock = threading.Lock()
        self._waiters: dict[int, list[_Waiter]] = {}
        self.subscribed = threading.Event()
        threading.Thread(target=self._run, name="openspc-evaluated", daemon=True).start()

    def register(self, sample_ids: Collection[int]) -> _Waiter:
        waiter = _Waiter(sample_ids)
        with self._lock:
            for sample_id in waiter.left:
                self._waiters.setdefault(sample_id, []).append(waiter)
        return waiter

    def left(self, waiter: _Waiter) -> set[int]:
        """A copy of the ids not yet announced (the listener thread changes the set)."""
        with self._lock:
            return set(waiter.left)

    def forget(self, waiter: _Waiter, sample_ids: Collection[int]) -> None:
        """Stop waiting for ``sample_ids`` (done, or nothing will judge them)."""
        with self._lock:
            for sample_id in sample_ids:
                waiters = self._waiters.get(sample_id, [])
                if waiter in waiters:
                    waiters.remove(waiter)
                if not waiters:
                    self._waiters.pop(sample_id, None)
                waiter.left.discard(sample_id)
            if not waiter.left:
                waiter.done.set()

    def _announce(self, sample_ids: Iterable[int]) -> None:
        with self._lock:
            for sample_id in sample_ids:
                for waiter in self._waiters.pop(sample_id, []):
                    waiter.left.discard(sample_id)
                    if not waiter.left:
                        waiter.done.set()

    def _run(self) -> None:
        while True:
            pubsub = self._client.pubsub()
            try:
                pubsub.psubscribe(CHANNEL.format("*"))
                for message in pubsub.listen():
                    if message["type"] == "psubscribe":
                        self.subscribed.set()
                    elif message["type"] == "pmessage":
                        self._announce(_announced_ids(message["data"]))
            except redis.RedisError:
                log.warning("evaluation_listener_reconnecting", exc_info=True)
                self.subscribed.clear()
                time.sleep(RECHECK_SECONDS)
            finally:
                pubsub.close()


def _announced_ids(data: bytes) -> list[int]:
    try:
        return [int(sample_id) for sample_id in json.loads(data)]
    except (TypeError, ValueError):
        log.warning("evaluation_notification_unreadable")
        return []


_listeners: dict[str, _Listener] = {}
_listeners_lock = threading.Lock()


def _listener() -> _Listener | None:
    """This process's listener (started on first use, after any fork); None when embedded."""
    client = _redis()
    if client is None:
        return None
    url = get_settings().message_queue_url
    with _listeners_lock:
        if url not in _listeners:
            _listeners[url] = _Listener(client)
            _listeners[url].subscribed.wait(RECHECK_SECONDS)
    return _listeners[url]


def wait_for_evaluation(sample_ids: Collection[int], timeout: float) -> set[int]:
    """Wait up to ``timeout`` seconds until the given samples are evaluated; returns the ids
    still pending (empty when all are done).

    Embedded, the eager task has already run, so this only checks. Distributed, the ids are
    registered with the process's listener *before* the database is read (so a notification
    cannot slip between the two); then the request sleeps until the evaluator has announced
    all of them, re-reading the database only every second as a safety net (a lost
    notification, Redis reconnecting). Samples of a characteristic without limits are not
    waited for: nothing will judge them.
    """
    sample_ids = set(sample_ids)
    if not sample_ids:
        return set()
    listener = _listener()
    if listener is None:
        return set(_still_pending(sample_ids))
    waiter = listener.register(sample_ids)
    deadline = time.monotonic() + timeout
    try:
        while True:
            unannounced = listener.left(waiter)
            listener.forget(waiter, unannounced - _still_pending(unannounced).keys())
            remaining = deadline - time.monotonic()
            if waiter.done.is_set() or remaining <= 0:
                return listener.left(waiter)
            if waiter.done.wait(min(remaining, RECHECK_SECONDS)):
                return set()
    finally:
        listener.forget(waiter, listener.left(waiter))
