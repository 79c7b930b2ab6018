"""Maintenance tasks: a liveness ping and the clean-up of expired credentials."""

from openspc.extensions import celery
from openspc.services.auth import purge_expired_refresh_tokens


@celery.task(name="maintenance.ping")
def ping() -> str:
    """Proves that a worker is connected and running."""
    return "pong"


@celery.task(name="maintenance.purge_refresh_tokens")
def purge_refresh_tokens() -> int:
    return purge_expired_refresh_tokens()
