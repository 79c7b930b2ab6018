"""A trivial task that proves a worker is connected and running."""

from openspc.extensions import celery


@celery.task(name="maintenance.ping")
def ping() -> str:
    return "pong"
