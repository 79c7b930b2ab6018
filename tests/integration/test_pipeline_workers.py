"""The sample path on real parts: PostgreSQL or a SQLite file, Redis and two Celery workers.

Twenty characteristics × 500 samples go in concurrently through ``POST /samples`` and
``POST /samples/batch`` (8 client threads against the Flask app; chunks of one characteristic
run in parallel threads, so characteristics have concurrent writers), evaluation tasks are
duplicated on purpose, and one worker is SIGKILLed mid-run. Each sample carries its
production timestamp (a minute apart) and each characteristic's chunks go in shuffled, so
most arrive back-dated behind later ones. Then: every sample is evaluated exactly once
(sequence 1..500 without gap, one ``sample`` frame per sample), each client's own
submissions keep their arrival order, nothing stays pending, and the stored violations
equal those of the chart as drawn, computed here with the batch evaluator on the values in
timestamp order (and the service's own replay agrees).
"""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from openspc import create_app
from openspc.auth.tokens import issue_access_token
from openspc.config import load_settings
from openspc.extensions import db
from openspc.models import (
    Characteristic,
    CharacteristicRule,
    Hierarchy,
    OutboxEvent,
    Plant,
    Sample,
    User,
    UserPlantRole,
    Violation,
)
from openspc.services import evaluation
from openspc.spc import Points, RuleConfig, evaluate_batch
from tests.conftest import require_service

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
DATABASE = "openspc_pipeline_test"
REDIS = "redis://127.0.0.1:6379/5"
CHARACTERISTICS = 20
PER_CHARACTERISTIC = 500
SINGLE_CHUNKS, SINGLE_SIZE = 2, 10  # 20 single POSTs per characteristic (400 in all)
BATCH_CHUNKS, BATCH_SIZE = 4, 120  # 480 samples per characteristic through the batch route
THREADS = 8
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _services_up() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS).ping()
        sa.create_engine(f"{SERVER}/postgres").connect().close()
    except Exception:
        return False
    return True


def _fresh_database() -> None:
    engine = sa.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
        ), {"name": DATABASE})
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {DATABASE}"))
        connection.execute(sa.text(f"CREATE DATABASE {DATABASE}"))
    engine.dispose()


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def stack(request, tmp_path_factory):
    require_service(_services_up(), "PostgreSQL on 5432 and Redis on 6379 are needed")
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    folder = tmp_path_factory.mktemp("pipeline")
    if request.param == "postgresql":
        _fresh_database()
        database_url = f"{SERVER}/{DATABASE}"
    else:
        database_url = f"sqlite:///{folder / 'pipeline.db'}"
    env = {
        "OPENSPC_DATABASE_URL": database_url,
        "OPENSPC_BROKER_URL": REDIS,
        "OPENSPC_REDIS_URL": REDIS,
        "OPENSPC_JWT_SECRET": "pipeline-secret-" + "x" * 40,
        "OPENSPC_DATA_DIR": str(folder),
        "OPENSPC_LOG_LEVEL": "WARNING",
        "OPENSPC_SAMPLE_WAIT_TIMEOUT": "5",
        "OPENSPC_DEV_MODE": "true",
    }
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False},
                     settings=load_settings(env=env, env_file=""))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    workers = [_start_worker(index, env, folder) for index in (1, 2)]
    try:
        _wait_for_workers(app, len(workers))
        yield app, workers, folder
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        with app.app_context():
            db.engine.dispose()


