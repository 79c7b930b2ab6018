"""Beat's backup schedule end to end: a real ``celery beat`` and worker on Redis, a backup
every minute (``OPENSPC_BACKUP_SCHEDULE="* * * * *"``), and pruning to
``OPENSPC_BACKUP_KEEP`` older backups away. Takes up to a minute and a half."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask_migrate import upgrade

from openspc import create_app
from openspc.config import load_settings
from openspc.dbadmin.backup import backup_name, create_backup, file_sha256, list_backups
from openspc.extensions import db
from tests.integration.processes import stop_process

REDIS_DB = 7
WAIT_SECONDS = 150


def _env(tmp_path: Path, broker_url: str) -> dict[str, str]:
    return {
        "OPENSPC_DATABASE_URL": f"sqlite:///{tmp_path / 'beat.db'}",
        "OPENSPC_DATA_DIR": str(tmp_path),
        "OPENSPC_JWT_SECRET": "x" * 40,
        "OPENSPC_LOG_LEVEL": "WARNING",
        "OPENSPC_BROKER_URL": broker_url,
        "OPENSPC_REDIS_URL": broker_url,
        "OPENSPC_BACKUP_SCHEDULE": "* * * * *",
        "OPENSPC_BACKUP_KEEP": "2",
        "OPENSPC_VACUUM_SCHEDULE": "",
    }


def _start(tmp_path: Path, env: dict[str, str], name: str, *args: str) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if not k.startswith("OPENSPC_")}
    full.update(env)
    log = (tmp_path / f"{name}.log").open("w")
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.celery_app", *args],
                            cwd=tmp_path, env=full, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_beat_backs_up_on_its_cron_and_keeps_the_newest(tmp_path, redis_url):
    broker_url = f"{redis_url}/{REDIS_DB}"
    env = _env(tmp_path, broker_url)
    app = create_app({"RATELIMIT_ENABLED": False}, settings=load_settings(env=env, env_file=""))
    directory = tmp_path / "backups"
    directory.mkdir()
    with app.app_context():
        upgrade()
        url = db.engine.url
        db.engine.dispose()
    old = [create_backup(url, directory, backup_name(
        "sqlite", directory, datetime.now(UTC) - timedelta(days=d))) for d in (3, 2, 1)]

    worker = _start(tmp_path, env, "worker", "worker", "-Q", "evaluate,publish,maintenance",
                    "--pool", "solo", "--without-mingle", "--without-gossip",
                    "-n", f"beat-test-{os.getpid()}@%h")
    beat = _start(tmp_path, env, "beat", "beat", "-s", str(tmp_path / "beat-schedule"))
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            records = list_backups(directory)
            new = [r for r in records if r.name not in {o.name for o in old}]
            if any(r.status == "completed" for r in new) and len(records) == 2:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"no scheduled backup in {WAIT_SECONDS} s: {records}\n"
                            f"{(tmp_path / 'beat.log').read_text()}\n"
                            f"{(tmp_path / 'worker.log').read_text()}")
            time.sleep(1)
    finally:
        stop_process(beat, timeout=30)
        stop_process(worker, timeout=30)

    [made] = [r for r in new if r.status == "completed"]
    assert [r.name for r in records] == [made.name, old[-1].name]
    assert file_sha256(Path(made.path)) == made.sha256
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [made.name, made.name + ".json", old[-1].name, old[-1].name + ".json"])
