"""A task whose database connection fails is retried with a backoff (issue 11, item 9): a
real Celery worker on PostgreSQL and Redis; the database refuses connections while the task
runs, then comes back, and the samples are evaluated by the retry alone (no beat, so no
sweeper)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis
import sqlalchemy as sa
from celery import Celery

import celeryconfig
from openspc.extensions import db
from openspc.models import Measurement, Sample
from tests.conftest import Factory
from tests.integration.conftest import migrated_app
from tests.integration.processes import stop_process

NAME = "openspc_hardening_task_retry_test"
REDIS_DB = 4


@pytest.fixture
def stack(postgres, redis_url, tmp_path) -> Iterator:
    broker = f"{redis_url}/{REDIS_DB}"
    redis.Redis.from_url(broker).flushdb()
    settings = {"OPENSPC_BROKER_URL": broker, "OPENSPC_REDIS_URL": broker,
                "OPENSPC_PENDING_SWEEP_SECONDS": "3600"}
    with migrated_app(postgres, NAME, tmp_path, **settings) as app:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSPC_")}
        env.update(settings, OPENSPC_DATABASE_URL=str(db.engine.url.render_as_string(
            hide_password=False)), OPENSPC_DATA_DIR=str(tmp_path), OPENSPC_JWT_SECRET="x" * 40,
            OPENSPC_LOG_LEVEL="INFO")
        log = (tmp_path / "worker.log").open("w")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
             "-Q", "evaluate,publish,maintenance", "--pool", "solo", "--without-mingle",
             "--without-gossip", "-n", f"retry-{os.getpid()}@%h"],
            cwd=os.getcwd(), env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        client = Celery("retry-client")
        client.config_from_object(celeryconfig)
        client.conf.update(broker_url=broker, result_backend=broker)
        try:
            assert client.send_task("maintenance.ping", ignore_result=False).get(
                timeout=90) == "pong"
            yield app, client, postgres, tmp_path / "worker.log"
        finally:
            client.close()
            stop_process(worker, timeout=30)
            log.close()


def _allow_connections(server, allowed: bool) -> None:
    engine = sa.create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(
                f'ALTER DATABASE "{NAME}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}'))
    finally:
        engine.dispose()


def _pending_samples(app, count: int) -> int:
    factory = Factory(app)
    chart = factory.characteristic(ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0)
    when = datetime(2024, 1, 1, tzinfo=UTC)
    for index in range(count):
        sample = Sample(char_id=chart.id, timestamp=when, actual_n=1, mean=10.0 + index % 3,
                        status="pending", received_at=when)
        sample.measurements = [Measurement(value=sample.mean)]
        db.session.add(sample)
    db.session.commit()
    return chart.id


def _statuses() -> list[str]:
    db.session.rollback()
    return db.session.execute(sa.select(Sample.status)).scalars().all()


def test_an_evaluation_that_loses_its_database_is_retried_and_completes(stack):
    app, client, server, worker_log = stack
    characteristic_id = _pending_samples(app, 5)
    db.session.remove()
    db.engine.dispose()
    _allow_connections(server, False)
    server.drop_connections(NAME)
    try:
        client.send_task("spc.evaluate_pending", [characteristic_id])
        deadline = time.monotonic() + 20
        while "task_database_unavailable" not in worker_log.read_text():
            assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        _allow_connections(server, True)
    deadline = time.monotonic() + 40
    while set(_statuses()) != {"evaluated"}:
        assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
        time.sleep(0.5)
    assert len(_statuses()) == 5
