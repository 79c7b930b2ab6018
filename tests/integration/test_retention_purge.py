"""The retention purge on PostgreSQL and MariaDB: exact deletions with their cascades, one run
at a time across processes, and a run killed halfway that the next run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from celery import Celery

import celeryconfig
from openspc.extensions import db
from openspc.models import Characteristic, Hierarchy, Plant, RetentionPolicy
from openspc.models.types import utcnow
from openspc.services import leases, purge
from tests import retention_scenario
from tests.conftest import Factory
from tests.integration.conftest import migrated_app

pytestmark = pytest.mark.integration

DATABASE = "openspc_retention_purge_test"
BIG = 20_000
"""Samples of the characteristic a killed run leaves half purged."""


@pytest.fixture(params=["postgres", "mariadb"])
def server(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
def app(server, tmp_path):
    with migrated_app(server, DATABASE, tmp_path) as application:
        yield application


def test_policies_at_each_level_delete_exactly_the_computed_samples(app):
    scenario = retention_scenario.build()
    admin = Factory(app).user("admin", db.session.get(Plant, scenario.plant_a))
    client = app.test_client()
    response = client.post(f"/api/v1/retention/purge?plant_id={scenario.plant_a}",
                           headers=Factory(app).headers(admin))
    assert response.status_code == 200, response.json
    run = response.json
    assert run["status"] == "completed"
    assert {k: run[k] for k in retention_scenario.EXPECTED_RUN} == retention_scenario.EXPECTED_RUN
    retention_scenario.assert_purged_as_computed(scenario)


def test_dry_run_deletes_nothing(app):
    scenario = retention_scenario.build()
    before = retention_scenario.count("sample"), retention_scenario.count("measurement")
    plan = purge.plan_plant(scenario.plant_a).as_dict()
    assert {k: plan[k] for k in retention_scenario.EXPECTED_RUN} == retention_scenario.EXPECTED_RUN
    assert (retention_scenario.count("sample"), retention_scenario.count("measurement")) == before


def test_two_purges_started_at_once_run_one_after_the_other(app):
    scenario = retention_scenario.build()
    start = threading.Barrier(2)
    run_ids: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        with app.app_context():
            try:
                start.wait()
                run_ids.append(purge.purge_plant(scenario.plant_a, wait=60).id)
            except BaseException as error:  # reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    db.session.rollback()
    rows = db.session.execute(
        sa.text("SELECT started_at, completed_at, status, samples_deleted FROM purge_history "
                "ORDER BY started_at")
    ).all()
    assert [r.status for r in rows] == ["completed", "completed"]
    assert rows[0].completed_at <= rows[1].started_at  # no overlap
    assert [r.samples_deleted for r in rows] == [14, 0]
    retention_scenario.assert_purged_as_computed(scenario)


def test_the_lease_excludes_a_second_holder_until_released_or_expired(app):
    ttl = timedelta(seconds=1)
    assert leases.acquire("probe", "first", ttl)
    assert not leases.acquire("probe", "second", ttl)
    time.sleep(1.2)
    assert leases.acquire("probe", "second", ttl)  # the first stopped renewing
    leases.release("probe", "second")
    assert leases.acquire("probe", "third", ttl)


def _big_characteristic() -> tuple[int, int]:
    """A plant whose one characteristic keeps 10 of ``BIG`` samples (two measurements and a
    violation each), written in bulk."""
    plant = Plant(name="Big", code="BIG", settings={})
    db.session.add(plant)
    db.session.flush()
    node = Hierarchy(plant_id=plant.id, name="Line", type="Line")
    db.session.add(node)
    db.session.flush()
    char = Characteristic(hierarchy_id=node.id, name="Bore", subgroup_size=2, chart_type="xbar_r")
    db.session.add(char)
    db.session.flush()
    db.session.add(RetentionPolicy(plant_id=plant.id, scope="characteristic",
                                   characteristic_id=char.id, retention_type="sample_count",
                                   retention_value=10))
    start = utcnow() - timedelta(days=365)
    first_id = 1_000_000
    samples = [{"id": first_id + i, "char_id": char.id, "timestamp": start + timedelta(minutes=i),
                "actual_n": 2, "mean": 1.0, "status": "evaluated", "is_excluded": False,
                "is_undersized": False, "is_modified": False, "received_at": start}
               for i in range(BIG)]
    tables = db.metadata.tables
    db.session.execute(sa.insert(tables["sample"]), samples)
    db.session.execute(sa.insert(tables["measurement"]),
                       [{"sample_id": s["id"], "value": v} for s in samples for v in (0.5, 1.5)])
    db.session.execute(sa.insert(tables["violation"]),
                       [{"sample_id": s["id"], "char_id": char.id, "rule_id": 1,
                         "severity": "CRITICAL", "acknowledged": False,
                         "requires_acknowledgement": True} for s in samples])
    db.session.commit()
    return plant.id, char.id


REDIS_DB = 8
WORKER_SCRIPT = textwrap.dedent("""
    import sys
    from datetime import timedelta
    from celery.__main__ import main
    from openspc.services import purge
    # Small batches and a short lease, so that the test sees a run halfway and its lease lapse.
    purge.BATCH_SIZE = 200
    purge.LEASE_TTL = timedelta(seconds=2)
    sys.argv = ["celery", "-A", "workers.celery_app", "worker", "-Q", "maintenance",
                "--pool", "solo", "--without-mingle", "--without-gossip",
                "-n", sys.argv[1], "--loglevel", "WARNING"]
    main()
