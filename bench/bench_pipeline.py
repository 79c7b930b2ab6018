"""Pipeline benchmark: the sample path on the full stack, from HTTP to the Socket.IO frame.

Run: ``python bench/bench_pipeline.py`` from the repository root, in the project's venv
(``--help`` for durations and sizes). It starts and stops everything it measures:

- PostgreSQL database ``openspc_bench`` (dropped and re-created, then ``openspc migrate``);
- Redis db 9 (flushed) as broker, result/notification channel and Socket.IO queue;
- the documented web command ``gunicorn -k gthread --threads 32 -w W wsgi:app`` (W web
  processes, ``--web``, default 2: one per core; the Socket.IO client uses the WebSocket
  transport only, so no sticky sessions are needed);
- ``celery -A workers.celery_app beat`` (its sweeper re-enqueues lost evaluations);
- N Celery workers ``celery -A workers.celery_app worker -Q evaluate,publish,maintenance
  --concurrency 1`` (one evaluating process each).

and records, in the "## Pipeline" section of bench/RESULTS.md (replaced in place):

1. single-sample ``POST /api/v1/samples/`` with 8 concurrent keep-alive clients: samples/s,
   p50/p99 latency (each request waits for its verdict, as the API promises);
2. ``POST /api/v1/samples/batch`` with 1,000 samples per request, counted as *evaluated*
   samples/s: from the first request until nothing is pending (after 4 warm-up requests, as
   (1) has 2 s of warm-up: each phase starts new worker processes);
3. submission → ``violation`` frame latency at a python-socketio client, at half the single
   rate measured in (1);
4. (1) and (2) with one and with two worker processes;
5. (1) and (2) on a characteristic holding 10^6 evaluated samples (bulk-loaded in SQL) next to
   an empty one, each run twice, in the order empty, full, full, empty.

The client is plain ``http.client`` in threads; its CPU share is measured and printed, since
on a 2-core machine it competes with the server. In (3) the senders run in a process of
their own, apart from the Socket.IO client that timestamps the frames.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
RESULTS = REPO / "bench" / "RESULTS.md"
SECTION = "## Pipeline"

SUBGROUP = 5
CENTER, SIGMA = 10.0, 1.0
LIMIT_HALF_WIDTH = 3 * SIGMA / SUBGROUP ** 0.5
CLIENTS = 8
BATCH_SIZE = 1000


@dataclass
class Config:
    duration: float
    batches: int
    history: int
    workers: list[int]
    web: int
    port: int
    database: str
    redis_db: int
    pg_dsn: str
    redis_base: str
    write: bool


# -- the stack -------------------------------------------------------------------------------


class Stack:
    """The processes under test, with their environment; stops what it started."""

    def __init__(self, config: Config, log_dir: Path):
        self.config = config
        self.log_dir = log_dir
        self.database_url = f"{config.pg_dsn}/{config.database}"
        broker = f"{config.redis_base}/{config.redis_db}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OPENSPC_")}
        self.env.update({
            "OPENSPC_DATABASE_URL": self.database_url,
            "OPENSPC_BROKER_URL": broker,
            "OPENSPC_REDIS_URL": broker,
            "OPENSPC_DEV_MODE": "true",
            "OPENSPC_RATE_LIMIT_DEFAULT": "1000000/second",
            "OPENSPC_JWT_SECRET": "bench-" + "x" * 40,
            "OPENSPC_ADMIN_PASSWORD": "bench-admin-password",
            "OPENSPC_LOG_LEVEL": "WARNING",
            "OPENSPC_DATA_DIR": str(log_dir),
            "PYTHONPATH": str(REPO),
        })
        self.web: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    def _spawn(self, command: list[str], name: str) -> subprocess.Popen:
        log = (self.log_dir / f"{name}.log").open("w")
        return subprocess.Popen(command, cwd=REPO, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def create_database(self) -> None:
        admin = psycopg2.connect(f"{self.config.pg_dsn}/postgres")
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{self.config.database}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{self.config.database}"')
        admin.close()
        redis.Redis.from_url(self.env["OPENSPC_BROKER_URL"]).flushdb()
        subprocess.run([str(BIN / "openspc"), "migrate"], cwd=self.log_dir, env=self.env,
                       check=True, stdout=subprocess.DEVNULL)

    def start_web(self) -> None:
        self.web = self._spawn([
            str(BIN / "gunicorn"), "-k", "gthread", "--threads", "32",
            "-w", str(self.config.web),
            "--no-control-socket", "-b", f"127.0.0.1:{self.config.port}", "wsgi:app",
        ], "web")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                sys.exit(f"gunicorn exited, see {self.log_dir / 'web.log'}")
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", self.config.port, timeout=2)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    return
            time.sleep(0.2)
        sys.exit("gunicorn did not become healthy")

    def start_beat(self) -> None:
        """Beat, as deployed: its sweeper re-enqueues samples whose task was lost."""
        self.beat = self._spawn([
            str(BIN / "celery"), "-A", "workers.celery_app", "beat", "--loglevel", "WARNING",
            "-s", str(self.log_dir / "beat-schedule"),
        ], "beat")

    def start_workers(self, count: int) -> None:
        self.stop_workers()
        for n in range(count):
            self.workers.append(self._spawn([
                str(BIN / "celery"), "-A", "workers.celery_app", "worker",
                "-Q", "evaluate,publish,maintenance", "--concurrency", "1",
                "-n", f"bench{n}@%h", "--without-gossip", "--without-mingle",
                "--loglevel", "WARNING",
            ], f"worker{n}"))
        from celery import Celery

        probe = Celery(broker=self.env["OPENSPC_BROKER_URL"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(probe.control.ping(timeout=0.5)) >= count:
                return
        sys.exit(f"{count} workers did not come up, see {self.log_dir}")

    def stop_workers(self) -> None:
        for process in self.workers:
            _stop(process)
        self.workers = []

    def stop(self) -> None:
        self.stop_workers()
        if self.beat is not None:
            _stop(self.beat)
            self.beat = None
        if self.web is not None:
            _stop(self.web)
            self.web = None


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the main process (a warm shutdown: Celery lets its pool finish the task,
    gunicorn its requests), SIGKILL to the whole group if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


# -- fixtures in the database ----------------------------------------------------------------


@dataclass
class Seed:
    """The bench's operator (an access token lasts 15 minutes: ask for a fresh one per run)
    and its characteristics."""

    app: object
    user_id: int
    characteristics: list[int]

    def token(self) -> str:
        from openspc.auth.tokens import issue_access_token
        from openspc.extensions import db
        from openspc.models import User

        with self.app.app_context():
            token = issue_access_token(db.session.get(User, self.user_id))
            db.session.remove()
        return token


def seed(stack: Stack, count: int) -> Seed:
    """An operator of the DEFAULT plant and ``count`` X-bar/R characteristics (n = 5) with
    limits at CL 10, σ 1 and all eight Nelson rules."""
    os.environ.update({k: v for k, v in stack.env.items() if k.startswith("OPENSPC_")})
    from openspc import create_app
    from openspc.auth.passwords import hash_password
    from openspc.extensions import db
    from openspc.models import (
        Characteristic,
        CharacteristicRule,
        Hierarchy,
        Plant,
        User,
        UserPlantRole,
    )

    app = create_app()
    with app.app_context():
        plant = db.session.execute(db.select(Plant).filter_by(code="DEFAULT")).scalar_one()
        node = Hierarchy(name="Bench line", type="Line", plant_id=plant.id)
        user = User(username="bench-operator", hashed_password=hash_password("bench-password"),
                    must_change_password=False)
        db.session.add_all([node, user])
        db.session.flush()
        db.session.add(UserPlantRole(user_id=user.id, plant_id=plant.id, role="operator"))
        characteristics = []
        for n in range(count):
            characteristic = Characteristic(
                hierarchy_id=node.id, name=f"Bench {n}", subgroup_size=SUBGROUP,
                chart_type="xbar_r", ucl=CENTER + LIMIT_HALF_WIDTH,
                lcl=CENTER - LIMIT_HALF_WIDTH, stored_center_line=CENTER, stored_sigma=SIGMA,
            )
            characteristic.rules = [
                CharacteristicRule(rule_id=r, is_enabled=True) for r in range(1, 9)
            ]
            characteristics.append(characteristic)
        db.session.add_all(characteristics)
        db.session.commit()
        result = Seed(app, user.id, [c.id for c in characteristics])
        db.session.remove()
    return result


def load_history(stack: Stack, characteristic_id: int, count: int) -> float:
    """``count`` evaluated samples (and their 5 measurements) straight into PostgreSQL, in
    arrival order ending now; returns the seconds it took."""
    started = time.perf_counter()
    connection = psycopg2.connect(stack.database_url)
    with connection, connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO sample (char_id, timestamp, is_excluded, actual_n, is_undersized,
                                is_modified, mean, range_value, std_dev, status, sequence,
                                limits_version, received_at)
            SELECT %(c)s, now() - make_interval(secs => %(n)s - g), false, 5, false, false,
                   %(cl)s + (random() + random() + random() - 1.5) * 0.9, 2.3, 0.9,
                   'evaluated', g, NULL, now()
            FROM generate_series(1, %(n)s) AS g
        """, {"c": characteristic_id, "n": count, "cl": CENTER})
        cursor.execute("""
            INSERT INTO measurement (sample_id, value)
            SELECT s.id, s.mean + (k - 3) * 0.4 FROM sample s CROSS JOIN generate_series(1, 5) k
            WHERE s.char_id = %(c)s
        """, {"c": characteristic_id})
        cursor.execute("UPDATE characteristic SET eval_sequence = %(n)s WHERE id = %(c)s",
                       {"c": characteristic_id, "n": count})
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE sample")
        cursor.execute("VACUUM ANALYZE measurement")
    connection.close()
    return time.perf_counter() - started


