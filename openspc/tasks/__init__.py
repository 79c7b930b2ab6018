"""Celery wiring in Flask's pattern: every task runs inside the app context, and a task
whose database connection fails is retried with a backoff (the broker keeps it meanwhile)."""

from __future__ import annotations

import structlog
from celery import Task
from celery.schedules import crontab
from flask import Flask, current_app, has_app_context
from sqlalchemy.exc import DBAPIError, OperationalError

from openspc.config import Settings
from openspc.extensions import celery

log = structlog.get_logger(__name__)

TASK_MODULES = ["openspc.tasks.maintenance", "openspc.tasks.evaluation"]


def celery_init_app(app: Flask) -> None:
    import celeryconfig

    settings = app.extensions["openspc_settings"]

    class FlaskTask(Task):
        def __call__(self, *args, **kwargs):
            # Celery finalises task classes once per process, so an eager task called from a
            # request must take that request's app, not the first app this process built.
            target = current_app._get_current_object() if has_app_context() else app
            with target.app_context():
                structlog.contextvars.bind_contextvars(task_id=self.request.id, task=self.name)
                try:
                    return self.run(*args, **kwargs)
                except DBAPIError as error:
                    if self.request.is_eager or not lost_connection(error):
                        raise
                    log.warning("task_database_unavailable", retry=self.request.retries + 1,
                                error=type(error.orig).__name__)
                    raise self.retry(exc=error, countdown=retry_delay(self.request.retries),
                                     max_retries=MAX_RETRIES) from None
                finally:
                    structlog.contextvars.unbind_contextvars("task_id", "task")

    celery.config_from_object(celeryconfig)
    celery.conf.update(
        broker_url=settings.broker_url or "memory://",
        result_backend=settings.redis_url or None,
        task_always_eager=settings.embedded,
        task_eager_propagates=True,
        include=TASK_MODULES,
        beat_schedule=_beat_schedule(celeryconfig.beat_schedule, settings),
    )
    celery.conf.update(app.config.get("CELERY", {}))
    _forget_connections()
    celery.Task = FlaskTask
    celery.set_default()
    app.extensions["celery"] = celery
    for module in TASK_MODULES:
        __import__(module)


MAX_RETRIES = 6
"""Retries of a task whose database connection failed: after 1, 2, 4, 8, 16 and 32 s (about
a minute in all), then it fails and beat's sweepers take over."""


def retry_delay(retries: int) -> int:
    """Seconds before retry number ``retries + 1``: doubling, from one second."""
    return 2 ** retries


def lost_connection(error: DBAPIError) -> bool:
    """A refused or dropped database connection (a restart, a network cut, a failover), as
    opposed to a bug: the unit of work rolled back and running it again is the cure."""
    return isinstance(error, OperationalError) or error.connection_invalidated


def _forget_connections() -> None:
    """Drop the producer pool and result backend cached from a previous binding.

    There is one Celery object per process; an app bound with other broker or backend URLs
    (tests build many) must not keep publishing or pinging through the previous ones.
    """
    celery._pool = None
    celery.__dict__.pop("amqp", None)
    celery._backend_cache = None
    celery._local.__dict__.pop("backend", None)


def _beat_schedule(schedule: dict, settings: Settings) -> dict:
    """celeryconfig's schedule with the pending-sample sweep at OPENSPC_PENDING_SWEEP_SECONDS,
    the retention purge every OPENSPC_PURGE_INTERVAL_HOURS, and the database's backup and
    vacuum at their cron schedules (an empty one: not run)."""
    sweep = {**schedule["sweep-pending-samples"],
             "schedule": float(settings.pending_sweep_seconds)}
    purge = {**schedule["retention-purge"], "schedule": settings.purge_interval_hours * 3600.0}
    result = {**schedule, "sweep-pending-samples": sweep, "retention-purge": purge}
    for entry, task, variable in (("backup-database", "maintenance.backup", "BACKUP_SCHEDULE"),
                                  ("vacuum-database", "maintenance.vacuum", "VACUUM_SCHEDULE")):
        expression = getattr(settings, variable.lower()).strip()
        if expression:
            result[entry] = {"task": task, "schedule": cron(expression, f"OPENSPC_{variable}")}
    return result


def cron(expression: str, variable: str) -> crontab:
    """A five-field cron expression (minute hour day-of-month month day-of-week)."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(f"{variable} must have five cron fields "
                         f"(minute hour day-of-month month day-of-week): {expression!r}")
    minute, hour, day_of_month, month, day_of_week = parts
    try:
        return crontab(minute=minute, hour=hour, day_of_month=day_of_month,
                       month_of_year=month, day_of_week=day_of_week)
    except ValueError as exc:
        raise ValueError(f"{variable} is not a valid cron expression: {expression!r}") from exc