""")


@pytest.fixture
def broker_url(redis_url) -> Iterator[str]:
    url = f"{redis_url}/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def _send_purge(broker_url: str) -> None:
    """As beat does: a message on the maintenance queue, from a Celery client of its own."""
    client = Celery("purge-client")
    client.config_from_object(celeryconfig)
    client.conf.update(broker_url=broker_url)
    try:
        client.send_task("maintenance.retention_purge")
    finally:
        client.close()


def _running_row() -> sa.Row | None:
    return db.session.execute(sa.text(
        "SELECT id, samples_deleted FROM purge_history WHERE status = 'running'"
    )).first()


def test_a_worker_killed_halfway_leaves_whole_samples_and_the_next_run_completes(
        app, tmp_path: Path, broker_url: str):
    """A Celery worker takes the scheduled purge from the maintenance queue and is killed
    (SIGKILL) once a few batches committed."""
    plant_id, char_id = _big_characteristic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSPC_")}
    env.update({"OPENSPC_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                "OPENSPC_DATA_DIR": str(tmp_path), "OPENSPC_JWT_SECRET": "x" * 40,
                "OPENSPC_LOG_LEVEL": "WARNING", "OPENSPC_BROKER_URL": broker_url,
                "OPENSPC_REDIS_URL": broker_url})
    log = tmp_path / "worker.log"
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, f"purge-{os.getpid()}@%h"], env=env,
        cwd=Path(__file__).resolve().parents[2], stdout=log.open("w"),
        stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _send_purge(broker_url)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            row = _running_row()
            db.session.rollback()
            if row is not None and row.samples_deleted >= 1000:
                break
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
        else:
            pytest.fail(f"the purge never got halfway:\n{log.read_text()}")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    left = retention_scenario.count("sample", "char_id = :c", c=char_id)
    assert 10 < left < BIG  # halfway
    # Whole samples only: every survivor has both measurements and its violation.
    assert retention_scenario.count("measurement") == 2 * left
    assert retention_scenario.count("violation") == left
    db.session.rollback()
    interrupted = _running_row()
    assert interrupted is not None
    deleted_before = BIG - left
    assert interrupted.samples_deleted == deleted_before  # the counters of committed batches
    # The dead run's lease still holds for a moment, then lapses.
    assert not leases.acquire(purge.LEASE, "impatient", timedelta(seconds=1))
    run_ids = purge.purge_all_plants(wait=10)
    db.session.rollback()
    rows = {r.id: r for r in db.session.execute(sa.text(
        "SELECT id, status, samples_deleted, violations_deleted, error_message "
        "FROM purge_history WHERE plant_id = :p"), {"p": plant_id})}
    assert rows[interrupted.id].status == "failed"
    assert rows[interrupted.id].error_message == purge.INTERRUPTED
    (rerun,) = set(rows) & set(run_ids)
    assert rows[rerun].status == "completed"
    assert rows[rerun].samples_deleted == left - 10
    assert rows[rerun].violations_deleted == left - 10
    assert retention_scenario.count("sample") == 10
    assert retention_scenario.count("measurement") == 20
    kept = db.session.execute(sa.text(
        "SELECT id FROM sample ORDER BY id")).scalars().all()
    assert kept == list(range(1_000_000 + BIG - 10, 1_000_000 + BIG))
