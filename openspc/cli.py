"""The ``openspc`` command: ``serve``, ``migrate``, ``worker``, ``beat``.

``serve`` is the one-command start of design.md's embedded shape: it brings the schema to the
head revision (the reference only warned when it was behind), creates the first admin on an
empty database, then serves the web process with gunicorn's threaded worker, which also
carries the Socket.IO and raw WebSocket connections (``async_mode="threading"``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence

from flask import Flask
from gunicorn.app.base import BaseApplication
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from openspc.config import Settings, load_settings

CELERY_APP = "workers.celery_app"
WORKER_QUEUES = "evaluate,publish,maintenance"
WEB_THREADS = 32


def prepare_database(app: Flask) -> None:
    """Apply pending migrations and bootstrap the admin; print a generated password once.

    The password goes to stdout, never to the structured log, so that log shipping does not
    carry it.
    """
    from flask_migrate import upgrade

    from openspc.extensions import db
    from openspc.services.bootstrap import bootstrap_admin

    settings: Settings = app.extensions["openspc_settings"]
    with app.app_context():
        upgrade()
        admin = bootstrap_admin(settings)
        db.session.remove()
        db.engine.dispose()
    if admin is None:
        return
    if admin.generated_password is None:
        print(f"Created admin user '{admin.username}' with the password from "
              "OPENSPC_ADMIN_PASSWORD.", flush=True)
        return
    print(
        "\n"
        "  OpenSPC admin account created (shown once, not logged):\n"
        f"    username: {admin.username}\n"
        f"    password: {admin.generated_password}\n"
        "  You will be asked to change it at the first login.\n",
        flush=True,
    )


class WebServer(BaseApplication):
    """gunicorn run in-process: one worker process, ``WEB_THREADS`` threads.

    The app is built inside the worker (after the fork), so no connection pool or thread of
    the master process is inherited.
    """

    def __init__(self, settings: Settings, host: str, port: int):
        self.settings = settings
        self.options = {
            "bind": f"{host}:{port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": WEB_THREADS,
            "accesslog": None,
            "errorlog": "-",
            "control_socket": control_socket_path(settings, host, port),
        }
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from openspc import freeze_startup_objects

        app = _app(self.settings)
        if self.settings.embedded:
            from openspc.tasks.embedded import start_retention_schedule

            start_retention_schedule(app, self.settings.purge_interval_hours)
        if self.settings.embedded and self.settings.mqtt_listener:
            from openspc.connectors.mqtt.listener import start_in_background

            start_in_background(app)
        freeze_startup_objects()
        return app


UNIX_PATH_MAX = 104
"""Longest Unix socket path every platform accepts (108 on Linux, 104 on BSD and macOS)."""


def control_socket_path(settings: Settings, host: str, port: int) -> str:
    """gunicorn's control socket (``gunicornc -s PATH``) of the instance serving
    ``host:port``: ``gunicorn-HOST-PORT.ctl`` in OPENSPC_DATA_DIR. gunicorn's default is one
    path per user, so a second instance on the host took it over from the first. When the
    data directory's path is too long for a socket, the system's temporary directory holds
    it instead."""
    name = f"gunicorn-{host}-{port}.ctl"
    path = os.path.join(os.path.abspath(settings.data_dir), name)
    if len(path.encode()) >= UNIX_PATH_MAX:
        path = os.path.join(tempfile.gettempdir(), name)
    return path


def _app(settings: Settings) -> Flask:
    from openspc import create_app

    return create_app(settings=settings)


def _prepare_or_exit(settings: Settings) -> None:
    try:
        prepare_database(_app(settings))
    except SQLAlchemyError as exc:
        url = make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
        sys.exit(f"openspc: cannot prepare the database {url}: {exc.__class__.__name__}: "
                 f"{getattr(exc, 'orig', None) or exc}")


def _serve(args: argparse.Namespace, settings: Settings) -> None:
    _prepare_or_exit(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"OpenSPC on http://{host}:{port}  (API docs: http://{host}:{port}/docs)", flush=True)
    WebServer(settings, host, port).run()


def _migrate(_args: argparse.Namespace, settings: Settings) -> None:
    _prepare_or_exit(settings)


def _celery(argv: list[str]) -> None:
    os.execv(sys.executable, [sys.executable, "-m", "celery", "-A", CELERY_APP, *argv])


def _worker(args: argparse.Namespace, _settings: Settings) -> None:
    _celery(["worker", "-Q", WORKER_QUEUES, *args.celery_args])


def _beat(args: argparse.Namespace, _settings: Settings) -> None:
    _celery(["beat", *args.celery_args])


def _target_url(url: str) -> str:
    """A URL given on the command line, read as OPENSPC_DATABASE_URL is (async drivers
    mapped, a relative SQLite path taken from the working directory)."""
    return Settings(database_url=url).sqlalchemy_url


def _backup(args: argparse.Namespace, settings: Settings) -> None:
    from openspc.dbadmin.backup import BackupError
    from openspc.services.database_admin import backup_directory, run_backup

    app = _app(settings)
    with app.app_context():
        try:
            record = run_backup(str(backup_directory(settings, args.dir)))
        except BackupError as exc:
            sys.exit(f"openspc backup: {exc}")
    print(f"{record['path']}  {record['size_bytes']} bytes  sha256 {record['sha256']}  "
          f"{record['duration_ms']} ms", flush=True)


def _restore(args: argparse.Namespace, settings: Settings) -> None:
    from pathlib import Path

    from openspc.dbadmin.backup import BackupError, restore
    from openspc.dbadmin.connection import describe, startup_database

    target = _target_url(args.to) if args.to else startup_database(settings)[0]
    try:
        restore(Path(args.file), target)
    except BackupError as exc:
        sys.exit(f"openspc restore: {exc}")
    print(f"Restored {args.file} into {describe(target)}", flush=True)


def _transfer(args: argparse.Namespace, settings: Settings) -> None:
    from openspc.dbadmin.connection import describe
    from openspc.dbadmin.transfer import TransferError
    from openspc.services.database_admin import transfer_database

    target = _target_url(args.to)
    try:
        copies = transfer_database(_app(settings), target, batch_size=args.batch_size,
                                   resume=args.resume, progress=lambda line: print(line,
                                                                                   flush=True))
    except TransferError as exc:
        sys.exit(f"openspc db transfer: {exc}")
    rows = sum(c.target_rows for c in copies)
    print(f"\nVerified: {len(copies)} tables, {rows} rows, the same count in each table on "
          "both sides.\nTo serve from it, stop OpenSPC, then either set\n"
          f"  OPENSPC_DATABASE_URL={describe(target)}\n(with the real password) or save it "
          "with PUT /api/v1/database/config, which takes precedence, and start again.",
          flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openspc",
        description="OpenSPC backend. Settings come from OPENSPC_* variables and ./.env.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="apply migrations, create the first admin, serve HTTP and WebSockets"
    )
    serve.add_argument("--host", help="bind address (default OPENSPC_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default OPENSPC_PORT, 8000)")
    serve.set_defaults(run=_serve)
    commands.add_parser(
        "migrate", help="apply pending migrations and create the first admin, then exit"
    ).set_defaults(run=_migrate)
    backup = commands.add_parser(
        "backup", help="back the database up now (as the scheduled task does), then exit")
    backup.add_argument("--dir", help="a directory inside OPENSPC_BACKUP_DIR (default: it)")
    backup.set_defaults(run=_backup)
    restore = commands.add_parser(
        "restore", help="restore a backup into an empty database of the same dialect")
    restore.add_argument("file", help="the backup file (its .json record is checked if present)")
    restore.add_argument("--to", help="target database URL (default: the configured database)")
    restore.set_defaults(run=_restore)
    database = commands.add_parser("db", help="database tools").add_subparsers(
        dest="db_command", required=True)
    transfer = database.add_parser(
        "transfer", help="copy every table into another database, migrated to head first")
    transfer.add_argument("--to", required=True, help="target database URL (an empty database)")
    transfer.add_argument("--batch-size", type=int, default=5000, help="rows per transaction")
    transfer.add_argument("--resume", action="store_true",
                          help="continue an interrupted transfer into the same target")
    transfer.set_defaults(run=_transfer)
    for name, run, what in (
        ("worker", _worker, f"celery -A {CELERY_APP} worker -Q {WORKER_QUEUES} ARGS"),
        ("beat", _beat, f"celery -A {CELERY_APP} beat ARGS"),
    ):
        commands.add_parser(
            name, add_help=False,
            help=f"exec {what} (needs OPENSPC_BROKER_URL); other arguments go to celery",
        ).set_defaults(run=run, passes_arguments_on=True)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``openspc`` console script."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passes_arguments_on", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.celery_args = rest
    args.run(args, load_settings())
