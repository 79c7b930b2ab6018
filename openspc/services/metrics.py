"""``GET /metrics``: the counters of every process plus the state of the system, read when
Prometheus scrapes.

The state (queue depth, samples pending and the oldest one's age, unacknowledged violations,
outbox backlog) is the same whichever process answers, so it is read from Redis and the
database at scrape time rather than counted: it is right with any number of web or worker
processes, on any number of hosts, and after any restart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
import structlog
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from openspc import get_settings
from openspc.extensions import celery, db
from openspc.models import Characteristic, OutboxEvent, Sample, Violation
from openspc.models.sample import PENDING
from openspc.models.types import utcnow

log = structlog.get_logger(__name__)

REALTIME_DESTINATION = "realtime"
"""The outbox's one destination today: Socket.IO and raw WebSocket frames."""


def exposition() -> bytes:
    """The Prometheus text format: process counters (all processes' in multiprocess mode),
    then the system's state."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    state = CollectorRegistry()
    state.register(_StateCollector())
    return generate_latest(counted) + generate_latest(state)


class _StateCollector:
    def collect(self) -> Iterator[Metric]:
        yield _queue_depths()
        yield from _pending_samples()
        yield _unacknowledged_violations()
        yield _outbox_backlog()


def _queue_depths() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "openspc_queue_depth", "Messages waiting in each Celery queue (not yet taken by a "
        "worker); embedded mode runs tasks at once and reports 0", labels=["queue"],
    )
    names = [queue.name for queue in celery.conf.task_queues]
    depths = dict.fromkeys(names, 0.0)
    if not get_settings().embedded:
        try:
            depths = _broker_depths(names)
        except Exception as error:
            log.warning("metrics_queue_depth_failed", error=type(error).__name__)
            depths = dict.fromkeys(names, float("nan"))
    for name in names:
        family.add_metric([name], depths[name])
    return family


def _broker_depths(names: list[str]) -> dict[str, float]:
    """Asks the broker, as ``celery inspect``-free as a passive queue declaration: a queue
    that holds nothing may not exist yet on Redis, which counts as empty."""
    from kombu.exceptions import ChannelError

    depths: dict[str, float] = {}
    with celery.connection_for_read() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        channel = connection.default_channel
        for name in names:
            try:
                depths[name] = float(channel.queue_declare(queue=name, passive=True).message_count)
            except ChannelError:
                depths[name] = 0.0
    return depths


def _pending_samples() -> Iterator[GaugeMetricFamily]:
    """Per characteristic, through the (characteristic, status) index: a scan of the pending
    samples alone would read the whole sample table on databases that cannot skip the
    index's first column, so a scrape costs what the number of characteristics costs, not
    the size of the history. Samples of a characteristic without limits wait for limits, not
    for a worker, so they are counted apart: they must not say "add a worker"."""
    pending = (Sample.char_id == Characteristic.id) & (Sample.status == PENDING)
    rows = db.session.execute(
        sa.select(
            sa.select(sa.func.count()).select_from(Sample).where(pending).scalar_subquery(),
            sa.select(sa.func.min(Sample.received_at)).where(pending).scalar_subquery(),
            Characteristic.ucl.is_not(None) & Characteristic.lcl.is_not(None),
        ).select_from(Characteristic)
    ).all()
    judged = [(count, oldest) for count, oldest, has_limits in rows if has_limits and count]
    waiting_for_limits = sum(count for count, _, has_limits in rows if not has_limits)
    oldest = min((_aware(o) for _, o in judged if o is not None), default=None)
    yield GaugeMetricFamily("openspc_samples_pending",
                            "Samples stored and not yet evaluated, of characteristics with "
                            "control limits", value=sum(count for count, _ in judged))
    yield GaugeMetricFamily(
        "openspc_samples_oldest_pending_age_seconds",
        "Age of the oldest sample waiting for evaluation, of characteristics with control "
        "limits (0 when none waits)",
        value=0.0 if oldest is None else max((utcnow() - oldest).total_seconds(), 0.0),
    )
    yield GaugeMetricFamily(
        "openspc_samples_awaiting_limits",
        "Samples of characteristics without control limits: judged once limits are set",
        value=waiting_for_limits,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _unacknowledged_violations() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "openspc_violations_unacknowledged",
        "Violations that require acknowledgement and have none, by severity",
        labels=["severity"],
    )
    rows = db.session.execute(
        sa.select(Violation.severity, sa.func.count())
        .where(Violation.acknowledged.is_(False), Violation.requires_acknowledgement.is_(True))
        .group_by(Violation.severity)
    ).all()
    for severity, count in rows:
        family.add_metric([severity], count)
    return family


def _outbox_backlog() -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "openspc_outbox_backlog", "Committed events not yet published, by destination",
        labels=["destination"],
    )
    count = db.session.execute(
        sa.select(sa.func.count()).select_from(OutboxEvent)
        .where(OutboxEvent.published_at.is_(None))
    ).scalar_one()
    family.add_metric([REALTIME_DESTINATION], count)
    return family
