"""A real Celery worker process against Redis, and ``/ready`` seeing the broker come and go."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery

import celeryconfig
from openspc import create_app
from openspc.config import load_settings
from openspc.extensions import db
from tests.integration.processes import stop_process

pytestmark = pytest.mark.integration

REDIS_DB = 7
WORKER_START_TIMEOUT = 90


def _settings_env(tmp_path: Path, broker_url: str) -> dict[str, str]:
    return {
        "OPENSPC_DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}",
        "OPENSPC_DATA_DIR": str(tmp_path),
        "OPENSPC_JWT_SECRET": "x" * 40,
        "OPENSPC_LOG_LEVEL": "WARNING",
        "OPENSPC_BROKER_URL": broker_url,
        "OPENSPC_REDIS_URL": broker_url,
    }


def _app(tmp_path: Path, broker_url: str):
    settings = load_settings(env=_settings_env(tmp_path, broker_url), env_file="")
    return create_app({"RATELIMIT_ENABLED": False}, settings=settings)


@pytest.fixture
def broker_url(redis_url) -> str:
    return f"{redis_url}/{REDIS_DB}"


@pytest.fixture
def worker(tmp_path, broker_url) -> Iterator[subprocess.Popen]:
    """``celery -A workers.celery_app worker -Q evaluate,publish,maintenance`` as operators run
    it, with a solo pool and a node name of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSPC_")}
    env.update(_settings_env(tmp_path, broker_url))
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
         "-Q", "evaluate,publish,maintenance", "--pool", "solo", "--without-mingle",
         "--without-gossip", "-n", f"pytest-{os.getpid()}@%h", "--loglevel", "INFO"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    yield process
    stop_process(process, timeout=30)
    log.close()


def test_a_worker_process_runs_the_ping_task(tmp_path, broker_url, worker):
    """Sent by a Celery client of its own: the process-wide Celery app caches its producer
    pool and result backend from whichever app of the test session used it first."""
    client = Celery("ping-client")
    client.config_from_object(celeryconfig)
    client.conf.update(broker_url=broker_url, result_backend=broker_url)
    try:
        result = client.send_task("maintenance.ping", ignore_result=False)
        try:
            answer = result.get(timeout=WORKER_START_TIMEOUT)
        except Exception as exc:
            pytest.fail(f"no answer from the worker ({exc!r}):\n"
                        f"{(tmp_path / 'worker.log').read_text()}")
    finally:
        client.close()
    assert answer == "pong"
    assert worker.poll() is None
    assert "maintenance.ping" in (tmp_path / "worker.log").read_text()


def test_ready_reports_the_broker_up(tmp_path, broker_url):
    app = _app(tmp_path, broker_url)
    with app.app_context():
        response = app.test_client().get("/ready")
        db.engine.dispose()
    assert response.status_code == 200
    assert response.json["checks"] == {"database": True, "broker": True}


def test_ready_is_503_with_the_broker_down(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    app = _app(tmp_path, f"redis://127.0.0.1:{closed_port}/0")
    with app.app_context():
        response = app.test_client().get("/ready")
        db.engine.dispose()
    assert response.status_code == 503
    assert response.json["checks"] == {"database": True, "broker": False}
    assert response.json["status"] == "not_ready"
