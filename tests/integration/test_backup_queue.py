"""POST /api/v1/database/backup with a broker: the backup goes to the maintenance queue; with
no worker taking it within the wait, the answer is 202 with the task id and a poll URL that
shows it queued. With the broker unreachable, 503 and the record says why."""

from __future__ import annotations

import pytest
import redis

from openspc import create_app
from openspc.extensions import db
from openspc.services import database_admin
from tests.conftest import Factory, make_settings

REDIS_DB = 7


@pytest.fixture
def app(tmp_path, migrated_template, redis_url):
    import shutil

    shutil.copy(migrated_template, tmp_path / "openspc.db")
    broker = f"{redis_url}/{REDIS_DB}"
    application = create_app({"TESTING": True, "RATELIMIT_ENABLED": False}, settings=make_settings(
        tmp_path, OPENSPC_BROKER_URL=broker, OPENSPC_REDIS_URL=broker))
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()
    queue = redis.Redis.from_url(broker)
    queue.delete("maintenance")
    queue.close()


def test_a_backup_no_worker_took_yet_answers_202_with_where_to_poll(app, monkeypatch):
    monkeypatch.setattr(database_admin, "BACKUP_WAIT_SECONDS", 0.5)
    queue = redis.Redis.from_url(app.extensions["openspc_settings"].broker_url)
    waiting = queue.llen("maintenance")
    client = app.test_client()
    admin = Factory(app).headers(Factory(app).user("admin"))
    response = client.post("/api/v1/database/backup", headers=admin)
    assert response.status_code == 202, response.json
    body = response.json
    assert body["status"] == "queued" and body["task_id"]
    assert body["poll"] == f"/api/v1/database/backups/{body['name']}"
    polled = client.get(body["poll"], headers=admin)
    assert (polled.status_code, polled.json["status"]) == (200, "queued")
    assert queue.llen("maintenance") == waiting + 1
    queue.close()


def test_an_unreachable_broker_gives_503_and_a_failed_record(tmp_path, migrated_template):
    import shutil

    shutil.copy(migrated_template, tmp_path / "openspc.db")
    unreachable = "redis://127.0.0.1:1/0"
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False,
                      "CELERY": {"broker_connection_timeout": 1, "broker_connection_retry": False,
                                 "broker_transport_options": {"max_retries": 0}}},
                     settings=make_settings(tmp_path, OPENSPC_BROKER_URL=unreachable))
    with app.app_context():
        client = app.test_client()
        admin = Factory(app).headers(Factory(app).user("admin"))
        response = client.post("/api/v1/database/backup", headers=admin)
        assert (response.status_code, response.json) == (
            503, {"detail": "Backup could not be queued: the task broker is unavailable"})
        [record] = client.get("/api/v1/database/backups", headers=admin).json
        assert (record["status"], record["error"]) == ("failed", "Could not reach the task broker")
        db.session.remove()
        db.engine.dispose()
