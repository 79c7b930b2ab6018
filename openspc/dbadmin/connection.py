"""The saved database connection (``db_config.json``): its checks, its encrypted password, its
URL, and the URL a process starts on.

The file is written atomically with mode 0600 and holds the password encrypted with the one
credential cipher of the product. As in the reference, a saved configuration wins over
``OPENSPC_DATABASE_URL`` and takes effect at the next start; unlike the reference, the start
says so in the log (with the password hidden) whenever both are set and differ.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy.engine import URL, make_url

from openspc.config import DEFAULT_DATABASE_URL, Settings
from openspc.credentials import CredentialError, credential_cipher

log = structlog.get_logger(__name__)

CONFIG_FILE = "db_config.json"
DIALECTS = ("sqlite", "postgresql", "mysql", "mssql")
HOST_PATTERN = re.compile(r"^[a-zA-Z0-9._-]+$")
DATABASE_PATTERN = re.compile(r"^[a-zA-Z0-9_./-]+$")
ALLOWED_OPTIONS = ("pool_size", "pool_timeout", "pool_recycle", "pool_pre_ping")
ALLOWED_PORTS = (1433, 3306, 5432)
_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mssql": "mssql+pyodbc",
}


class ConnectionRefused(ValueError):
    """A connection setting outside what may be saved or tried (the reference's 400s)."""


@dataclass
class ConnectionSettings:
    dialect: str
    host: str = ""
    port: int = 0
    database: str = ""
    username: str = ""
    encrypted_password: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def has_password(self) -> bool:
        return bool(self.encrypted_password)

    def url(self, settings: Settings) -> URL:
        """The SQLAlchemy URL, password decrypted (never log it: ``describe`` it)."""
        if self.dialect == "sqlite":
            path = self.database
            if path and not path.startswith("/"):
                path = os.path.abspath(path)
            return URL.create("sqlite", database=path or None)
        password = credential_cipher(settings).decrypt_optional(self.encrypted_password)
        query = {"driver": "ODBC Driver 18 for SQL Server"} if self.dialect == "mssql" else {}
        return URL.create(
            _DRIVERS[self.dialect], username=self.username or None, password=password,
            host=self.host or None, port=self.port or None, database=self.database or None,
            query=query,
        )

    def public(self) -> dict[str, Any]:
        """The reference's DatabaseConfigResponse: everything but the password."""
        return {"dialect": self.dialect, "host": self.host, "port": self.port,
                "database": self.database, "username": self.username,
                "has_password": self.has_password, "options": dict(self.options)}


def check_connection_request(dialect: str, port: int, options: dict[str, Any]) -> None:
    """The reference's handler checks (400): the option whitelist, then the port rule, which
    keeps the server from being used to probe arbitrary ports."""
    disallowed = sorted(set(options) - set(ALLOWED_OPTIONS))
    if disallowed:
        raise ConnectionRefused(f"Disallowed connection options: {', '.join(disallowed)}")
    if dialect != "sqlite" and port not in ALLOWED_PORTS:
        raise ConnectionRefused(f"Port must be one of {list(ALLOWED_PORTS)} for {dialect}")


def config_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / CONFIG_FILE


def load_saved(settings: Settings) -> ConnectionSettings | None:
    """The saved configuration, or None when there is none or it cannot be read."""
    path = config_path(settings)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        known = ConnectionSettings.__dataclass_fields__
        return ConnectionSettings(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError) as exc:
        log.warning("db_config_unreadable", path=str(path), error=type(exc).__name__)
        return None


def _from_request(settings: Settings, request: dict[str, Any]) -> ConnectionSettings:
    """The request's settings; an empty password means the saved one."""
    password = request.get("password") or ""
    previous = load_saved(settings)
    encrypted = (credential_cipher(settings).encrypt(password) if password
                 else previous.encrypted_password if previous else None)
    return ConnectionSettings(
        dialect=request["dialect"], host=request.get("host", ""), port=request.get("port", 0),
        database=request.get("database", ""), username=request.get("username", ""),
        encrypted_password=encrypted, options=dict(request.get("options") or {}),
    )


def save(settings: Settings, request: dict[str, Any]) -> ConnectionSettings:
    """Write the configuration atomically (0600)."""
    saved = _from_request(settings, request)
    path = config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".db_config.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(saved), handle, indent=2)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return saved


def request_url(settings: Settings, request: dict[str, Any]) -> URL:
    """The URL a connection test tries."""
    return _from_request(settings, request).url(settings)


def startup_database(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The URL this process serves from and the pool options saved with it (the reference
    validated them and never applied them): a readable saved configuration, else the
    setting with no options."""
    configured = settings.sqlalchemy_url
    saved = load_saved(settings)
    if saved is None:
        return configured, {}
    try:
        url = saved.url(settings).render_as_string(hide_password=False)
    except CredentialError as exc:
        log.error("db_config_password_unreadable", error=str(exc))
        return configured, {}
    if settings.database_url != DEFAULT_DATABASE_URL and url != configured:
        log.warning("db_config_overrides_database_url", serving=describe(url),
                    ignored=describe(configured), file=str(config_path(settings)))
    return url, pool_options(saved.options)


def pool_options(options: dict[str, Any]) -> dict[str, Any]:
    """The saved options as engine arguments; one of the wrong type is left out (logged)."""
    result: dict[str, Any] = {}
    for key, value in options.items():
        if key not in ALLOWED_OPTIONS:
            continue
        if key == "pool_pre_ping":
            result[key] = value if isinstance(value, bool) else str(value).lower() in (
                "1", "true", "yes", "on")
            continue
        try:
            result[key] = int(value)
        except (TypeError, ValueError):
            log.warning("db_config_option_ignored", option=key)
    return result


def describe(url: str | URL) -> str:
    """A URL fit for a log line or a response: the password replaced by ``***``."""
    return make_url(url).render_as_string(hide_password=True)


def dialect_of(url: str | URL) -> str:
    name = make_url(url).get_backend_name()
    return "mysql" if name == "mariadb" else name
