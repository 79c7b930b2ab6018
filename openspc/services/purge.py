"""The retention purge (ops.md §7.3, engine.md §14): delete what each characteristic's
effective policy no longer keeps.

- One run at a time across every process: the run holds the ``retention_purge`` lease
  (:mod:`openspc.services.leases`), which lapses if its holder dies.
- Bounded transactions: each batch deletes at most ``BATCH_SIZE`` samples of one
  characteristic and commits. It takes that characteristic's evaluation lock first, so an
  evaluator never writes a violation naming a sample being deleted, and holds it for that
  one batch only.
- No half-deleted sample: a sample's measurements, violations and edit history go with it in
  the same statement (the database's cascades), so a run killed between batches leaves whole
  samples, and the next run deletes the rest. Its history row, still ``running``, is closed
  as ``failed`` by that next run; the counters on it are those of the batches that committed,
  because every batch adds its counts to the row in the batch's own transaction.
- Samples still ``pending`` evaluation are never deleted (an evaluator may hold them); a
  later run takes them once judged.
- Age is the sample's own timestamp (production time), not its arrival.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from openspc.errors import Conflict
from openspc.extensions import db
from openspc.models import Plant, PurgeHistory, Sample, Violation
from openspc.models.sample import PENDING
from openspc.models.types import utcnow
from openspc.services import leases
from openspc.services.evaluation import lock_characteristic
from openspc.services.retention import (
    SAMPLE_COUNT,
    TIME_DELTA,
    EffectivePolicy,
    PlantPolicies,
    plant_characteristics,
)

log = structlog.get_logger(__name__)

BATCH_SIZE = 1000
LEASE = "retention_purge"
LEASE_TTL = timedelta(seconds=60)
"""Renewed with every batch; a holder silent for this long is taken for dead."""
INTERRUPTED = "Interrupted before completion; the next run deleted what it left"

RUNNING, COMPLETED, FAILED = "running", "completed", "failed"


class PurgeBusy(Conflict):
    def __init__(self) -> None:
        super().__init__("A retention purge is already running; try again when it has finished")


@dataclass
class Planned:
    """What one characteristic's policy removes (a dry run) or removed."""

    characteristic_id: int
    name: str
    policy: EffectivePolicy
    samples: int = 0
    violations: int = 0


@dataclass
class DryRun:
    plant_id: int
    characteristics: list[Planned] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "plant_id": self.plant_id,
            "samples_deleted": sum(c.samples for c in self.characteristics),
            "violations_deleted": sum(c.violations for c in self.characteristics),
            "characteristics_processed": len(self.characteristics),
            "characteristics": [
                {"characteristic_id": c.characteristic_id, "name": c.name,
                 "retention_type": c.policy.retention_type,
                 "retention_value": c.policy.retention_value,
                 "retention_unit": c.policy.retention_unit, "source": c.policy.source,
                 "samples_deleted": c.samples, "violations_deleted": c.violations}
                for c in self.characteristics
            ],
        }


def purge_all_plants(wait: float = 0.0) -> list[int]:
    """The scheduled run: every active plant, one after another. A plant that fails is
    logged and recorded, and the next plant still runs. Returns the history row ids."""
    holder = leases.new_holder_id("purge")
    if not leases.acquire(LEASE, holder, LEASE_TTL, wait):
        log.info("purge_skipped_busy")
        return []
    try:
        _close_interrupted_runs()
        plant_ids = db.session.execute(
            sa.select(Plant.id).where(Plant.is_active.is_(True)).order_by(Plant.id)
        ).scalars().all()
        return [_purge_plant(plant_id, holder) for plant_id in plant_ids]
    finally:
        leases.release(LEASE, holder)


def purge_plant(plant_id: int, wait: float) -> PurgeHistory:
    """``POST /retention/purge``: one plant, now, waiting up to ``wait`` seconds for a run
    in progress elsewhere to finish (409 past that)."""
    holder = leases.new_holder_id("purge")
    if not leases.acquire(LEASE, holder, LEASE_TTL, wait):
        raise PurgeBusy()
    try:
        _close_interrupted_runs()
        run_id = _purge_plant(plant_id, holder)
    finally:
        leases.release(LEASE, holder)
    return db.session.get(PurgeHistory, run_id)


def plan_plant(plant_id: int) -> DryRun:
    """``POST /retention/purge?dry_run=true``: what a run would delete now, deleting nothing."""
    now = utcnow()
    plan = DryRun(plant_id)
    for planned in _characteristics(plant_id):
        candidates = _candidates(planned.characteristic_id, planned.policy, now, None)
        if candidates is None:
            plan.characteristics.append(planned)
            continue
        picked = candidates.subquery()
        planned.samples = db.session.execute(
            sa.select(sa.func.count()).select_from(picked)
        ).scalar_one()
        planned.violations = db.session.execute(
            sa.select(sa.func.count()).select_from(Violation)
            .join(picked, picked.c.id == Violation.sample_id)
        ).scalar_one()
        plan.characteristics.append(planned)
    db.session.rollback()
    return plan


