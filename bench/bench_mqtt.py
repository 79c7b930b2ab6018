"""MQTT ingestion benchmark on the full stack: publish -> listener -> PostgreSQL -> Celery
evaluation, counted as *evaluated* measurements per second.

Run: ``python bench/bench_mqtt.py`` from the repository root, in the project's venv
(``--help`` for sizes). It starts and stops everything it measures:

- a Mosquitto of its own on a free port (persistence off, no inflight or queue limits);
- PostgreSQL database ``openspc_bench_mqtt`` (dropped and re-created, ``openspc migrate``);
- Redis db 6 (flushed) as Celery broker and result backend;
- one ``celery -A workers.celery_app worker -Q evaluate,publish,maintenance --concurrency 1``;
- one ``python -m workers.mqtt_listener``;

and a publisher process (paho, QoS 1, as fast as the broker acknowledges). Phases:

1. plain numbers on 100 mapped topics (I-MR, one value per message);
2. Sparkplug B DDATA with 50 metrics per message, each metric mapped to a characteristic.

Each phase reports the measurements/s from the first publish until nothing is pending, and
the publish rate alone. Results are appended to bench/RESULTS.md ("## MQTT ingestion").
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
RESULTS = REPO / "bench" / "RESULTS.md"
DATABASE = "openspc_bench_mqtt"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/6"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(data_dir: str) -> dict[str, str]:
    return {**os.environ,
            "OPENSPC_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DATABASE}",
            "OPENSPC_BROKER_URL": REDIS, "OPENSPC_REDIS_URL": REDIS,
            "OPENSPC_JWT_SECRET": "bench-" + "x" * 40, "OPENSPC_DATA_DIR": data_dir,
            "OPENSPC_LOG_LEVEL": "WARNING", "OPENSPC_ADMIN_PASSWORD": "bench-password-1"}


def fresh_database() -> None:
    connection = psycopg2.connect(PG_ADMIN)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{DATABASE}"')
    connection.close()
    redis.Redis.from_url(REDIS).flushdb()


def seed(env: dict[str, str], port: int, topics: int, metrics: int) -> int:
    """Broker and mappings through the services, in this process; returns the broker id."""
    os.environ.update(env)
    from openspc import create_app
    from openspc.extensions import db
    from openspc.models import Characteristic, CharacteristicRule, Hierarchy, Plant
    from openspc.services.brokers import create_broker
    from openspc.services.characteristics import default_chart_type
    from openspc.services.tag_mappings import map_characteristic

    app = create_app()
    with app.app_context():
        plant = db.session.execute(db.select(Plant)).scalars().first()
        node = Hierarchy(name="Bench line", type="Line", plant_id=plant.id)
        db.session.add(node)
        db.session.commit()
        broker_id = create_broker({"name": "bench", "host": "127.0.0.1", "port": port,
                                   "client_id": "openspc-bench"})["id"]

        def characteristic(name: str) -> int:
            char = Characteristic(hierarchy_id=node.id, name=name, subgroup_size=1,
                                  chart_type=default_chart_type(1), ucl=13.0, lcl=7.0,
                                  stored_center_line=10.0, stored_sigma=1.0)
            char.rules = [CharacteristicRule(rule_id=r, is_enabled=True) for r in range(1, 9)]
            db.session.add(char)
            db.session.commit()
            return char.id

        for index in range(topics):
            map_characteristic({"characteristic_id": characteristic(f"T{index}"),
                                "broker_id": broker_id, "mqtt_topic": f"bench/t{index}",
                                "trigger_strategy": "on_change"})
        for index in range(metrics):
            map_characteristic({"characteristic_id": characteristic(f"M{index}"),
                                "broker_id": broker_id,
                                "mqtt_topic": "spBv1.0/Bench/DDATA/edge/dev",
                                "metric_name": f"m{index}", "trigger_strategy": "on_change"})
        db.session.remove()
    return broker_id


def publish(port: int, messages: list[tuple[str, bytes]], done) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    started = time.monotonic()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(120)
    done.put(time.monotonic() - started)
    client.disconnect()
    client.loop_stop()


def count(status: str | None = None) -> int:
    connection = psycopg2.connect(f"postgresql://postgres@127.0.0.1:5432/{DATABASE}")
    with connection.cursor() as cursor:
        if status:
            cursor.execute("SELECT count(*) FROM sample WHERE status = %s", (status,))
        else:
            cursor.execute("SELECT count(*) FROM sample")
        (value,) = cursor.fetchone()
    connection.close()
    return value


def wait_listener(timeout: float = 120) -> None:
    """Until the listener reports the broker connected with its subscriptions: messages
    published before a session's first subscription are not queued for it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        connection = psycopg2.connect(f"postgresql://postgres@127.0.0.1:5432/{DATABASE}")
        with connection.cursor() as cursor:
            cursor.execute("SELECT is_connected, subscribed FROM connection_status")
            row = cursor.fetchone()
        connection.close()
        if row and row[0] and row[1]:
            return
        time.sleep(0.5)
    raise SystemExit("the listener did not connect")


