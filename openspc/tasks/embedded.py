"""The embedded mode (no broker) has no beat process, so ``openspc serve`` runs the retention
purge on a thread of its own, as the reference did in-process: first a minute after start,
then every ``OPENSPC_PURGE_INTERVAL_HOURS``. The purge's lease keeps it to one run at a time
even if several such processes share a database."""

from __future__ import annotations

import threading

import structlog
from flask import Flask

from openspc.extensions import db

log = structlog.get_logger(__name__)

FIRST_RUN_DELAY = 60.0


def start_retention_schedule(app: Flask, interval_hours: float) -> threading.Event:
    """Returns the event that stops the schedule (the thread is a daemon: it ends with the
    process anyway)."""
    from openspc.tasks.maintenance import retention_purge

    stop = threading.Event()

    def run() -> None:
        delay = FIRST_RUN_DELAY
        while not stop.wait(delay):
            delay = interval_hours * 3600.0
            with app.app_context():
                try:
                    retention_purge()
                except Exception:
                    log.exception("retention_purge_failed")
                finally:
                    db.session.remove()

    threading.Thread(target=run, name="retention-purge", daemon=True).start()
    return stop
