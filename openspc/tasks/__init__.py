"""Celery wiring in Flask's pattern: every task runs inside the app context, and a task
whose database connection fails is retried with a backoff (the broker keeps it meanwhile)."""

from __future__ import annotations

import structlog
from celery import Task
from flask import Flask, current_app, has_app_context
from sqlalchemy.exc import DBAPIError, OperationalError

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
        beat_schedule=_beat_schedule(celeryconfig.beat_schedule, settings.pending_sweep_seconds),
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


def _beat_schedule(schedule: dict, sweep_seconds: int) -> dict:
    """celeryconfig's schedule with the pending-sample sweep at OPENSPC_PENDING_SWEEP_SECONDS."""
    sweep = {**schedule["sweep-pending-samples"], "schedule": float(sweep_seconds)}
    return {**schedule, "sweep-pending-samples": sweep}
