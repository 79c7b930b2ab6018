"""The ``openspc`` command as a newcomer runs it: in an empty directory, no configuration."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

OPENSPC = str(Path(sys.executable).with_name("openspc"))
PASSWORD_LINE = re.compile(r"^\s*password: (\S+)\s*$", re.MULTILINE)
START_TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any OPENSPC_* setting: the embedded defaults apply."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OPENSPC_")}
    env.update(extra)
    return env


class Server:
    """``openspc serve`` in ``folder`` on a free port; stdout and stderr kept in files."""

    def __init__(self, folder: Path, run: int, **env: str):
        self.folder = folder
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.stdout = folder / f"serve-{run}.out"
        self.stderr = folder / f"serve-{run}.err"
        self.process = subprocess.Popen(
            [OPENSPC, "serve", "--port", str(self.port)], cwd=folder,
            env=_clean_env(**env), stdout=self.stdout.open("w"), stderr=self.stderr.open("w"),
            start_new_session=True,
        )

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"openspc serve exited with {self.process.returncode}:\n"
                            f"{self.stderr.read_text()}")
            try:
                if requests.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        pytest.fail(f"no healthy answer within {START_TIMEOUT}s:\n{self.stderr.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    def login(self, username: str, password: str) -> requests.Response:
        return requests.post(f"{self.base}/api/v1/auth/login",
                             json={"username": username, "password": password}, timeout=10)


@pytest.fixture
def servers():
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_serve_starts_on_a_fresh_directory_and_the_printed_password_logs_in(tmp_path, servers):
    first = Server(tmp_path, 1)
    servers.append(first)
    first.wait_healthy()

    printed = PASSWORD_LINE.findall(first.stdout.read_text())
    assert len(printed) == 1, first.stdout.read_text()
    password = printed[0]
    assert len(password) >= 20
    assert password not in first.stderr.read_text(), "the password must not reach the log"
    assert (tmp_path / "openspc.db").is_file(), "the SQLite file belongs in the working dir"
    assert requests.get(f"{first.base}/docs", timeout=5).status_code == 200
    assert requests.get(f"{first.base}/openapi.json", timeout=5).json()["info"]["title"] == (
        "OpenSPC"
    )

    assert first.login("admin", password + "x").status_code == 401
    login = first.login("admin", password)
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    assert body["must_change_password"] is True
    assert [(r["plant_code"], r["role"]) for r in body["user"]["plant_roles"]] == [
        ("DEFAULT", "admin")
    ]
    assert first.stop() == 0

    second = Server(tmp_path, 2)
    servers.append(second)
    second.wait_healthy()
    assert PASSWORD_LINE.findall(second.stdout.read_text()) == [], "printed only once"
    assert second.login("admin", password).status_code == 200
    assert second.stop() == 0


def _run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([OPENSPC, *args], cwd=folder, env=_clean_env(**env),
                          capture_output=True, text=True, timeout=120)


def test_migrate_takes_the_admin_from_the_environment_and_never_prints_it(tmp_path):
    from openspc import create_app
    from openspc.auth.passwords import verify_password
    from openspc.config import load_settings
    from openspc.extensions import db
    from openspc.models import User

    secret = "Str0ng-initial-pass"
    done = _run(tmp_path, "migrate", OPENSPC_ADMIN_USERNAME="chief",
                OPENSPC_ADMIN_PASSWORD=secret)
    assert done.returncode == 0, done.stderr
    assert secret not in done.stdout and secret not in done.stderr
    assert "chief" in done.stdout

    settings = load_settings(
        env={"OPENSPC_DATABASE_URL": f"sqlite:///{tmp_path / 'openspc.db'}",
             "OPENSPC_DATA_DIR": str(tmp_path), "OPENSPC_LOG_LEVEL": "WARNING"},
        env_file="",
    )
    app = create_app(settings=settings)
    with app.app_context():
        users = db.session.execute(db.select(User)).scalars().all()
        assert [u.username for u in users] == ["chief"]
        assert users[0].must_change_password is True
        assert verify_password(users[0].hashed_password, secret)
        assert [(r.plant.code, r.role) for r in users[0].plant_roles] == [("DEFAULT", "admin")]
        db.engine.dispose()

    again = _run(tmp_path, "migrate", OPENSPC_ADMIN_PASSWORD="another-password")
    assert again.returncode == 0, again.stderr
    assert again.stdout == "", "an existing user table is left alone"


def test_an_unreachable_database_stops_with_a_clear_message_and_no_password(tmp_path):
    port = _free_port()
    done = _run(tmp_path, "migrate",
                OPENSPC_DATABASE_URL=f"postgresql://spc:hunter22@127.0.0.1:{port}/openspc")
    assert done.returncode == 1
    assert f"cannot prepare the database postgresql+psycopg2://spc:***@127.0.0.1:{port}" in (
        done.stderr
    )
    assert "hunter22" not in done.stderr + done.stdout


@pytest.mark.parametrize("argv, celery_argv", [
    (["worker"], ["worker", "-Q", "evaluate,publish,maintenance"]),
    (["worker", "--concurrency", "4", "-n", "w1@%h"],
     ["worker", "-Q", "evaluate,publish,maintenance", "--concurrency", "4", "-n", "w1@%h"]),
    (["beat", "--loglevel", "INFO"], ["beat", "--loglevel", "INFO"]),
])
def test_worker_and_beat_exec_the_documented_celery_commands(monkeypatch, argv, celery_argv):
    from openspc import cli

    calls = []
    monkeypatch.setattr(cli.os, "execv", lambda path, args: calls.append((path, args)))
    cli.main(argv)
    assert calls == [(sys.executable,
                      [sys.executable, "-m", "celery", "-A", "workers.celery_app", *celery_argv])]


def test_serve_refuses_arguments_it_does_not_know(capsys):
    from openspc import cli

    with pytest.raises(SystemExit) as stopped:
        cli.main(["serve", "--workers", "4"])
    assert stopped.value.code == 2
    assert "unrecognized arguments: --workers 4" in capsys.readouterr().err


def test_two_instances_on_one_host_each_get_their_own_control_socket(tmp_path, servers):
    """gunicorn's default control socket is one path per user, so a second ``openspc serve``
    took over (or broke) the first one's. Each instance has its own, named by its address."""
    from gunicorn.ctl.client import ControlClient

    first = Server(tmp_path, 1)
    servers.append(first)
    first.wait_healthy()  # the first one creates the database
    second = Server(tmp_path, 2)
    servers.append(second)
    second.wait_healthy()
    for server in (first, second):
        path = tmp_path / f"gunicorn-127.0.0.1-{server.port}.ctl"
        assert path.is_socket(), sorted(p.name for p in tmp_path.iterdir())
        with ControlClient(str(path), timeout=10) as control:
            listeners = control.send_command("show listeners")["listeners"]
        assert [listener["address"] for listener in listeners] == [
            f"http://127.0.0.1:{server.port}"]
    assert first.stop() == 0
    assert (tmp_path / f"gunicorn-127.0.0.1-{second.port}.ctl").is_socket()
    assert requests.get(f"{second.base}/health", timeout=5).status_code == 200