def run_phase(port: int, messages: list[tuple[str, bytes]], measurements: int) -> dict:
    before = count()
    done: multiprocessing.Queue = multiprocessing.Queue()
    started = time.monotonic()
    publisher = multiprocessing.Process(target=publish, args=(port, messages, done))
    publisher.start()
    deadline = started + 600
    while count("evaluated") < before + measurements and time.monotonic() < deadline:
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    publish_seconds = done.get(timeout=120)
    publisher.join()
    stored = count() - before
    return {"measurements": measurements, "stored": stored, "seconds": elapsed,
            "rate": stored / elapsed, "publish_rate": measurements / publish_seconds}


def sparkplug_messages(metrics: int, count_: int) -> list[tuple[str, bytes]]:
    from openspc.connectors.mqtt import openspc_sparkplug_b_pb2 as pb

    def payload(seq: int, birth: bool, value_base: float) -> bytes:
        message = pb.Payload(timestamp=int(time.time() * 1000), seq=seq % 256)
        for index in range(metrics):
            metric = message.metrics.add(alias=index + 1, datatype=pb.Double)
            if birth:
                metric.name = f"m{index}"
            metric.double_value = value_base + (index % 7) * 0.1
        return message.SerializeToString()

    nbirth = pb.Payload(timestamp=int(time.time() * 1000), seq=0)
    bd = nbirth.metrics.add(name="bdSeq", datatype=pb.Int64)
    bd.long_value = 0
    messages = [("spBv1.0/Bench/NBIRTH/edge", nbirth.SerializeToString()),
                ("spBv1.0/Bench/DBIRTH/edge/dev", payload(1, True, 10.0))]
    messages += [("spBv1.0/Bench/DDATA/edge/dev", payload(2 + i, False, 9.0 + (i % 20) * 0.1))
                 for i in range(count_)]
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000, help="phase 1 messages")
    parser.add_argument("--sparkplug", type=int, default=400, help="phase 2 DDATA messages")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="openspc-bench-mqtt-")
    print(f"logs in {folder}", flush=True)
    port = free_port()
    Path(folder, "mosquitto.conf").write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_inflight_messages 0\n"
        "max_queued_messages 0\n")
    env = environment(folder)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped"))  # run the cleanup below
    fresh_database()
    processes = [subprocess.Popen(["mosquitto", "-c", f"{folder}/mosquitto.conf"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        subprocess.run([str(BIN / "openspc"), "migrate"], env=env, cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
        seed(env, port, 100, 50)
        processes.append(subprocess.Popen(
            [str(BIN / "celery"), "-A", "workers.celery_app", "worker", "-Q",
             "evaluate,publish,maintenance", "--concurrency", "1", "--loglevel", "WARNING"],
            env=env, cwd=REPO, start_new_session=True,
            stderr=open(f"{folder}/worker.log", "w")))  # noqa: SIM115 (lives with the process)
        processes.append(subprocess.Popen([sys.executable, "-m", "workers.mqtt_listener"],
                                          env=env, cwd=REPO, start_new_session=True,
                                          stderr=open(f"{folder}/listener.log", "w")))  # noqa: SIM115
        wait_listener()
        plain = [(f"bench/t{i % 100}", f"{9.0 + (i % 40) * 0.05:.2f}".encode())
                 for i in range(args.messages)]
        first = run_phase(port, plain, args.messages)
        # the DBIRTH's values arrive on DBIRTH, which the DDATA mappings do not match
        second = run_phase(port, sparkplug_messages(50, args.sparkplug), 50 * args.sparkplug)
    finally:
        for process in reversed(processes[1:]):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
        processes[0].terminate()
        processes[0].wait(10)
    lines = [
        "", "## MQTT ingestion", "",
        f"`python bench/bench_mqtt.py --messages {args.messages} --sparkplug {args.sparkplug}`"
        f", {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work; PostgreSQL, Redis, Mosquitto, one "
        "listener, one Celery worker (concurrency 1).", "",
        "| phase | measurements | stored | publish -> evaluated | measurements/s | "
        "publish rate/s |", "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, result in (("100 topics, 1 value per message", first),
                         ("Sparkplug DDATA, 50 metrics per message", second)):
        lines.append(f"| {name} | {result['measurements']} | {result['stored']} | "
                     f"{result['seconds']:.1f} s | {result['rate']:.0f} | "
                     f"{result['publish_rate']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with RESULTS.open("a") as handle:
        handle.write(text)


if __name__ == "__main__":
    main()