def _start_worker(index: int, env: dict[str, str], folder: Path) -> subprocess.Popen:
    log = open(folder / f"worker{index}.log", "w")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("celery")), "-A", "workers.celery_app", "worker",
         "-Q", "evaluate,publish,maintenance", "-c", "1", "-n", f"pipeline{index}@%h",
         "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for_workers(app, count: int) -> None:
    celery = app.extensions["celery"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(celery.control.ping(timeout=1.0) or []) >= count:
            return
    pytest.fail("the Celery workers did not come up")


def _series(seed: int) -> list[float]:
    """Noise with a shift, a trend and outliers, so that most rules fire somewhere."""
    rng = np.random.default_rng(seed)
    values = rng.normal(10.0, 1.0, PER_CHARACTERISTIC)
    values[100:115] += 1.6
    values[300:307] = np.linspace(8.5, 11.5, 7)
    values[rng.integers(0, PER_CHARACTERISTIC, 5)] = 14.0
    return [round(float(v), 4) for v in values]


def _setup_characteristics(app) -> tuple[list[int], dict[str, str]]:
    with app.app_context():
        plant = db.session.execute(sa.select(Plant).filter_by(code="DEFAULT")).scalar_one()
        user = User(username="pipeline", hashed_password="x")
        db.session.add(user)
        db.session.flush()
        db.session.add(UserPlantRole(user_id=user.id, plant_id=plant.id, role="operator"))
        node = Hierarchy(name="Line", type="Line", plant_id=plant.id)
        db.session.add(node)
        db.session.flush()
        ids = []
        for index in range(CHARACTERISTICS):
            characteristic = Characteristic(
                hierarchy_id=node.id, name=f"C{index}", subgroup_size=1, chart_type="i_mr",
                ucl=13.0, lcl=7.0, stored_center_line=10.0, stored_sigma=1.0,
            )
            characteristic.rules = [CharacteristicRule(rule_id=r, is_enabled=True)
                                    for r in range(1, 9)]
            db.session.add(characteristic)
            db.session.flush()
            ids.append(characteristic.id)
        db.session.commit()
        headers = {"Authorization": f"Bearer {issue_access_token(user)}"}
        return ids, headers


def _timestamp(position: int) -> str:
    return (T0 + timedelta(minutes=position)).isoformat().replace("+00:00", "Z")


def _chunks(characteristic_ids: list[int]) -> list[tuple[int, str, list[tuple[str, float]]]]:
    """Round-robin over characteristics so that each has several chunks in flight; each
    characteristic's chunks in shuffled time order."""
    per_characteristic = []
    for index, characteristic_id in enumerate(characteristic_ids):
        values = list(enumerate(_series(index)))
        kinds = ["single"] * SINGLE_CHUNKS + ["batch"] * BATCH_CHUNKS
        random.Random(index).shuffle(kinds)
        chunks, position = [], 0
        for kind in kinds:
            size = SINGLE_SIZE if kind == "single" else BATCH_SIZE
            chunks.append((characteristic_id, kind, [
                (_timestamp(minute), value) for minute, value in values[position:position + size]
            ]))
            position += size
        random.Random(100 + index).shuffle(chunks)
        per_characteristic.append(chunks)
    return [chunk for group in zip(*per_characteristic, strict=True) for chunk in group]


def _submit(client, headers, tag: str, chunk) -> list[int]:
    """Submit one chunk; the ids of its samples in submission order."""
    characteristic_id, kind, values = chunk
    if kind == "single":
        ids = []
        for timestamp, value in values:
            response = client.post("/api/v1/samples/", headers=headers, json={
                "characteristic_id": characteristic_id, "measurements": [value],
                "timestamp": timestamp})
            assert response.status_code == 201, response.json
            ids.append(response.json["sample_id"])
        return ids
    response = client.post("/api/v1/samples/batch", headers=headers, json={
        "characteristic_id": characteristic_id,
        "samples": [{"measurements": [value], "timestamp": timestamp, "batch_number": tag}
                    for timestamp, value in values]})
    assert response.json["imported"] == len(values), response.json
    with client.application.app_context():
        return list(db.session.execute(
            sa.select(Sample.id).where(Sample.batch_number == tag).order_by(Sample.id)
        ).scalars())


def _evaluated_count(app) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(Sample).where(Sample.status == "evaluated"))