def pending_count(stack: Stack) -> int:
    connection = psycopg2.connect(stack.database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM sample WHERE status = 'pending'")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def wait_idle(stack: Stack, timeout: float = 300.0) -> float:
    """Poll (every 10 ms) until no sample is pending; returns the monotonic time it happened."""
    connection = psycopg2.connect(stack.database_url)
    connection.autocommit = True
    deadline = time.monotonic() + timeout
    try:
        with connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute("SELECT 1 FROM sample WHERE status = 'pending' LIMIT 1")
                if cursor.fetchone() is None:
                    return time.perf_counter()
                time.sleep(0.01)
    finally:
        connection.close()
    sys.exit("samples still pending after the timeout")


# -- the client ------------------------------------------------------------------------------


def subgroup(rng: random.Random, outlier: bool = False) -> list[float]:
    if outlier:
        return [round(CENTER + 3 * SIGMA + rng.random() * 0.1, 4) for _ in range(SUBGROUP)]
    return [round(rng.gauss(CENTER, SIGMA), 4) for _ in range(SUBGROUP)]


class Client:
    """One keep-alive HTTP/1.1 connection with the bearer header prepared once."""

    def __init__(self, port: int, token: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.connection.request("POST", path, body, self.headers)
        response = self.connection.getresponse()
        return response.status, response.read()

    def close(self) -> None:
        self.connection.close()


@dataclass
class Run:
    """What a load run measured: per-request latencies and sample ids, wall and client CPU."""

    latencies: list[float] = field(default_factory=list)
    sent_at: dict[int, float] = field(default_factory=dict)
    samples: int = 0
    errors: int = 0
    wall: float = 0.0
    client_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.samples / self.wall if self.wall else 0.0

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)

    def __add__(self, other: Run) -> Run:
        """Two runs of the same kind as one: their samples over their summed wall time."""
        return Run(self.latencies + other.latencies, {**self.sent_at, **other.sent_at},
                   self.samples + other.samples, self.errors + other.errors,
                   self.wall + other.wall, self.client_cpu + other.client_cpu)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_singles(port: int, token: str, characteristic_ids: list[int], duration: float,
                rate: float | None = None, outlier_every: int = 0) -> Run:
    """``CLIENTS`` threads POST single samples for ``duration`` s; client ``i`` uses
    ``characteristic_ids[i % len]``. Closed loop, or paced at ``rate``/s in total."""
    run = Run()
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    stop = start + duration

    def client(index: int) -> None:
        rng = random.Random(index)
        http_client = Client(port, token)
        characteristic_id = characteristic_ids[index % len(characteristic_ids)]
        interval = CLIENTS / rate if rate else 0.0
        due = start + index * interval / CLIENTS
        count = 0
        while True:
            now = time.perf_counter()
            if rate:
                if due > now:
                    time.sleep(due - now)
                due += interval
            elif now < start:
                time.sleep(start - now)
            if time.perf_counter() >= stop:
                break
            count += 1
            outlier = bool(outlier_every) and count % outlier_every == 0
            body = json.dumps({"characteristic_id": characteristic_id,
                               "measurements": subgroup(rng, outlier)}).encode()
            sent = time.perf_counter()
            status, payload = http_client.post("/api/v1/samples/", body)
            latency = time.perf_counter() - sent
            with lock:
                if status == 201:
                    run.samples += 1
                    run.latencies.append(latency)
                    run.sent_at[json.loads(payload)["sample_id"]] = sent
                else:
                    run.errors += 1
        http_client.close()

    cpu = time.process_time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.wall = time.perf_counter() - start
    run.client_cpu = time.process_time() - cpu
    return run


def run_batches(stack: Stack, token: str, characteristic_ids: list[int], batches: int,
                senders: int = 2) -> Run:
    """``batches`` requests of ``BATCH_SIZE`` samples, round-robin over the characteristics,
    from ``senders`` threads; ``wall`` runs until nothing is pending (evaluated samples/s)."""
    rng = random.Random(7)
    bodies = [
        json.dumps({"characteristic_id": characteristic_ids[b % len(characteristic_ids)],
                    "samples": [{"measurements": subgroup(rng)} for _ in range(BATCH_SIZE)]}
                   ).encode()
        for b in range(batches)
    ]
    run = Run()
    lock = threading.Lock()
    queue = list(range(batches))

    def sender() -> None:
        http_client = Client(stack.config.port, token)
        while True:
            with lock:
                if not queue:
                    break
                index = queue.pop()
            sent = time.perf_counter()
            status, payload = http_client.post("/api/v1/samples/batch", bodies[index])
            latency = time.perf_counter() - sent
            with lock:
                if status == 200 and json.loads(payload)["imported"] == BATCH_SIZE:
                    run.samples += BATCH_SIZE
                    run.latencies.append(latency)
                else:
                    run.errors += 1
        http_client.close()

    cpu = time.process_time()
    start = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.client_cpu = time.process_time() - cpu
    run.wall = wait_idle(stack) - start
    return run


def run_apart(function: Callable[..., Run], *args: object, **kwargs: object) -> Run:
    """``function`` in a process of its own. The Socket.IO client that timestamps frames in
    this process then shares no interpreter lock with the senders: in one process the two
    delayed each other by milliseconds, which the latencies counted as the server's."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args, **kwargs).result()


def run_violation_latency(stack: Stack, token: str, characteristic_ids: list[int],
                          duration: float, rate: float) -> tuple[Run, list[float], int]:
    """Paced single POSTs at ``rate``/s, every 5th subgroup of each client an outlier; a
    python-socketio client subscribed to the characteristics timestamps each ``violation``
    frame. Returns the run, the submit→first-frame latencies and the frames received."""
    import socketio

    received: dict[int, float] = {}
    frames = 0
    subscribed = threading.Event()
    sio = socketio.Client(reconnection=False)

    @sio.on("violation", namespace="/samples")
    def on_violation(frame: dict) -> None:
        nonlocal frames
        frames += 1
        received.setdefault(frame["violation"]["sample_id"], time.perf_counter())

    @sio.on("subscribed", namespace="/samples")
    def on_subscribed(_frame: dict) -> None:
        subscribed.set()

    sio.connect(f"http://127.0.0.1:{stack.config.port}", namespaces=["/samples"],
                transports=["websocket"], auth={"token": token})
    sio.emit("subscribe", {"characteristic_ids": characteristic_ids}, namespace="/samples")
    if not subscribed.wait(10):
        sys.exit("the Socket.IO subscription was not confirmed")
    run = run_apart(run_singles, stack.config.port, token, characteristic_ids, duration,
                    rate=rate, outlier_every=5)
    wait_idle(stack)
    time.sleep(0.5)
    sio.disconnect()
    latencies = [received[s] - run.sent_at[s] for s in received if s in run.sent_at]
    return run, latencies, frames


# -- report ----------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def client_share(run: Run) -> str:
    return f"{run.client_cpu / run.wall * 100:.0f} %" if run.wall else "n/a"


@dataclass
class Figures:
    singles: dict[int, Run] = field(default_factory=dict)
    batches: dict[int, Run] = field(default_factory=dict)
    violation: tuple[Run, list[float], int] | None = None
    history_load: float = 0.0
    history_singles: tuple[Run, Run] | None = None
    history_batches: tuple[Run, Run] | None = None


def report(config: Config, figures: Figures) -> str:
    lines = [
        SECTION,
        "",
        f"`python bench/bench_pipeline.py --duration {config.duration:g} --batches "
        f"{config.batches} --history {config.history} --web {config.web}` on "
        f"{platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}). Full stack started by the script: gunicorn "
        f"gthread ({config.web} process(es) × 32 threads), PostgreSQL, Redis, Celery beat, "
        "workers with "
        "`--concurrency 1` each. X-bar/R characteristics, n = 5, all eight Nelson rules. "
        f"Client: {CLIENTS} keep-alive `http.client` threads in the bench process (in a "
        "process of their own for the frame latency, apart from the Socket.IO client); "
        "\"client CPU\" is that process's CPU time over the run's wall time (2 cores = 200 %).",
        "",
        "| Measure | Workers | Result | Target |",
        "|---|---|---|---|",
    ]
    for workers, run in sorted(figures.singles.items()):
        lines.append(
            f"| single `POST /samples/`, {CLIENTS} clients on {CLIENTS} characteristics | "
            f"{workers} | **{run.rate:.0f} samples/s**, p50 {ms(run.percentile(0.5))} ms, "
            f"p99 {ms(run.percentile(0.99))} ms, {run.errors} errors, client CPU "
            f"{client_share(run)} | ≥ 600/s |"
        )
    for workers, run in sorted(figures.batches.items()):
        lines.append(
            f"| `POST /samples/batch` × {config.batches} (1,000 each, 2 senders), until none "
            f"pending | {workers} | **{run.rate:.0f} evaluated samples/s** (request p50 "
            f"{ms(run.percentile(0.5))} ms), {run.errors} errors | ≥ 20,000/s |"
        )
    if figures.violation:
        run, latencies, frames = figures.violation
        lines.append(
            f"| submit → `violation` frame at {run.rate:.0f} samples/s (half load), "
            f"{len(latencies)} violated samples, {frames} frames | {max(config.workers)} | "
            f"**p50 {ms(percentile(latencies, 0.5))} ms, p99 {ms(percentile(latencies, 0.99))}"
            f" ms** (POST p50 {ms(run.percentile(0.5))} ms, p99 {ms(run.percentile(0.99))} "
            "ms) | p99 ≤ 50 ms |"
        )
    if figures.history_singles and figures.history_batches:
        (empty_s, full_s), (empty_b, full_b) = figures.history_singles, figures.history_batches
        history = f"{config.history:,}"
        lines += [
            f"| single POST, 8 clients on one characteristic, empty → {history} stored "
            f"(each twice: empty, full, full, empty) | "
            f"{max(config.workers)} | {empty_s.rate:.0f} → **{full_s.rate:.0f} samples/s** "
            f"(p50 {ms(empty_s.percentile(0.5))} → {ms(full_s.percentile(0.5))} ms) | flat |",
            f"| batch, one characteristic, empty → {history} stored (each twice) | "
            f"{max(config.workers)} | "
            f"{empty_b.rate:.0f} → **{full_b.rate:.0f} evaluated samples/s** | flat |",
        ]
    gain = ""
    if len(figures.singles) > 1:
        low, high = min(figures.singles), max(figures.singles)
        gain = (
            f"Gain from {low} to {high} workers: single POST ×"
            f"{figures.singles[high].rate / figures.singles[low].rate:.2f}, batch ×"
            f"{figures.batches[high].rate / figures.batches[low].rate:.2f}. "
        )
    lines += [
        "",
        f"{gain}History of {config.history:,} samples (and 5 measurements each) loaded in "
        f"{figures.history_load:.1f} s with `INSERT … SELECT generate_series`.",
        "",
    ]
    return "\n".join(lines)


def write_section(section: str) -> None:
    """Replace the "## Pipeline" section of RESULTS.md (or append it), keeping the others."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


# -- main ------------------------------------------------------------------------------------


def phase(name: str) -> Callable[[], None]:
    started = time.perf_counter()
    print(f"-- {name}", flush=True)
    return lambda: print(f"   done in {time.perf_counter() - started:.1f} s", flush=True)


def parse(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of each single-POST run (default 10)")
    parser.add_argument("--batches", type=int, default=40,
                        help="batch requests of 1,000 samples per batch run (default 40)")
    parser.add_argument("--history", type=int, default=1_000_000,
                        help="samples stored before the history run (default 10^6)")
    parser.add_argument("--workers", default="1,2",
                        help="worker counts to compare, the largest is used after (default 1,2)")
    parser.add_argument("--web", type=int, default=2,
                        help="gunicorn web processes (default 2)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database", default="openspc_bench")
    parser.add_argument("--redis-db", type=int, default=9)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without a database name")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379",
                        help="Redis server URL without a db number")
    parser.add_argument("--no-write", action="store_true",
                        help="print the section instead of writing bench/RESULTS.md")
    args = parser.parse_args(argv)
    return Config(
        duration=args.duration, batches=args.batches, history=args.history,
        workers=sorted(int(w) for w in args.workers.split(",")), web=args.web,
        port=args.port,
        database=args.database, redis_db=args.redis_db, pg_dsn=args.pg,
        redis_base=args.redis, write=not args.no_write,
    )


@contextlib.contextmanager
def running(config: Config) -> Iterator[Stack]:
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"openspc-bench-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(config, log_dir)
    try:
        yield stack
    finally:
        stack.stop()
        print(f"logs in {log_dir}", flush=True)


def main(argv: list[str] | None = None) -> None:
    config = parse(argv)
    figures = Figures()
    with running(config) as stack:
        done = phase("database, web")
        stack.create_database()
        fixtures = seed(stack, CLIENTS + 2)
        singles_chars = fixtures.characteristics[:CLIENTS]
        empty_char, history_char = fixtures.characteristics[CLIENTS:]
        stack.start_web()
        stack.start_beat()
        done()
        for workers in config.workers:
            done = phase(f"{workers} worker(s): single POSTs, then batches")
            stack.start_workers(workers)
            token = fixtures.token()
            run_singles(config.port, token, singles_chars, 2.0)  # warm-up
            wait_idle(stack)
            figures.singles[workers] = run = run_singles(config.port, token, singles_chars,
                                                         config.duration)
            print(f"   single: {run.rate:.0f}/s p50 {ms(run.percentile(0.5))} ms p99 "
                  f"{ms(run.percentile(0.99))} ms errors {run.errors} client CPU "
                  f"{client_share(run)}", flush=True)
            wait_idle(stack)
            run_batches(stack, token, singles_chars, 4)  # warm-up: new worker processes
            figures.batches[workers] = run = run_batches(stack, token, singles_chars,
                                                         config.batches)
            print(f"   batch: {run.rate:.0f} evaluated/s errors {run.errors}", flush=True)
            done()
        best = max(figures.singles.values(), key=lambda r: r.rate)
        done = phase(f"violation frames at {best.rate / 2:.0f}/s")
        token = fixtures.token()
        # At least 30 s: a p99 needs a few hundred violated samples to be more than the max.
        figures.violation = run_violation_latency(stack, token, singles_chars,
                                                  max(config.duration, 30.0), best.rate / 2)
        _run, latencies, frames = figures.violation
        print(f"   violation p50 {ms(percentile(latencies, 0.5))} ms p99 "
              f"{ms(percentile(latencies, 0.99))} ms ({len(latencies)} samples, {frames} "
              "frames)", flush=True)
        done()
        done = phase(f"history: {config.history:,} samples")
        figures.history_load = load_history(stack, history_char, config.history)
        print(f"   loaded in {figures.history_load:.1f} s", flush=True)
        token = fixtures.token()
        for characteristic_id in (empty_char, history_char):  # first evaluation warms up
            run_singles(config.port, token, [characteristic_id], 1.0)
        wait_idle(stack)
        # Each characteristic twice, in the order empty, full, full, empty: whatever drifts
        # during the phase weighs on both alike.
        order = (empty_char, history_char, history_char, empty_char)
        singles: dict[int, Run] = {}
        batches: dict[int, Run] = {}
        for characteristic_id in order:
            run = run_singles(config.port, token, [characteristic_id], config.duration / 2)
            singles[characteristic_id] = singles.get(characteristic_id, Run()) + run
            wait_idle(stack)
        for characteristic_id in order:
            run = run_batches(stack, token, [characteristic_id], max(4, config.batches // 4))
            batches[characteristic_id] = batches.get(characteristic_id, Run()) + run
        figures.history_singles = (singles[empty_char], singles[history_char])
        figures.history_batches = (batches[empty_char], batches[history_char])
        print(f"   single {singles[empty_char].rate:.0f} -> {singles[history_char].rate:.0f}/s, "
              f"batch {batches[empty_char].rate:.0f} -> {batches[history_char].rate:.0f}/s",
              flush=True)
        done()
    section = report(config, figures)
    if config.write:
        write_section(section)
        print(f"wrote the {SECTION!r} section of {RESULTS}")
    print(section)


if __name__ == "__main__":
    main()
