"""Settings: every OPENSPC_* variable is read from the environment and from ``.env`` alike."""

from __future__ import annotations

import os
import re
from dataclasses import fields
from pathlib import Path

import pytest

from openspc.config import Settings, load_settings, sync_database_url

# ops.md §1: the reference's variables and their defaults.
REFERENCE_DEFAULTS = {
    "app_version": "0.3.0",
    "database_url": "sqlite+aiosqlite:///./openspc.db",
    "jwt_secret": "",
    "cookie_secure": False,
    "admin_username": "admin",
    "admin_password": "",
    "cors_origins": "http://localhost:5173,http://localhost:5174,http://localhost:5175,"
                    "http://localhost:3000",
    "rate_limit_login": "5/minute",
    "rate_limit_default": "",
    "log_format": "console",
    "sandbox": False,
    "dev_mode": False,
    "db_encryption_key": "",
}


def _raw_and_expected(field) -> tuple[str, object]:
    """A value unlike the default for each field, as text and as the parsed setting."""
    default = field.default
    if field.type == "bool":
        return ("true", True) if not default else ("false", False)
    if field.type == "int":
        return str(default + 7), default + 7
    if field.type == "float":
        return str(default + 1.5), default + 1.5
    value = f"set-{field.name}"
    return value, value


ALL_FIELDS = list(fields(Settings))


def test_reference_defaults_are_kept():
    settings = load_settings(env={}, env_file="")
    for name, default in REFERENCE_DEFAULTS.items():
        assert getattr(settings, name) == default, name


def test_every_field_has_a_variable_that_changes_it():
    assert {f.name for f in ALL_FIELDS} >= set(REFERENCE_DEFAULTS)
    env = {}
    expected = {}
    for field in ALL_FIELDS:
        raw, value = _raw_and_expected(field)
        env[f"OPENSPC_{field.name.upper()}"] = raw
        expected[field.name] = value
    settings = load_settings(env=env, env_file="")
    assert {f.name: getattr(settings, f.name) for f in ALL_FIELDS} == expected


def test_every_field_is_read_from_the_env_file(tmp_path):
    lines = []
    expected = {}
    for field in ALL_FIELDS:
        raw, value = _raw_and_expected(field)
        lines.append(f"OPENSPC_{field.name.upper()}={raw}")
        expected[field.name] = value
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(lines) + "\n")
    settings = load_settings(env={}, env_file=env_file)
    assert {f.name: getattr(settings, f.name) for f in ALL_FIELDS} == expected


def test_the_encryption_key_in_dot_env_is_honoured(tmp_path):
    """The reference read OPENSPC_DB_ENCRYPTION_KEY from os.environ only (ops.md §12 #8)."""
    (tmp_path / ".env").write_text("OPENSPC_DB_ENCRYPTION_KEY=k3y-from-dotenv\n")
    assert load_settings(env={}, env_file=tmp_path / ".env").db_encryption_key == "k3y-from-dotenv"


def test_environment_wins_over_dot_env_and_names_are_case_insensitive(tmp_path):
    (tmp_path / ".env").write_text("OPENSPC_PORT=9001\nOPENSPC_ADMIN_USERNAME=from_file\n")
    settings = load_settings(env={"openspc_port": "9002"}, env_file=tmp_path / ".env")
    assert settings.port == 9002
    assert settings.admin_username == "from_file"


def test_the_default_env_file_is_the_one_in_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("OPENSPC_LOG_FORMAT=json\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENSPC_LOG_FORMAT", raising=False)
    assert load_settings().log_format == "json"


def test_unknown_and_foreign_variables_are_ignored():
    settings = load_settings(env={"OPENSPC_NO_SUCH_THING": "1", "PORT": "1"}, env_file="")
    assert settings.port == 8000


@pytest.mark.parametrize("raw, expected", [
    ("1", True), ("true", True), ("TRUE", True), ("yes", True), ("on", True),
    ("0", False), ("false", False), ("no", False), ("off", False), ("", False),
])
def test_booleans(raw, expected):
    assert load_settings(env={"OPENSPC_DEV_MODE": raw}, env_file="").dev_mode is expected


@pytest.mark.parametrize("reference_url, ours", [
    ("sqlite+aiosqlite:////var/lib/openspc/openspc.db", "sqlite:////var/lib/openspc/openspc.db"),
    ("postgresql+asyncpg://spc:pw@db:5432/openspc", "postgresql+psycopg2://spc:pw@db:5432/openspc"),
    ("mysql+aiomysql://spc:pw@db:3306/openspc", "mysql+pymysql://spc:pw@db:3306/openspc"),
    ("mssql+aioodbc://spc:pw@db:1433/openspc?driver=ODBC+Driver+18+for+SQL+Server",
     "mssql+pyodbc://spc:pw@db:1433/openspc?driver=ODBC+Driver+18+for+SQL+Server"),
    ("postgresql+psycopg2://spc@db/openspc", "postgresql+psycopg2://spc@db/openspc"),
    ("mysql+pymysql://spc@db/openspc", "mysql+pymysql://spc@db/openspc"),
])
def test_async_urls_of_the_reference_map_to_our_sync_drivers(reference_url, ours):
    assert sync_database_url(reference_url) == ours
    settings = load_settings(env={"OPENSPC_DATABASE_URL": reference_url}, env_file="")
    assert settings.sqlalchemy_url == ours


def test_a_relative_sqlite_path_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = load_settings(env={}, env_file="")
    assert default.sqlalchemy_url == f"sqlite:///{os.path.join(str(tmp_path), 'openspc.db')}"
    memory = load_settings(env={"OPENSPC_DATABASE_URL": "sqlite:///:memory:"}, env_file="")
    assert memory.sqlalchemy_url == "sqlite:///:memory:"


def test_a_value_that_is_not_a_url_is_refused():
    settings = load_settings(env={"OPENSPC_DATABASE_URL": "openspc.db"}, env_file="")
    with pytest.raises(ValueError, match="OPENSPC_DATABASE_URL"):
        _ = settings.sqlalchemy_url


def test_no_broker_means_embedded_and_a_redis_broker_carries_the_message_queue():
    embedded = load_settings(env={}, env_file="")
    assert embedded.embedded and embedded.message_queue_url == ""
    redis = load_settings(env={"OPENSPC_BROKER_URL": "redis://r:6379/0"}, env_file="")
    assert not redis.embedded and redis.message_queue_url == "redis://r:6379/0"
    split = load_settings(env={"OPENSPC_BROKER_URL": "amqp://mq//",
                               "OPENSPC_REDIS_URL": "redis://r:6379/1"}, env_file="")
    assert split.message_queue_url == "redis://r:6379/1"


def test_the_readme_documents_every_variable():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    documented = set(re.findall(r"^\| `(OPENSPC_[A-Z_]+)` \|", readme, re.MULTILINE))
    assert documented == {f"OPENSPC_{f.name.upper()}" for f in ALL_FIELDS}
