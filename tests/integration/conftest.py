"""Fixtures that find the real services: PostgreSQL, MariaDB, Redis, Mosquitto.

A missing service skips the tests that need it, with the reason; under ``CI=true`` it fails
them instead (``require_service``). Addresses default to the local servers and can be moved
with ``OPENSPC_TEST_POSTGRES_URL``, ``OPENSPC_TEST_MARIADB_URL``, ``OPENSPC_TEST_REDIS_URL``
and ``OPENSPC_TEST_MQTT`` (host:port). Each test module asks for a database of its own name,
so engineers running suites at the same time do not collide.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy.engine import URL, make_url

from openspc import create_app
from openspc.extensions import db
from tests.conftest import make_settings, require_service

POSTGRES_URL = os.environ.get(
    "OPENSPC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
MARIADB_URL = os.environ.get("OPENSPC_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/")
REDIS_URL = os.environ.get("OPENSPC_TEST_REDIS_URL", "redis://127.0.0.1:6379")
MQTT_ADDRESS = os.environ.get("OPENSPC_TEST_MQTT", "127.0.0.1:1883")

INTEGRATION_DIR = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Everything under tests/integration is an integration test, marked or not."""
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@dataclass
class DatabaseServer:
    """A reachable server on which tests create throw-away databases."""

    admin_url: URL

    @property
    def dialect(self) -> str:
        return self.admin_url.get_backend_name()

    def fresh_database(self, name: str) -> str:
        """Drop and create database ``name``; return its URL (password included)."""
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                else:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
                    conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        finally:
            engine.dispose()
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def drop_connections(self, name: str) -> int:
        """Kill every server connection to database ``name`` (as a database restart or a
        network cut would); returns how many went."""
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                if self.dialect == "postgresql":
                    return len(conn.execute(sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name}
                    ).all())
                ids = conn.execute(sa.text(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = :name AND id <> connection_id()"), {"name": name}).scalars().all()
                for connection_id in ids:
                    conn.execute(sa.text(f"KILL {int(connection_id)}"))
                return len(ids)
        finally:
            engine.dispose()

    def drop_database(self, name: str) -> None:
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                else:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
        finally:
            engine.dispose()


def _database_server(url: str, what: str) -> DatabaseServer:
    admin_url = make_url(url)
    engine = sa.create_engine(admin_url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        require_service(False, f"{what} not reachable at "
                               f"{admin_url.render_as_string(hide_password=True)}: {exc.orig}")
    finally:
        engine.dispose()
    return DatabaseServer(admin_url)


@pytest.fixture(scope="session")
def postgres() -> DatabaseServer:
    return _database_server(POSTGRES_URL, "PostgreSQL")


@pytest.fixture(scope="session")
def mariadb() -> DatabaseServer:
    return _database_server(MARIADB_URL, "MariaDB")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis server's base URL, without a database number (tests pick their own)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service(False, f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL.rstrip("/")


@pytest.fixture(scope="session")
def mqtt_address() -> tuple[str, int]:
    """(host, port) of an MQTT broker that accepts TCP connections."""
    host, _, port = MQTT_ADDRESS.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as exc:
        require_service(False, f"MQTT broker (Mosquitto) not reachable at {MQTT_ADDRESS}: {exc}")
    return host, int(port)


@contextlib.contextmanager
def migrated_app(server: DatabaseServer, name: str, tmp_path: Path,
                 config: dict[str, Any] | None = None, **settings: str) -> Iterator[Flask]:
    """An app on a fresh database ``name`` of ``server``, migrated to head, inside its app
    context; the database is dropped afterwards. ``settings`` are extra OPENSPC_* values."""
    url = server.fresh_database(name)
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False, **(config or {})},
                     settings=make_settings(tmp_path, OPENSPC_DATABASE_URL=url, **settings))
    try:
        with app.app_context():
            upgrade()
            yield app
            db.session.remove()
    finally:
        with app.app_context():
            db.engine.dispose()
        server.drop_database(name)
