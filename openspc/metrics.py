"""What each process counts as it works, for ``GET /metrics`` (Prometheus).

These are the events only the process that handles them sees: HTTP latency, samples taken
in per source, evaluation runs and their lag. With several processes (gunicorn workers,
Celery workers) set ``PROMETHEUS_MULTIPROC_DIR`` to a directory they share, before they
start: prometheus-client then keeps each process's values in a file there and ``/metrics``
adds them up, whichever process answers. The state of the system (queues, pending samples,
backlog) is not counted here but read on each scrape: see :mod:`openspc.services.metrics`.

Only cheap operations run on the sample path: one observation per evaluation run, not per
sample (an observation costs ~18 µs in multiprocess mode, 18 ms for a run of 1,000).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

SAMPLES_INGESTED = Counter(
    "openspc_samples_ingested", "Samples stored, by the source that sent them", ["source"],
)
SAMPLES_EVALUATED = Counter(
    "openspc_samples_evaluated", "Samples judged by evaluation runs of the worker path",
)
EVALUATION_LAG = Histogram(
    "openspc_evaluation_lag_seconds",
    "Per evaluation run of the worker path: time from the commit of its oldest sample to "
    "the commit of its verdict",
    buckets=LAG_BUCKETS,
)
HTTP_LATENCY = Histogram(
    "openspc_http_request_duration_seconds",
    "HTTP request latency, by method, route template and status",
    ["method", "route", "status"], buckets=HTTP_BUCKETS,
)


def count_ingested(source: str, samples: int) -> None:
    """``source``: ``rest``, ``rest_batch``, ``data_entry``, ``data_entry_batch``, or a
    listener's protocol."""
    if samples:
        SAMPLES_INGESTED.labels(source=source).inc(samples)


def observe_evaluation(samples: int, lag_seconds: float) -> None:
    SAMPLES_EVALUATED.inc(samples)
    EVALUATION_LAG.observe(max(lag_seconds, 0.0))


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_LATENCY.labels(method=method, route=route, status=str(status)).observe(seconds)
