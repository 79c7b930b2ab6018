"""A Redis outage (broker and message queue) on the sample path, with PostgreSQL up.

A single submission keeps being judged and stored while Redis is down (its verdict needs
only the database); the frames of that time stay in the outbox, marked unsent, and reach
subscribers once Redis is back and the outbox sweeper runs. The test runs its own
redis-server so that it can stop it and start it again on the same port.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from openspc import create_app
from openspc.auth.api_keys import generate_api_key
from openspc.extensions import db
from openspc.models import ApiKey, OutboxEvent, Sample, Violation
from openspc.realtime.relay import channel_for
from openspc.tasks.evaluation import sweep_outbox
from tests.conftest import Factory, make_settings, require_service
from tests.integration.processes import stop_process
from tests.integration.rest import characteristic_via_api

pytestmark = [
    pytest.mark.integration,
    # The publisher thread meets Redis and the database going away here: it must survive.
    pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning"),
]

DATABASE = "openspc_outage_test"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A throw-away redis-server on its own port, keeping nothing on disk."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        require_service(self.binary is not None, "redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=10)
            self.process = None


class Frames:
    """Socket.IO messages published on the channel, unpacked into their frames."""

    def __init__(self, url: str):
        self.frames: list[dict] = []
        self._pubsub = redis.Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(channel_for(url))
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        try:
            for message in self._pubsub.listen():
                data = json.loads(message["data"])
                for inner in data.get("batch", [data]):
                    self.frames.append(inner["data"][0])
        except (redis.ConnectionError, ValueError):
            return

    def sample_ids(self, timeout: float, count: int) -> list[int]:
        """The ids of the ``sample`` frames received, once ``count`` arrived (or on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            ids = [f["sample"]["id"] for f in self.frames if f["type"] == "sample"]
            if len(ids) >= count or time.monotonic() > deadline:
                return ids
            time.sleep(0.02)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@dataclass
class Plant:
    """A migrated PostgreSQL database behind an app on the test's Redis, with an engineer's
    headers and a characteristic (n = 1, UCL 13, LCL 7)."""

    app: Flask
    client: FlaskClient
    headers: dict[str, str]
    characteristic_id: int

    def submit(self, value: float, headers: dict[str, str] | None = None,
               path: str = "/api/v1/samples/") -> dict:
        response = self.client.post(path, headers=headers or self.headers, json={
            "characteristic_id": self.characteristic_id, "measurements": [value]})
        assert response.status_code == 201, response.json
        return response.json


@pytest.fixture
def plant(request, postgres, redis_server, tmp_path) -> Iterator[Plant]:
    url = postgres.fresh_database(DATABASE)
    app = create_app(
        {"TESTING": True, "RATELIMIT_ENABLED": getattr(request, "param", False)},
        settings=make_settings(tmp_path, OPENSPC_DATABASE_URL=url,
                               OPENSPC_BROKER_URL=redis_server.url,
                               OPENSPC_REDIS_URL=redis_server.url))
    try:
        with app.app_context():
            upgrade()
            client = app.test_client()
            headers, char_id = characteristic_via_api(client, Factory(app), subgroup_size=1)
            limits = client.patch(f"/api/v1/characteristics/{char_id}", headers=headers,
                                  json={"ucl": 13.0, "lcl": 7.0})
            assert limits.status_code == 200, limits.json
            yield Plant(app, client, headers, char_id)
            db.session.remove()
    finally:
        with app.app_context():
            db.engine.dispose()
        postgres.drop_database(DATABASE)


def test_a_redis_outage_loses_no_sample_and_no_frame(plant, redis_server):
    before = Frames(redis_server.url)
    first = plant.submit(10.0)
    assert before.sample_ids(timeout=10, count=1) == [first["sample_id"]]

    redis_server.stop()
    during = plant.submit(13.5)
    assert (during["status"], during["in_control"]) == ("evaluated", False)
    time.sleep(0.5)  # the publisher thread tries, and must leave the frames unsent
    unsent = db.session.execute(
        sa.select(OutboxEvent.frame).where(OutboxEvent.published_at.is_(None))
    ).scalars().all()
    assert [f["sample"]["id"] for row in unsent for f in row
            if f["type"] == "sample"] == [during["sample_id"]]
    db.session.rollback()

    redis_server.start()
    after = Frames(redis_server.url)
    sweep_outbox()
    assert after.sample_ids(timeout=10, count=1) == [during["sample_id"]]
    assert [f["violation"]["sample_id"] for f in after.frames
            if f["type"] == "violation"] == [during["sample_id"]]

    stored = db.session.execute(sa.select(Sample.id, Sample.status)).all()
    assert sorted(stored) == [(first["sample_id"], "evaluated"),
                              (during["sample_id"], "evaluated")]
    assert db.session.scalar(sa.select(Violation.sample_id)) == during["sample_id"]


@pytest.mark.parametrize("plant", [True], indirect=True)  # the rate limiter on, on Redis
def test_rate_limit_counters_on_redis_do_not_refuse_measurements_while_it_is_down(
        plant, redis_server):
    new = generate_api_key()
    db.session.add(ApiKey(name="gateway", key_hash=new.digest, key_prefix=new.prefix,
                          rate_limit_per_minute=60))
    db.session.commit()
    device = {"X-API-Key": new.plaintext}
    plant.submit(10.0, device, "/api/v1/data-entry/submit")

    redis_server.stop()
    assert plant.submit(10.5, device, "/api/v1/data-entry/submit")["status"] == "evaluated"
    assert plant.submit(11.0)["status"] == "evaluated"