def _characteristics(plant_id: int) -> Iterable[Planned]:
    """The plant's characteristics whose policy deletes anything (``forever`` ones skipped)."""
    policies = PlantPolicies(plant_id)
    for characteristic_id, hierarchy_id, name in plant_characteristics(plant_id):
        policy = policies.resolve(characteristic_id, hierarchy_id)
        if policy.retention_type in (SAMPLE_COUNT, TIME_DELTA):
            yield Planned(characteristic_id, name, policy)


def _candidates(characteristic_id: int, policy: EffectivePolicy, now: datetime,
                limit: int | None, after: tuple[datetime, int] | None = None) -> sa.Select | None:
    """(id, timestamp) of the samples the policy removes, oldest first (at most ``limit``),
    or None when it removes nothing now. ``after``: the key of the last sample a previous
    batch deleted, where this one starts, so that no batch walks again over the index
    entries of the rows its predecessors deleted (PostgreSQL keeps them until a vacuum)."""
    deletable = sa.select(Sample.id, Sample.timestamp).where(
        Sample.char_id == characteristic_id, Sample.status != PENDING
    ).order_by(Sample.timestamp, Sample.id)
    if after is not None:
        deletable = deletable.where(sa.or_(
            Sample.timestamp > after[0], sa.and_(Sample.timestamp == after[0], Sample.id > after[1])
        ))
    if policy.retention_type == TIME_DELTA:
        age_limit = policy.age_limit()
        if age_limit is None:
            log.warning("purge_unknown_unit", characteristic_id=characteristic_id,
                        retention_unit=policy.retention_unit)
            return None
        deletable = deletable.where(Sample.timestamp < now - age_limit)
        return deletable if limit is None else deletable.limit(limit)
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(Sample).where(Sample.char_id == characteristic_id)
    ).scalar_one()
    excess = total - policy.retention_value
    if excess <= 0:
        return None
    return deletable.limit(excess if limit is None else min(excess, limit))


def _purge_plant(plant_id: int, holder: str) -> int:
    run = PurgeHistory(plant_id=plant_id, status=RUNNING, started_at=utcnow(),
                       samples_deleted=0, violations_deleted=0, characteristics_processed=0)
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    try:
        processed = 0
        for planned in list(_characteristics(plant_id)):
            _purge_characteristic(run_id, planned, holder)
            processed += 1
        _finish(run_id, COMPLETED, characteristics_processed=processed)
        log.info("purge_completed", plant_id=plant_id, run_id=run_id)
    except Exception as error:
        db.session.rollback()
        log.exception("purge_plant_failed", plant_id=plant_id, run_id=run_id)
        _finish(run_id, FAILED, error_message=f"{type(error).__name__}: {error}"[:2000])
        if isinstance(error, leases.LeaseLost):
            raise
    return run_id


def _purge_characteristic(run_id: int, planned: Planned, holder: str) -> None:
    """Batches of at most ``BATCH_SIZE`` samples, each its own short transaction."""
    now = utcnow()
    after: tuple[datetime, int] | None = None
    while True:
        lock_characteristic(planned.characteristic_id)
        candidates = _candidates(planned.characteristic_id, planned.policy, now, BATCH_SIZE,
                                 after)
        rows = [] if candidates is None else db.session.execute(candidates).all()
        if not rows:
            db.session.commit()
            return
        ids = [row.id for row in rows]
        after = (rows[-1].timestamp, rows[-1].id)
        violations = db.session.execute(
            sa.select(sa.func.count()).select_from(Violation)
            .where(Violation.sample_id.in_(ids))
        ).scalar_one()
        db.session.execute(
            sa.delete(Sample).where(Sample.id.in_(ids)),
            execution_options={"synchronize_session": False},
        )
        table = PurgeHistory.__table__
        db.session.execute(
            sa.update(table).where(table.c.id == run_id).values(
                samples_deleted=table.c.samples_deleted + len(ids),
                violations_deleted=table.c.violations_deleted + violations,
            )
        )
        leases.renew(LEASE, holder, LEASE_TTL)
        db.session.commit()
        planned.samples += len(ids)
        planned.violations += violations
        if len(ids) < BATCH_SIZE and planned.policy.retention_type == TIME_DELTA:
            return


def _finish(run_id: int, status: str, **values: Any) -> None:
    table = PurgeHistory.__table__
    db.session.execute(
        sa.update(table).where(table.c.id == run_id)
        .values(status=status, completed_at=utcnow(), **values)
    )
    db.session.commit()


def _close_interrupted_runs() -> None:
    """Runs still ``running`` while we hold the lease were cut short (their holder died)."""
    table = PurgeHistory.__table__
    db.session.execute(
        sa.update(table).where(table.c.status == RUNNING)
        .values(status=FAILED, completed_at=utcnow(), error_message=INTERRUPTED)
    )
    db.session.commit()
