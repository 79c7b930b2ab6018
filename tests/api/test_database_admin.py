"""Database administration (api.md §16) on the default SQLite database: roles, validation,
the saved configuration and its encrypted password, connection tests, status, migrations,
backups (checked with sqlite3 and hashlib, not with our code), vacuum, and that no password
reaches a response or a log line."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import stat
from collections import namedtuple
from pathlib import Path

import pytest
import sqlalchemy as sa

from openspc.extensions import db

ROUTES = [
    ("get", "/api/v1/database/config", None),
    ("put", "/api/v1/database/config", {"dialect": "sqlite", "database": "x.db"}),
    ("post", "/api/v1/database/test", {"dialect": "sqlite", "database": "x.db"}),
    ("get", "/api/v1/database/status", None),
    ("post", "/api/v1/database/backup", None),
    ("post", "/api/v1/database/vacuum", None),
    ("get", "/api/v1/database/migrations", None),
    ("get", "/api/v1/database/backups", None),
]
SECRET = "Pa55-w0rd-never-shown"
PG_CONFIG = {"dialect": "postgresql", "host": "db.example.org", "port": 5432,
             "database": "openspc", "username": "spc", "password": SECRET,
             "options": {"pool_size": 5, "pool_pre_ping": True}}
VERSIONS = Path(__file__).resolve().parents[2] / "migrations" / "versions"


@pytest.fixture
def admin(factory):
    return factory.headers(factory.user("admin"))


@pytest.fixture
def log_lines(app):
    """Every log line written while the test runs, rendered as the app renders them."""
    root = logging.getLogger()
    formatter = root.handlers[0].formatter
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    handler = Collect(logging.DEBUG)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(("method", "url", "body"), ROUTES)
def test_every_route_is_for_admins_only(client, factory, method, url, body):
    anonymous = getattr(client, method)(url, json=body)
    assert (anonymous.status_code, anonymous.json) == (401, {"detail": "Not authenticated"})
    for role in ("operator", "supervisor", "engineer"):
        headers = factory.headers(factory.user(role))
        refused = getattr(client, method)(url, json=body, headers=headers)
        assert (refused.status_code, refused.json) == (403,
                                                       {"detail": "Admin privileges required"})


@pytest.mark.parametrize(("method", "url", "body"), ROUTES)
def test_every_route_answers_an_admin(client, admin, method, url, body):
    response = getattr(client, method)(url, json=body, headers=admin)
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("path", ["/config", "/test"])
@pytest.mark.parametrize(("change", "loc", "kind", "msg"), [
    ({"host": "db host"}, "host", "value_error", "Value error, Invalid hostname"),
    ({"host": "db;rm"}, "host", "value_error", "Value error, Invalid hostname"),
    ({"database": "a b"}, "database", "value_error", "Value error, Invalid database name"),
    ({"database": "x'--"}, "database", "value_error", "Value error, Invalid database name"),
    ({"dialect": "oracle"}, "dialect", "enum",
     "Input should be 'sqlite', 'postgresql', 'mysql' or 'mssql'"),
    ({"port": "five"}, "port", "int_parsing",
     "Input should be a valid integer, unable to parse string as an integer"),
    ({"options": {"pool_size": [1]}}, "options", "string_type", None),
])
def test_invalid_fields_are_named_and_nothing_is_saved(app, client, admin, path, change, loc,
                                                       kind, msg):
    response = client.open(f"/api/v1/database{path}", method="PUT" if path == "/config"
                           else "POST", json={**PG_CONFIG, **change}, headers=admin)
    assert response.status_code == 422
    [item] = response.json["detail"]
    assert (item["type"], item["loc"][:2]) == (kind, ["body", loc])
    if msg:
        assert item["msg"] == msg
    assert not _config_file(app).exists()


def test_a_missing_dialect_is_named(client, admin):
    response = client.put("/api/v1/database/config", json={"host": "h"}, headers=admin)
    assert response.status_code == 422
    assert [(i["type"], i["loc"]) for i in response.json["detail"]] == [
        ("missing", ["body", "dialect"])]


@pytest.mark.parametrize("path", ["/config", "/test"])
@pytest.mark.parametrize(("change", "detail"), [
    ({"options": {"pool_size": 5, "connect_args": "x", "echo": True}},
     "Disallowed connection options: connect_args, echo"),
    ({"port": 22}, "Port must be one of [1433, 3306, 5432] for postgresql"),
    ({"port": 0}, "Port must be one of [1433, 3306, 5432] for postgresql"),
    ({"dialect": "mysql", "port": 6379}, "Port must be one of [1433, 3306, 5432] for mysql"),
])
def test_options_and_ports_outside_the_rules_are_refused(app, client, admin, path, change,
                                                         detail):
    response = client.open(f"/api/v1/database{path}", method="PUT" if path == "/config"
                           else "POST", json={**PG_CONFIG, **change}, headers=admin)
    assert (response.status_code, response.json) == (400, {"detail": detail})
    assert not _config_file(app).exists()


def _config_file(app) -> Path:
    return Path(app.extensions["openspc_settings"].data_dir) / "db_config.json"


def test_the_saved_password_is_encrypted_with_the_credential_key_and_kept_when_empty(
        app, client, admin, log_lines):
    from cryptography.fernet import Fernet

    saved = client.put("/api/v1/database/config", json=PG_CONFIG, headers=admin)
    assert saved.status_code == 200
    assert saved.json == {"dialect": "postgresql", "host": "db.example.org", "port": 5432,
                          "database": "openspc", "username": "spc", "has_password": True,
                          "options": {"pool_size": 5, "pool_pre_ping": True}}
    path = _config_file(app)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert SECRET not in path.read_text()
    key = (Path(app.extensions["openspc_settings"].data_dir) / ".db_encryption_key").read_text()
    assert Fernet(key.encode()).decrypt(stored["encrypted_password"].encode()).decode() == SECRET

    again = client.put("/api/v1/database/config", json={**PG_CONFIG, "password": "",
                                                        "host": "db2.example.org"},
                       headers=admin)
    assert again.json["has_password"] is True
    kept = json.loads(path.read_text())["encrypted_password"]
    assert Fernet(key.encode()).decrypt(kept.encode()).decode() == SECRET

    read = client.get("/api/v1/database/config", headers=admin)
    assert read.json["host"] == "db2.example.org" and read.json["has_password"] is True
    assert "password" not in read.json
    text = "\n".join(log_lines)
    assert "save_config" in text and SECRET not in text


def test_without_a_saved_config_the_running_database_is_described(app, client, admin):
    response = client.get("/api/v1/database/config", headers=admin)
    assert response.json == {
        "dialect": "sqlite", "host": "", "port": 0, "username": "", "has_password": False,
        "options": {},
        "database": str(Path(app.extensions["openspc_settings"].data_dir) / "openspc.db")}


def test_a_refused_connection_gives_no_raw_error_and_logs_no_password(client, admin,
                                                                      log_lines):
    """Port 1433 on this machine has no server: the driver's 'connection refused' text must
    not reach the client."""
    response = client.post("/api/v1/database/test", headers=admin, json={
        **PG_CONFIG, "host": "127.0.0.1", "port": 1433})
    assert response.status_code == 200
    assert response.json == {"success": False, "message": "Connection failed",
                             "latency_ms": None, "server_version": None}
    text = "\n".join(log_lines)
    assert "connection_test_failed" in text and SECRET not in text


def test_sqlite_connection_test_needs_an_existing_file(app, client, admin, tmp_path):
    missing = client.post("/api/v1/database/test", headers=admin,
                          json={"dialect": "sqlite", "database": str(tmp_path / "none.db")})
    assert missing.json["success"] is False
    assert missing.json["message"] == f"Database file not found: {tmp_path / 'none.db'}"
    assert not (tmp_path / "none.db").exists()
    sqlite3.connect(tmp_path / "there.db").close()
    found = client.post("/api/v1/database/test", headers=admin,
                        json={"dialect": "sqlite", "database": str(tmp_path / "there.db")})
    assert found.json["success"] is True and found.json["message"] == "Connection successful"
    assert found.json["server_version"] == sqlite3.sqlite_version
    assert found.json["latency_ms"] >= 0


def test_status_counts_tables_and_size_as_sqlite_reports_them(app, client, admin):
    path = Path(app.extensions["openspc_settings"].data_dir) / "openspc.db"
    with sqlite3.connect(path) as raw:
        tables = raw.execute("SELECT count(*) FROM sqlite_master WHERE type='table'"
                             " AND name NOT LIKE 'sqlite_%'").fetchone()[0]
        size = raw.execute("PRAGMA page_count").fetchone()[0] * raw.execute(
            "PRAGMA page_size").fetchone()[0]
    status = client.get("/api/v1/database/status", headers=admin).json
    assert status == {"dialect": "sqlite", "is_connected": True,
                      "version": sqlite3.sqlite_version, "table_count": tables,
                      "database_size_mb": round(size / 2**20, 2),
                      "migration_current": _head(), "migration_head": _head(),
                      "is_up_to_date": True}


def _head() -> str:
    """The revision no other revision names as its parent, read off the files."""
    revisions, parents = set(), set()
    for path in VERSIONS.glob("*.py"):
        namespace: dict = {}
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        revisions.add(namespace["revision"])
        parent = namespace["down_revision"]
        parents.update(parent if isinstance(parent, tuple) else [parent])
    [head] = revisions - parents
    return head


def test_migration_status_counts_pending_revisions_from_any_directory(app, client, admin,
                                                                      tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    current = client.get("/api/v1/database/migrations", headers=admin).json
    assert current == {"current_revision": _head(), "head_revision": _head(),
                       "pending_count": 0, "is_up_to_date": True}
    db.session.execute(sa.text("UPDATE alembic_version SET version_num = '0003'"))
    db.session.commit()
    behind = client.get("/api/v1/database/migrations", headers=admin).json
    assert behind == {"current_revision": "0003", "head_revision": _head(),
                      "pending_count": len(list(VERSIONS.glob("*.py"))) - 3,
                      "is_up_to_date": False}
    status = client.get("/api/v1/database/status", headers=admin).json
    assert (status["migration_current"], status["is_up_to_date"]) == ("0003", False)


def test_a_backup_is_a_consistent_copy_with_its_checksum_and_size(app, client, admin, chart):
    client.post("/api/v1/samples/batch", headers=admin, json={
        "characteristic_id": chart.id, "samples": [{"measurements": [10 + i / 10]}
                                                   for i in range(50)]})
    response = client.post("/api/v1/database/backup", headers=admin)
    assert response.status_code == 200, response.json
    body = response.json
    path = Path(body["path"])
    assert body["message"] == f"Backup created: {path.name}"
    assert path.name.startswith("openspc_backup_") and path.suffix == ".db"
    assert body["directory"] == str(Path(app.extensions["openspc_settings"].data_dir,
                                         "backups").resolve())
    data = path.read_bytes()
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["size_bytes"] == len(data) and body["size_mb"] == round(len(data) / 2**20, 2)
    with sqlite3.connect(path) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        values = [v for (v,) in copy.execute(
            "SELECT m.value FROM measurement m JOIN sample s ON s.id = m.sample_id"
            " WHERE s.char_id = ? ORDER BY s.id", (chart.id,))]
    assert values == pytest.approx([10 + i / 10 for i in range(50)])
    listed = client.get("/api/v1/database/backups", headers=admin).json
    assert [b["name"] for b in listed] == [path.name]
    one = client.get(f"/api/v1/database/backups/{path.name}", headers=admin)
    assert one.json["sha256"] == body["sha256"]
    assert client.get("/api/v1/database/backups/nothing.db", headers=admin).status_code == 404


def test_backup_directory_must_exist_and_lie_inside_the_backup_root(app, client, admin,
                                                                   tmp_path):
    missing = client.post("/api/v1/database/backup?backup_dir=/no/such/dir", headers=admin)
    assert (missing.status_code, missing.json) == (
        400, {"detail": "Backup directory does not exist: /no/such/dir"})
    not_a_path = client.post("/api/v1/database/backup?backup_dir=a%00b", headers=admin)
    assert not_a_path.status_code == 422
    assert not_a_path.json["detail"][0]["loc"] == ["query", "backup_dir"]
    a_file = tmp_path / "backups" / "file.txt"
    a_file.parent.mkdir(exist_ok=True)
    a_file.write_text("x")
    assert client.post("/api/v1/database/backup?backup_dir=file.txt",
                       headers=admin).status_code == 400
    outside = client.post(f"/api/v1/database/backup?backup_dir={tmp_path}", headers=admin)
    assert outside.status_code == 400
    assert outside.json["detail"].startswith("Backup directory must be inside OPENSPC_BACKUP_DIR")
    inner = tmp_path / "backups" / "weekly"
    inner.mkdir(parents=True)
    placed = client.post("/api/v1/database/backup?backup_dir=weekly", headers=admin)
    assert placed.status_code == 200
    assert Path(placed.json["path"]).parent == inner.resolve()
    assert not list(tmp_path.glob("openspc_backup_*"))


def test_a_backup_without_twice_the_database_free_is_refused_with_507(app, client, admin,
                                                                      monkeypatch):
    import shutil

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**9, 10**9 - 4096, 4096))
    response = client.post("/api/v1/database/backup", headers=admin)
    assert response.status_code == 507
    assert response.json["detail"].startswith("Insufficient disk space. Need ~")
    assert "only 0.0 MB free in" in response.json["detail"]
    root = Path(app.extensions["openspc_settings"].data_dir, "backups")
    assert not list(root.glob("openspc_backup_*"))


def test_vacuum_returns_the_free_pages_to_the_file(app, client, admin, chart):
    path = Path(app.extensions["openspc_settings"].data_dir) / "openspc.db"
    db.session.execute(sa.text("CREATE TABLE ballast (payload BLOB)"))
    db.session.execute(sa.text("INSERT INTO ballast VALUES (zeroblob(2000000))"))
    db.session.commit()
    db.session.execute(sa.text("DROP TABLE ballast"))
    db.session.commit()
    db.session.remove()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA freelist_count").fetchone()[0] > 400
    response = client.post("/api/v1/database/vacuum", headers=admin)
    assert response.json == {"message": "VACUUM and ANALYZE completed successfully"}
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA freelist_count").fetchone()[0] == 0
        assert raw.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0


def test_scheduled_backups_keep_the_newest_and_drop_the_rest(app):
    from openspc.tasks.maintenance import backup

    app.extensions["openspc_settings"].backup_keep = 2
    names = [backup.delay().get()["name"] for _ in range(4)]
    root = Path(app.extensions["openspc_settings"].data_dir, "backups")
    assert len(set(names)) == 4
    kept = sorted(p.name for p in root.iterdir())
    assert kept == sorted([*names[2:], *(n + ".json" for n in names[2:])])


def test_no_password_in_any_response(app, client, admin):
    client.put("/api/v1/database/config", json=PG_CONFIG, headers=admin)
    for method, url, body in ROUTES:
        if url.endswith("/config") and method == "put":
            continue
        response = getattr(client, method)(url, json=body or None, headers=admin)
        assert SECRET not in response.get_data(as_text=True)
        assert "encrypted_password" not in response.get_data(as_text=True)


def test_the_saved_config_serves_at_the_next_start(app, tmp_path):
    """PUT /config, then a new process: it opens the saved database, with the pool options."""
    from openspc import create_app
    from openspc.dbadmin.connection import save
    from tests.conftest import make_settings

    other = tmp_path / "elsewhere.db"
    sqlite3.connect(other).execute("CREATE TABLE marker (x)").connection.close()
    settings = make_settings(tmp_path)
    save(settings, {"dialect": "sqlite", "database": str(other)})
    restarted = create_app({"TESTING": True}, settings=settings)
    with restarted.app_context():
        assert restarted.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{other}"
        assert "marker" in sa.inspect(db.engine).get_table_names()
        db.engine.dispose()
    assert os.path.exists(other)


def test_a_sqlite_config_without_a_file_is_refused(app, client, admin):
    response = client.put("/api/v1/database/config", headers=admin,
                          json={"dialect": "sqlite", "database": ""})
    assert (response.status_code, response.json) == (
        400, {"detail": "A SQLite configuration needs the database file's path"})
    assert not _config_file(app).exists()


def test_saved_pool_options_apply_at_the_next_start(tmp_path):
    """The reference validated these options and never used them."""
    from openspc import create_app
    from openspc.dbadmin.connection import save
    from tests.conftest import make_settings

    settings = make_settings(tmp_path)
    save(settings, {**PG_CONFIG, "host": "127.0.0.1",
                    "options": {"pool_size": "3", "pool_recycle": 60, "pool_pre_ping": True,
                                "pool_timeout": "soon"}})
    restarted = create_app({"TESTING": True}, settings=settings)
    options = restarted.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert (options["pool_size"], options["pool_recycle"], options["pool_pre_ping"]) == (
        3, 60, True)
    assert "pool_timeout" not in options
    assert restarted.config["SQLALCHEMY_DATABASE_URI"] == (
        f"postgresql+psycopg2://spc:{SECRET}@127.0.0.1:5432/openspc")


def test_a_dialect_whose_driver_is_missing_fails_like_a_refusal(client, admin):
    response = client.post("/api/v1/database/test", headers=admin, json={
        "dialect": "mssql", "host": "127.0.0.1", "port": 1433, "database": "openspc",
        "username": "sa", "password": SECRET})
    assert response.status_code == 200
    assert response.json["message"] == "Connection failed"
