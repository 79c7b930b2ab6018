"""Maintenance tasks: a liveness ping, the clean-up of expired credentials and of sent
realtime events, the VACUUM and ANALYZE of the tables the sample path writes, and the
retention purge, and the database's backups and vacuum (on demand and on beat's cron
schedules)."""

from openspc.dbadmin.vacuum import vacuum_busy_tables
from openspc.extensions import celery
from openspc.services import database_admin
from openspc.services.auth import purge_expired_refresh_tokens
from openspc.services.outbox import purge_published
from openspc.services.purge import purge_all_plants


@celery.task(name="maintenance.ping")
def ping() -> str:
    """Proves that a worker is connected and running."""
    return "pong"


@celery.task(name="maintenance.purge_refresh_tokens")
def purge_refresh_tokens() -> int:
    return purge_expired_refresh_tokens()


@celery.task(name="maintenance.purge_outbox")
def purge_outbox() -> int:
    return purge_published()


@celery.task(name="maintenance.vacuum_busy_tables")
def vacuum_busy() -> list[str]:
    return vacuum_busy_tables()


PURGE_WAIT_SECONDS = 600.0
"""A scheduled purge finding another run in progress (a manual one) waits this long for it,
then runs; past that it leaves this interval's work to the run in progress."""


@celery.task(name="maintenance.retention_purge")
def retention_purge() -> list[int]:
    """Every active plant's purge, one run at a time across all workers."""
    return purge_all_plants(wait=PURGE_WAIT_SECONDS)


@celery.task(name="maintenance.backup")
def backup(directory: str | None = None, name: str | None = None) -> dict:
    return database_admin.run_backup(directory, name)


@celery.task(name="maintenance.vacuum")
def vacuum() -> str:
    return database_admin.vacuum_on_schedule()
