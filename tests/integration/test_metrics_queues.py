"""``GET /metrics`` read with Prometheus's own parser while real queues fill and drain: a
burst of batch submissions with no worker running shows in the queue depth and the pending
count, and both fall back to zero once a Celery worker runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from openspc import create_app
from openspc.config import load_settings
from openspc.extensions import db
from tests.conftest import Factory
from tests.integration.processes import stop_process

pytestmark = pytest.mark.integration

REDIS_DB = 8
CHARACTERISTICS = 3
BATCHES = 2
SAMPLES_PER_BATCH = 40
TOTAL = CHARACTERISTICS * BATCHES * SAMPLES_PER_BATCH
DRAIN_TIMEOUT = 120


def _env(tmp_path: Path, broker_url: str) -> dict[str, str]:
    return {
        "OPENSPC_DATABASE_URL": f"sqlite:///{tmp_path / 'metrics.db'}",
        "OPENSPC_DATA_DIR": str(tmp_path),
        "OPENSPC_JWT_SECRET": "x" * 40,
        "OPENSPC_LOG_LEVEL": "WARNING",
        "OPENSPC_BROKER_URL": broker_url,
        "OPENSPC_REDIS_URL": broker_url,
    }


@pytest.fixture
def broker_url(redis_url) -> Iterator[str]:
    url = f"{redis_url}/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def app(tmp_path, broker_url):
    from flask_migrate import upgrade

    settings = load_settings(env=_env(tmp_path, broker_url), env_file="")
    application = create_app({"TESTING": True, "RATELIMIT_ENABLED": False}, settings=settings)
    with application.app_context():
        upgrade()
        yield application
        db.session.remove()
        db.engine.dispose()


def scrape(client, headers=None) -> dict[tuple[str, tuple], float]:
    """Every sample of the exposition, keyed by (name, sorted labels)."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.data.decode())
        for sample in family.samples
    }


def _start_worker(tmp_path: Path, broker_url: str, multiproc_dir: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSPC_")}
    env.update(_env(tmp_path, broker_url), PROMETHEUS_MULTIPROC_DIR=str(multiproc_dir))
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
         "-Q", "evaluate,publish,maintenance", "--pool", "solo", "--without-mingle",
         "--without-gossip", "-n", f"metrics-{os.getpid()}@%h", "--loglevel", "WARNING"],
        cwd=Path(__file__).resolve().parents[2], env=env,
        stdout=(tmp_path / "worker.log").open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_queue_depth_and_pending_follow_a_burst_then_drain(app, tmp_path, broker_url,
                                                           monkeypatch):
    factory = Factory(app)
    plant = factory.default_plant()
    headers = factory.headers(factory.user("operator", plant))
    chars = [factory.characteristic(factory.hierarchy(plant), ucl=13.0, lcl=7.0,
                                    center_line=10.0, sigma=1.0)
             for _ in range(CHARACTERISTICS)]
    client = app.test_client()
    before = scrape(client)
    ingested_before = before.get(("openspc_samples_ingested_total",
                                  (("source", "rest_batch"),)), 0.0)
    batch_route = (("method", "POST"), ("route", "/api/v1/samples/batch"), ("status", "200"))
    batches_before = before.get(("openspc_http_request_duration_seconds_count", batch_route), 0.0)
    for _ in range(BATCHES):
        for char in chars:
            response = client.post("/api/v1/samples/batch", headers=headers, json={
                "characteristic_id": char.id,
                "samples": [{"measurements": [10.0 + (i % 5) * 0.1]}
                            for i in range(SAMPLES_PER_BATCH)],
            })
            assert response.json["imported"] == SAMPLES_PER_BATCH, response.json

    burst = scrape(client)
    # One evaluation task per characteristic per batch, nobody taking them.
    assert burst[("openspc_queue_depth", (("queue", "evaluate"),))] == CHARACTERISTICS * BATCHES
    assert burst[("openspc_queue_depth", (("queue", "maintenance"),))] == 0
    assert burst[("openspc_samples_pending", ())] == TOTAL
    assert burst[("openspc_samples_oldest_pending_age_seconds", ())] > 0
    assert burst[("openspc_samples_ingested_total", (("source", "rest_batch"),))] == (
        ingested_before + TOTAL)
    assert burst[("openspc_http_request_duration_seconds_count", batch_route)] == (
        batches_before + CHARACTERISTICS * BATCHES)

    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    worker = _start_worker(tmp_path, broker_url, multiproc_dir)
    try:
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while True:
            drained = scrape(client)
            if (drained[("openspc_samples_pending", ())] == 0
                    and drained[("openspc_queue_depth", (("queue", "evaluate"),))] == 0):
                break
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            if time.monotonic() > deadline:
                pytest.fail(f"not drained: {drained}\n{(tmp_path / 'worker.log').read_text()}")
            time.sleep(0.5)
        assert drained[("openspc_samples_oldest_pending_age_seconds", ())] == 0
        # The worker's own counters, read from the directory it shares with this process.
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc_dir))
        shared = scrape(client)
        assert shared[("openspc_samples_evaluated_total", ())] == TOTAL
        runs = shared[("openspc_evaluation_lag_seconds_count", ())]
        assert 1 <= runs <= CHARACTERISTICS * BATCHES
        assert shared[("openspc_evaluation_lag_seconds_bucket", (("le", "+Inf"),))] == runs
    finally:
        stop_process(worker, timeout=30)