@pytest.mark.timeout(600)
def test_every_sample_is_evaluated_once_in_production_order(stack):
    app, workers, folder = stack
    started = time.monotonic()
    characteristic_ids, headers = _setup_characteristics(app)
    chunks = _chunks(characteristic_ids)
    work: queue.Queue = queue.Queue()
    for index, chunk in enumerate(chunks):
        work.put((f"chunk-{index}", chunk))
    submitted: list[tuple[int, list[int]]] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def client_thread() -> None:
        client = app.test_client()
        while not failures:
            try:
                tag, chunk = work.get_nowait()
            except queue.Empty:
                return
            try:
                submitted.append((chunk[0], _submit(client, headers, tag, chunk)))
            except BaseException as error:  # reported by the main thread
                failures.append(error)

    def duplicate_tasks() -> None:
        celery = app.extensions["celery"]
        rng = random.Random(5)
        while not done.is_set():
            celery.send_task("spc.evaluate_pending", args=[rng.choice(characteristic_ids)])
            time.sleep(0.1)

    threads = [threading.Thread(target=client_thread) for _ in range(THREADS)]
    duplicator = threading.Thread(target=duplicate_tasks)
    for thread in [*threads, duplicator]:
        thread.start()
    total = CHARACTERISTICS * PER_CHARACTERISTIC
    while _evaluated_count(app) < total * 0.3 and not failures:
        time.sleep(0.2)
    evaluated_at_kill = _evaluated_count(app)
    killed_after = time.monotonic() - started
    os.killpg(workers[0].pid, signal.SIGKILL)
    for thread in threads:
        thread.join()
    done.set()
    duplicator.join()
    assert not failures, failures[0]
    print(f"worker 1 killed after {killed_after:.1f} s, submissions done after "
          f"{time.monotonic() - started:.1f} s")
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    assert 0 < evaluated_at_kill < total

    celery = app.extensions["celery"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with app.app_context():
            pending = db.session.scalar(sa.select(sa.func.count()).select_from(Sample)
                                        .where(Sample.status == "pending"))
        if not pending:
            break
        celery.send_task("spc.sweep_pending")
        time.sleep(1.0)
    assert pending == 0, (folder / "worker2.log").read_text()[-3000:]

    with app.app_context():
        for characteristic_id in characteristic_ids:
            sequences = sorted(db.session.execute(
                sa.select(Sample.sequence).where(Sample.char_id == characteristic_id)
            ).scalars())
            assert sequences == list(range(1, PER_CHARACTERISTIC + 1))
            characteristic = db.session.get(Characteristic, characteristic_id)
            assert characteristic.eval_sequence == PER_CHARACTERISTIC
        sample_frames = [
            (characteristic_id, frame["sample"]["id"])
            for characteristic_id, frames in db.session.execute(
                sa.select(OutboxEvent.characteristic_id, OutboxEvent.frame))
            for frame in frames if frame["type"] == "sample"
        ]
        assert Counter(c for c, _ in sample_frames) == dict.fromkeys(characteristic_ids,
                                                                     PER_CHARACTERISTIC)
        assert len({sample_id for _, sample_id in sample_frames}) == total

        sequence_of = dict(db.session.execute(sa.select(Sample.id, Sample.sequence)).all())
        for _characteristic_id, ids in submitted:
            order = [sequence_of[i] for i in ids]
            assert order == sorted(order), "a client's submissions were evaluated out of order"

        stored_total = 0
        for characteristic_id in characteristic_ids:
            stored = set(db.session.execute(
                sa.select(Violation.sample_id, Violation.rule_id, Violation.first_sample_id,
                          Violation.last_sample_id).where(Violation.char_id == characteristic_id)
            ).tuples())
            drawn = db.session.execute(
                sa.select(Sample.id, Sample.mean).where(Sample.char_id == characteristic_id)
                .order_by(Sample.timestamp)).all()
            points = Points.build([row.mean for row in drawn], 10.0, 1.0, 13.0, 7.0)
            expected = {(h.point, h.rule_id, h.first, h.last) for h in evaluate_batch(
                points, RuleConfig.nelson()).violations([row.id for row in drawn])}
            assert stored == expected
            replayed = {(h.point, h.rule_id, h.first, h.last)
                        for h in evaluation.replay(characteristic_id)}
            assert replayed == expected
            stored_total += len(stored)
        assert stored_total > CHARACTERISTICS * 5
    assert time.monotonic() - started < 240
