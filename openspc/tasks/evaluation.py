"""Evaluation and publishing tasks: thin wrappers around the evaluation and outbox services.

``enqueue_evaluation`` is how ingest asks for an evaluation after its commit. It never raises:
a sample is already durable when it runs, and one whose enqueue failed (broker down) is
found by ``spc.sweep_pending``, which beat runs every few seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import structlog

from openspc.extensions import celery
from openspc.models.types import utcnow
from openspc.services import evaluation, outbox

log = structlog.get_logger(__name__)

STALE_AFTER = timedelta(seconds=5)
"""A pending sample older than this, on a characteristic with limits, has lost its task."""


@celery.task(name="spc.evaluate_pending")
def evaluate_pending(characteristic_id: int) -> int:
    """Evaluate what is pending for one characteristic; safe to run any number of times."""
    return len(evaluation.evaluate_pending(characteristic_id))


@celery.task(name="spc.sweep_pending")
def sweep_pending() -> int:
    """Enqueue an evaluation for every characteristic whose samples have waited too long."""
    characteristic_ids = evaluation.characteristics_with_stale_samples(STALE_AFTER)
    enqueue_evaluation(characteristic_ids)
    return len(characteristic_ids)


@celery.task(name="publish.sweep_outbox")
def sweep_outbox() -> int:
    """Send committed events whose publisher died before sending them, including those
    claimed by a process that has not marked them for ``CLAIM_TIMEOUT``."""
    return outbox.publish_all(claims_before=utcnow() - outbox.CLAIM_TIMEOUT)


def enqueue_evaluation(characteristic_ids: Iterable[int]) -> None:
    """One ``spc.evaluate_pending`` per characteristic. Failures are logged, never raised:
    the samples are committed and the sweeper enqueues them later. Embedded (eager Celery)
    the evaluation runs right here, and an error in it is logged the same way."""
    for characteristic_id in sorted(set(characteristic_ids)):
        try:
            evaluate_pending.delay(characteristic_id)
        except Exception:
            log.exception("enqueue_evaluation_failed", characteristic_id=characteristic_id)
