"""Backups per dialect, each described by a sidecar record, and their restore.

- SQLite: the online backup API copies every page in one step inside a read transaction, so
  the copy is the database as of one commit even while samples are written (WAL lets the
  writers go on); the reference copied the file, missing what was still in ``-wal``.
- PostgreSQL: ``pg_dump`` in custom format (one snapshot); restored with ``pg_restore``.
- MySQL/MariaDB: ``mariadb-dump`` (or ``mysqldump``) with ``--single-transaction`` (one
  consistent InnoDB snapshot, no table locks); restored with the ``mariadb``/``mysql`` client.
- MSSQL: ``BACKUP DATABASE … TO DISK`` on the server (the file is on the server's disk).

Passwords reach the client tools through their environment (``PGPASSWORD``, ``MYSQL_PWD``),
never their command line, and no log line holds one. Each backup ``NAME`` gets ``NAME.json``
beside it: dialect, size, SHA-256, timing and status; a restore checks the SHA-256 first.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import URL, make_url

from openspc.dbadmin.connection import describe, dialect_of

log = structlog.get_logger(__name__)

PREFIX = "openspc_backup_"
EXTENSIONS = {"sqlite": ".db", "postgresql": ".dump", "mysql": ".sql", "mssql": ".bak"}
TOOLS = {
    ("postgresql", "backup"): ("pg_dump",),
    ("postgresql", "restore"): ("pg_restore",),
    ("mysql", "backup"): ("mariadb-dump", "mysqldump"),
    ("mysql", "restore"): ("mariadb", "mysql"),
}
SIDECAR = ".json"
UNFINISHED = ("queued", "running")


class BackupError(Exception):
    """A backup or restore that could not be done; the message is safe to show."""


class InsufficientSpace(BackupError):
    def __init__(self, needed_mb: float, free_mb: float, directory: Path):
        super().__init__(f"Insufficient disk space. Need ~{needed_mb:.1f} MB, "
                         f"only {free_mb:.1f} MB free in {directory}")


@dataclass
class BackupRecord:
    name: str
    path: str
    directory: str
    dialect: str
    status: str
    started_at: str
    finished_at: str | None = None
    duration_ms: float | None = None
    size_bytes: int | None = None
    sha256: str | None = None
    error: str | None = None

    @property
    def size_mb(self) -> float:
        return round((self.size_bytes or 0) / 2**20, 2)


def backup_name(dialect: str, directory: Path, now: datetime | None = None) -> str:
    """``openspc_backup_YYYYMMDD_HHMMSS`` + the dialect's extension; a second backup in the
    same second gets ``_2``, ``_3``... after the highest one there (never a pruned name)."""
    stamp = f"{PREFIX}{(now or datetime.now(UTC)).strftime('%Y%m%d_%H%M%S')}"
    extension = EXTENSIONS[dialect]
    taken = [p.name[len(stamp):].split(".")[0] for p in directory.glob(f"{stamp}*")]
    if not taken:
        return stamp + extension
    highest = max(int(t[1:]) if t[1:].isdigit() else 1 for t in taken)
    return f"{stamp}_{highest + 1}{extension}"


def queued_record(directory: Path, name: str, dialect: str) -> BackupRecord:
    """The record of a backup sent to the maintenance queue, so that it can be polled
    before a worker takes it."""
    return BackupRecord(name=name, path=str(directory / name), directory=str(directory),
                        dialect=dialect, status="queued", started_at=_now())


def check_free_space(directory: Path, database_bytes: int) -> None:
    """Twice the database's size must be free (the reference's rule), else 507."""
    free = shutil.disk_usage(directory).free
    if free < 2 * database_bytes:
        raise InsufficientSpace(2 * database_bytes / 2**20, free / 2**20, directory)


def find_tool(dialect: str, action: str) -> str:
    names = TOOLS[(dialect, action)]
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise BackupError(f"{' or '.join(names)} not found on PATH: install the "
                      f"{'PostgreSQL' if dialect == 'postgresql' else 'MariaDB'} client tools "
                      f"on the machine that runs the maintenance worker")


def create_backup(url: str | URL, directory: Path, name: str) -> BackupRecord:
    """Back the database at ``url`` up to ``directory/name`` and write its record; a failure
    is recorded too (status ``failed``) and raised."""
    url = make_url(url)
    dialect = dialect_of(url)
    path = directory / name
    record = BackupRecord(name=name, path=str(path), directory=str(directory), dialect=dialect,
                          status="running", started_at=_now())
    started = time.perf_counter()
    write_record(record)
    log.info("backup_started", database=describe(url), path=str(path))
    try:
        _BACKUP[dialect](url, path)
        if path.exists():
            record.size_bytes = path.stat().st_size
            record.sha256 = file_sha256(path)
        record.status = "completed"
    except BackupError as exc:
        record.status, record.error = "failed", str(exc)
        raise
    except Exception as exc:
        record.status, record.error = "failed", f"Backup failed ({type(exc).__name__})"
        raise BackupError(record.error) from exc
    finally:
        record.finished_at = _now()
        record.duration_ms = round((time.perf_counter() - started) * 1000, 1)
        write_record(record)
        log.info("backup_finished", path=str(path), status=record.status,
                 size_bytes=record.size_bytes, duration_ms=record.duration_ms,
                 error=record.error)
    return record


def _backup_sqlite(url: URL, path: Path) -> None:
    source_path = url.database
    if not source_path or not Path(source_path).is_file():
        raise BackupError("Database file not found")
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(source_path, timeout=30)
    target = sqlite3.connect(partial)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    os.replace(partial, path)


def _backup_postgresql(url: URL, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    _run([find_tool("postgresql", "backup"), "--format=custom", "--no-owner",
          "--no-privileges", f"--file={partial}", *_pg_target(url)], _pg_env(url))
    os.replace(partial, path)


def _backup_mysql(url: URL, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    _run([find_tool("mysql", "backup"), *_mysql_login(url), "--single-transaction",
          "--routines", "--triggers", "--hex-blob", "--default-character-set=utf8mb4",
          f"--result-file={partial}", url.database], _mysql_env(url))
    os.replace(partial, path)


def mssql_backup_sql(database: str, path: str) -> str:
    """The statement the server runs: a copy-only full backup (it leaves the server's own
    backup chain alone), with page checksums verified as it reads."""
    return (f"BACKUP DATABASE {_mssql_name(database)} TO DISK = {_mssql_string(path)} "
            "WITH COPY_ONLY, INIT, FORMAT, CHECKSUM")


def mssql_restore_sql(database: str, path: str) -> str:
    return (f"RESTORE DATABASE {_mssql_name(database)} FROM DISK = {_mssql_string(path)} "
            "WITH CHECKSUM, RECOVERY")


def _mssql_name(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def _mssql_string(text: str) -> str:
    return "N'" + text.replace("'", "''") + "'"


def _backup_mssql(url: URL, path: Path) -> None:
    _run_mssql(url, mssql_backup_sql(url.database, str(path)))


def _run_mssql(url: URL, statement: str) -> None:
    engine = sa.create_engine(url.set(database="master"), isolation_level="AUTOCOMMIT",
                              poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(statement))
    finally:
        engine.dispose()


_BACKUP = {"sqlite": _backup_sqlite, "postgresql": _backup_postgresql,
           "mysql": _backup_mysql, "mssql": _backup_mssql}


def restore(path: Path, url: str | URL) -> None:
    """Restore backup ``path`` into the empty database at ``url`` (same dialect). The file's
    SHA-256 must match its record when there is one; a database holding tables is refused."""
    url = make_url(url)
    dialect = dialect_of(url)
    if not path.is_file():
        raise BackupError(f"Backup file not found: {path}")
    record = read_record(Path(str(path) + SIDECAR))
    if record is not None:
        if record.dialect != dialect:
            raise BackupError(f"{path.name} is a {record.dialect} backup, "
                              f"the target is {dialect}")
        if record.sha256 and record.sha256 != file_sha256(path):
            raise BackupError(f"{path.name} does not match the checksum in its record")
    if _has_tables(url):
        raise BackupError(f"The target database {describe(url)} is not empty")
    log.info("restore_started", path=str(path), database=describe(url))
    _RESTORE[dialect](path, url)
    log.info("restore_finished", path=str(path), database=describe(url))


def _has_tables(url: URL) -> bool:
    if dialect_of(url) == "sqlite" and not (url.database and Path(url.database).exists()):
        return False
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        return bool(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _restore_sqlite(path: Path, url: URL) -> None:
    source = sqlite3.connect(path)
    target = sqlite3.connect(url.database)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _restore_postgresql(path: Path, url: URL) -> None:
    _run([find_tool("postgresql", "restore"), "--no-owner", "--no-privileges",
          "--exit-on-error", "--single-transaction", *_pg_target(url), str(path)], _pg_env(url))


def _restore_mysql(path: Path, url: URL) -> None:
    with path.open("rb") as dump:
        _run([find_tool("mysql", "restore"), *_mysql_login(url),
              "--default-character-set=utf8mb4", url.database], _mysql_env(url), stdin=dump)


def _restore_mssql(path: Path, url: URL) -> None:
    _run_mssql(url, mssql_restore_sql(url.database, str(path)))


_RESTORE = {"sqlite": _restore_sqlite, "postgresql": _restore_postgresql,
            "mysql": _restore_mysql, "mssql": _restore_mssql}


def _pg_target(url: URL) -> list[str]:
    args = [f"--dbname={url.database}"]
    if url.host:
        args.append(f"--host={url.host}")
    if url.port:
        args.append(f"--port={url.port}")
    if url.username:
        args.append(f"--username={url.username}")
    return [*args, "--no-password"]


def _pg_env(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = url.password
    return env


def _mysql_login(url: URL) -> list[str]:
    args = []
    if url.host:
        args.append(f"--host={url.host}")
    if url.port:
        args.append(f"--port={url.port}")
    if url.username:
        args.append(f"--user={url.username}")
    return args


def _mysql_env(url: URL) -> dict[str, str]:
    env = dict(os.environ)
    if url.password:
        env["MYSQL_PWD"] = url.password
    return env


def _run(command: list[str], env: dict[str, str], stdin=None) -> None:
    """Run a client tool; its error output goes to the log (it holds no password: that is in
    the environment), a short safe message to the caller."""
    tool = Path(command[0]).name
    done = subprocess.run(command, env=env, stdin=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        log.error("backup_tool_failed", tool=tool, status=done.returncode,
                  stderr=done.stderr.decode(errors="replace")[-2000:])
        raise BackupError(f"{tool} failed (exit status {done.returncode})")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_record(record: BackupRecord) -> None:
    sidecar = Path(record.path + SIDECAR)
    partial = sidecar.with_name(sidecar.name + ".partial")
    partial.write_text(json.dumps(asdict(record), indent=2))
    os.replace(partial, sidecar)


def read_record(sidecar: Path) -> BackupRecord | None:
    try:
        return BackupRecord(**json.loads(sidecar.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def list_backups(directory: Path) -> list[BackupRecord]:
    """The recorded backups of ``directory``, newest first."""
    if not directory.is_dir():
        return []
    records = (read_record(p) for p in directory.glob(f"{PREFIX}*{SIDECAR}"))
    return sorted((r for r in records if r), key=lambda r: (r.started_at, r.name), reverse=True)


def prune(directory: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` completed backups (and their records); failed
    attempts older than the oldest kept backup go too. Returns the names removed."""
    records = list_backups(directory)
    completed = [r for r in records if r.status == "completed"]
    if len(completed) <= keep:
        return []
    oldest_kept = completed[keep - 1].started_at if keep > 0 else None
    removed = []
    for record in records:
        if record.status in UNFINISHED or (oldest_kept is not None
                                          and record.started_at >= oldest_kept):
            continue
        Path(record.path).unlink(missing_ok=True)
        Path(record.path + SIDECAR).unlink(missing_ok=True)
        removed.append(record.name)
    if removed:
        log.info("backups_pruned", directory=str(directory), removed=removed, kept=keep)
    return removed


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
