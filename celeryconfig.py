"""Celery settings: queues, routes, delivery guarantees and the beat schedule.

Broker and backend URLs come from OPENSPC_BROKER_URL / OPENSPC_REDIS_URL (see
``openspc.tasks.celery_init_app``); everything else about the queues is here.
"""

from kombu import Queue

task_queues = (Queue("evaluate"), Queue("publish"), Queue("maintenance"))
task_default_queue = "maintenance"
task_routes = {
    "spc.*": {"queue": "evaluate"},
    "publish.*": {"queue": "publish"},
    "maintenance.*": {"queue": "maintenance"},
}

# A task is acknowledged only once it has finished, and put back when its worker dies, so a
# killed worker loses nothing; evaluation is idempotent, so a redelivery changes nothing.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
task_ignore_result = True
broker_connection_retry_on_startup = True
# The longest task is an evaluation draining a characteristic's backlog, in chunks of 2,000
# samples that commit one by one (over 20,000 samples/s: bench/RESULTS.md). The hard time
# limit stops one at 120 s, its committed chunks kept; the sweeper re-enqueues the rest. A
# message a worker took and never acknowledged (the worker was SIGKILLed) is handed out again
# once the visibility timeout has passed: the time limit plus a minute of margin, which also
# covers the longest retry countdown (32 s, openspc.tasks.retry_delay). Celery's default was
# an hour.
task_time_limit = 120
broker_transport_options = {"visibility_timeout": task_time_limit + 60}

# Maintenance runs outlast that limit (a backup of a large database, a purge of 10^6
# samples: bench/RESULTS.md). They are acknowledged when a worker takes them, so the
# visibility timeout never hands a running one to a second worker; one killed midway is not
# redelivered but taken up by its next scheduled run (a backup is taken again, a purge
# resumes where the killed one stopped), and each holds its own lease or lock meanwhile.
_LONG_MAINTENANCE = {"acks_late": False, "time_limit": 6 * 3600}
task_annotations = {
    "maintenance.backup": _LONG_MAINTENANCE,
    "maintenance.vacuum": _LONG_MAINTENANCE,
    "maintenance.retention_purge": _LONG_MAINTENANCE,
}
worker_hijack_root_logger = False

beat_schedule = {
    "sweep-pending-samples": {"task": "spc.sweep_pending", "schedule": 30.0},
    "publish-outbox": {"task": "publish.sweep_outbox", "schedule": 10.0},
    "purge-refresh-tokens": {"task": "maintenance.purge_refresh_tokens", "schedule": 3600.0},
    "purge-outbox": {"task": "maintenance.purge_outbox", "schedule": 3600.0},
    "vacuum-busy-tables": {"task": "maintenance.vacuum_busy_tables", "schedule": 5.0,
                           "options": {"expires": 5.0}},
    # Every OPENSPC_PURGE_INTERVAL_HOURS (openspc.tasks sets the interval from settings).
    "retention-purge": {"task": "maintenance.retention_purge", "schedule": 86400.0},
}
