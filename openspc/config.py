"""Settings from ``OPENSPC_*`` environment variables and ``.env``, in one place.

The reference read its encryption key from the process environment only, so a key kept in
``.env`` was silently ignored; here every variable is read the same way, environment first,
then ``.env`` in the working directory.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, fields
from pathlib import Path

from dotenv import dotenv_values

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./openspc.db"
DEFAULT_CORS_ORIGINS = (
    "http://localhost:5173,http://localhost:5174,http://localhost:5175,http://localhost:3000"
)

# The reference used async drivers; existing .env files keep working with the sync ones.
_ASYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite",
    "postgresql+asyncpg": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql+aiomysql": "mysql+pymysql",
    "mysql+asyncmy": "mysql+pymysql",
    "mysql": "mysql+pymysql",
    "mariadb+aiomysql": "mariadb+pymysql",
    "mariadb": "mariadb+pymysql",
    "mssql+aioodbc": "mssql+pyodbc",
    "mssql": "mssql+pyodbc",
}

_TRUE = {"1", "true", "yes", "on"}


def sync_database_url(url: str) -> str:
    """Map an async SQLAlchemy URL of the reference to the sync driver we run on."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"OPENSPC_DATABASE_URL is not a database URL: {url!r}")
    return f"{_ASYNC_DRIVERS.get(scheme, scheme)}://{rest}"


def _anchor_sqlite_path(url: str) -> str:
    prefix = "sqlite:///"
    path = url[len(prefix):] if url.startswith(prefix) else ""
    if not path or path.startswith(("/", ":memory:", "file:")):
        return url
    return prefix + os.path.abspath(path)


def _as_bool(value: str | bool) -> bool:
    return value if isinstance(value, bool) else value.strip().lower() in _TRUE


@dataclass
class Settings:
    """Every ``OPENSPC_*`` variable; field name = variable name without the prefix, lower case."""

    app_version: str = "0.3.0"
    database_url: str = DEFAULT_DATABASE_URL
    jwt_secret: str = ""
    cookie_secure: bool = False
    admin_username: str = "admin"
    admin_password: str = ""
    cors_origins: str = DEFAULT_CORS_ORIGINS
    rate_limit_login: str = "5/minute"
    rate_limit_refresh: str = "10/minute"
    rate_limit_data_entry: str = "30/minute"
    rate_limit_default: str = ""
    log_format: str = "console"
    log_level: str = "INFO"
    sandbox: bool = False
    dev_mode: bool = False
    db_encryption_key: str = ""
    broker_url: str = ""
    redis_url: str = ""
    sample_wait_timeout: float = 10.0
    trusted_proxies: int = 0
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str = "."
    pending_sweep_seconds: int = 30
    purge_interval_hours: float = 24.0
    metrics_token: str = ""
    backup_dir: str = ""
    backup_keep: int = 7
    backup_schedule: str = "0 2 * * *"
    vacuum_schedule: str = "30 3 * * *"
    max_request_bytes: int = 2 * 1024 * 1024
    refresh_reuse_seconds: float = 10.0
    sparkplug_host_id: str = ""
    mqtt_listener: bool = True

    @property
    def sqlalchemy_url(self) -> str:
        """The sync URL. A relative SQLite path is taken from the working directory, as the
        reference did (Flask-SQLAlchemy would otherwise put it in its instance folder)."""
        return _anchor_sqlite_path(sync_database_url(self.database_url))

    @property
    def embedded(self) -> bool:
        """No broker configured: Celery runs eagerly in-process (design.md, embedded mode)."""
        return not self.broker_url

    @property
    def message_queue_url(self) -> str:
        return self.redis_url or (self.broker_url if self.broker_url.startswith("redis") else "")

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def backup_directory(self) -> Path:
        """Where backups go: ``OPENSPC_BACKUP_DIR``, else ``backups`` in the data directory."""
        return Path(self.backup_dir or Path(self.data_dir) / "backups").resolve()

    def resolve_jwt_secret(self) -> str:
        """Use the configured secret, else a per-installation one kept in ``.jwt_secret`` (0600).

        Written with O_EXCL so that several workers starting at once agree on one secret.
        """
        if self.jwt_secret:
            return self.jwt_secret
        path = Path(self.data_dir) / ".jwt_secret"
        return _read_or_create_secret(path, secrets.token_urlsafe(64))

    def resolve_encryption_key(self) -> str:
        """The Fernet key of stored credentials (broker, OPC-UA and database passwords):
        ``OPENSPC_DB_ENCRYPTION_KEY``, else ``.db_encryption_key`` in the data directory,
        generated once (0600). Independent of the JWT secret, so rotating one keeps the other."""
        if self.db_encryption_key:
            return self.db_encryption_key
        from cryptography.fernet import Fernet

        path = Path(self.data_dir) / ".db_encryption_key"
        return _read_or_create_secret(path, Fernet.generate_key().decode())


def _read_or_create_secret(path: Path, candidate: str) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(candidate)
    return candidate


def load_settings(env: dict[str, str] | None = None, env_file: str | Path = ".env") -> Settings:
    """Build settings from ``env`` (default: the process environment) over ``.env``."""
    values: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if env is None else env)
    known = {f.name: f for f in fields(Settings)}
    kwargs: dict[str, object] = {}
    for key, raw in values.items():
        if not key.upper().startswith("OPENSPC_"):
            continue
        name = key[len("OPENSPC_"):].lower()
        spec = known.get(name)
        if spec is None:
            continue
        kind = spec.type
        if kind == "bool":
            kwargs[name] = _as_bool(raw)
        elif kind == "int":
            kwargs[name] = int(raw)
        elif kind == "float":
            kwargs[name] = float(raw)
        else:
            kwargs[name] = raw
    return Settings(**kwargs)
