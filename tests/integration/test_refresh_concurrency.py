"""Concurrent refreshes with one refresh cookie, through real HTTP on gunicorn.

The reference's web app restores its session with ``POST /auth/refresh`` on every page load,
twice at once under React StrictMode, from two tabs or through a retrying proxy: requests
milliseconds apart with the same cookie. They are served here by one gunicorn process with
8 threads on SQLite, and by two gunicorn processes of 8 threads each on one PostgreSQL
database, then on one MariaDB database (whose repeatable read the locking reads must see
past), the requests of a burst alternating between the two processes. Every refresh of a
burst must answer 200 with a cookie that works for the next refresh, and a reuse after
``OPENSPC_REFRESH_REUSE_SECONDS`` must still revoke the family (thief and owner both fail).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from openspc import create_app
from openspc.extensions import db
from openspc.models import RefreshToken
from tests.conftest import Factory, make_settings
from tests.integration.conftest import migrated_app
from tests.integration.processes import REPO, free_port, start_gunicorn, stop_process, wait_healthy

pytestmark = pytest.mark.integration

DATABASE = "openspc_refresh_concurrency"
REUSE_SECONDS = 5
PASSWORD = "password123"


@dataclass
class Servers:
    app: Flask               # on the servers' database, for checking what they stored
    urls: list[str]          # one per gunicorn process
    logs: list[Path]
    user_id: int


@contextlib.contextmanager
def _database(dialect: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on a migrated database of ``dialect``, inside its app context."""
    if dialect != "sqlite":
        server = request.getfixturevalue("postgres" if dialect == "postgresql" else dialect)
        with migrated_app(server, DATABASE, tmp_path) as app:
            yield app
        return
    shutil.copy(request.getfixturevalue("migrated_template"), tmp_path / "openspc.db")
    app = create_app({"RATELIMIT_ENABLED": False}, settings=make_settings(tmp_path))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module", params=[("sqlite", 1), ("postgresql", 2), ("mariadb", 2)],
                ids=["sqlite-1-process", "postgresql-2-processes", "mariadb-2-processes"])
def servers(request, tmp_path_factory) -> Iterator[Servers]:
    dialect, process_count = request.param
    tmp_path = tmp_path_factory.mktemp(f"refresh-{dialect}")
    with _database(dialect, request, tmp_path) as app:
        user = Factory(app).user("operator", username="alice", password=PASSWORD)
        db.session.remove()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSPC_")}
        env.update({
            "OPENSPC_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "OPENSPC_JWT_SECRET": app.config["JWT_SECRET_KEY"],
            "OPENSPC_DATA_DIR": str(tmp_path),
            "OPENSPC_LOG_LEVEL": "WARNING",
            "OPENSPC_REFRESH_REUSE_SECONDS": str(REUSE_SECONDS),
            "OPENSPC_RATE_LIMIT_LOGIN": "1000/minute",
            "OPENSPC_RATE_LIMIT_REFRESH": "1000/minute",
            "PYTHONPATH": str(REPO),
        })
        logs = [tmp_path / f"gunicorn{n}.log" for n in range(process_count)]
        ports = [free_port() for _ in logs]
        processes = [start_gunicorn(env, port, log, threads=8)
                     for port, log in zip(ports, logs, strict=True)]
        try:
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            for url, process, log in zip(urls, processes, logs, strict=True):
                wait_healthy(url.removeprefix("http://"), process, log)
            yield Servers(app=app, urls=urls, logs=logs, user_id=user.id)
        finally:
            for process in processes:
                stop_process(process, timeout=15)


def _login(servers: Servers) -> str:
    response = requests.post(f"{servers.urls[0]}/api/v1/auth/login", timeout=30,
                             json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.cookies["refresh_token"]


def _refresh(url: str, token: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/auth/refresh", cookies={"refresh_token": token},
                         timeout=30)


def _burst(servers: Servers, tokens: list[str]) -> list[requests.Response]:
    """One refresh per token, all released at once, alternating between the processes."""
    start = threading.Barrier(len(tokens))

    def one(index: int) -> requests.Response:
        start.wait()
        return _refresh(servers.urls[index % len(servers.urls)], tokens[index])

    with ThreadPoolExecutor(len(tokens)) as pool:
        return list(pool.map(one, range(len(tokens))))


def _me(url: str, access_token: str) -> int:
    return requests.get(f"{url}/api/v1/auth/me", timeout=30,
                        headers={"Authorization": f"Bearer {access_token}"}).status_code


def _live_tokens(servers: Servers) -> list[RefreshToken]:
    """The user's refresh tokens neither rotated nor revoked."""
    with servers.app.app_context():
        try:
            return list(db.session.execute(sa.select(RefreshToken).where(
                RefreshToken.user_id == servers.user_id, RefreshToken.rotated_at.is_(None),
                RefreshToken.revoked_at.is_(None))).scalars())
        finally:
            db.session.remove()


@pytest.mark.parametrize("concurrent", [2, 10])
def test_concurrent_refreshes_with_one_cookie_all_succeed(servers, concurrent):
    token = _login(servers)
    answers = _burst(servers, [token] * concurrent)
    assert [a.status_code for a in answers] == [200] * concurrent, [a.text for a in answers]
    cookies = [a.cookies["refresh_token"] for a in answers]
    assert token not in cookies

    following = _burst(servers, cookies)  # each returned cookie, used for the next refresh
    assert [a.status_code for a in following] == [200] * concurrent, [a.text for a in following]
    for index, answer in enumerate(answers + following):
        assert _me(servers.urls[index % len(servers.urls)], answer.json()["access_token"]) == 200
    assert _refresh(servers.urls[-1], following[0].cookies["refresh_token"]).status_code == 200


def test_one_live_token_per_session_after_a_burst(servers):
    """A burst rotates the token once: the others get that one successor, not tokens of
    their own, so a copy taken during the burst is caught like any other later."""
    before = {t.jti for t in _live_tokens(servers)}
    answers = _burst(servers, [_login(servers)] * 10)
    assert {a.status_code for a in answers} == {200}
    assert len({a.cookies["refresh_token"] for a in answers}) == 1
    assert len([t for t in _live_tokens(servers) if t.jti not in before]) == 1


def test_reuse_after_the_interval_revokes_the_family(servers):
    stolen = _login(servers)
    owner = _refresh(servers.urls[0], stolen)
    assert owner.status_code == 200
    time.sleep(REUSE_SECONDS + 0.5)

    thief = _refresh(servers.urls[-1], stolen)
    assert (thief.status_code, thief.json()) == (
        401, {"detail": "Invalid or expired refresh token"})
    assert thief.headers["Set-Cookie"] == 'refresh_token=""; Max-Age=0; Path=/api/v1/auth'
    assert _refresh(servers.urls[0], owner.cookies["refresh_token"]).status_code == 401
    assert _me(servers.urls[0], owner.json()["access_token"]) == 401

    logged = "".join(log.read_text() for log in servers.logs)
    events = [line for line in logged.splitlines() if "refresh_token_reuse" in line]
    assert len(events) == 1, logged
    assert f"user_id={servers.user_id}" in events[0] and "127.0.0.1" in events[0]
    assert stolen not in logged and owner.cookies["refresh_token"] not in logged
