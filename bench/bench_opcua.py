"""OPC-UA listener throughput: an asyncua server changing N nodes every P ms, to samples.

    python bench/bench_opcua.py [--nodes 200] [--period-ms 10] [--seconds 20]

The server runs in its own process (``tests.opcua_server`` builds the address space; this
script adds the bench nodes) and counts the values it wrote. The listener runs in this
process, embedded shape (SQLite file, Celery eager: every batch is evaluated in the
listener's thread), one characteristic per node with control limits so that every sample is
evaluated. Reported: values written per second by the server, samples stored and evaluated
per second, loss (written but never stored), and the latency from writing a value beyond the
limits to its violation row (the realtime frame is sent right after that commit): the
values hover above the centre line, so rule 2 fires often; each violation's delay is its
commit time minus its sample's source time (one clock: server and listener share the host).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _serve(port: int, cert_dir: str, nodes: int, period_ms: int, go, stop, done,
           written) -> None:
    from asyncua import ua

    from tests.opcua_server import build

    async def main() -> None:
        server, ns = await build(port, Path(cert_dir))
        folder = await server.nodes.objects.add_folder(ua.NodeId("Bench", ns), "Bench")
        ids = []
        for i in range(nodes):
            await folder.add_variable(ua.NodeId(f"Bench.N{i:03d}", ns), f"N{i:03d}", 10.0)
            ids.append(ua.NodeId(f"Bench.N{i:03d}", ns))
        async with server:
            go.wait_for_ready = True
            while not go.is_set():
                await asyncio.sleep(0.05)
            count, value = 0, 0
            next_tick = time.monotonic()
            while not stop.is_set():
                value += 1
                now = datetime.now(UTC)
                for node in ids:
                    await server.write_attribute_value(node, ua.DataValue(
                        ua.Variant(10.0 + (value % 7) / 10, ua.VariantType.Double),
                        SourceTimestamp=now, ServerTimestamp=now))
                count += len(ids)
                written.value = count
                next_tick += period_ms / 1000
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            while not done.is_set():  # keep publishing what is queued
                await asyncio.sleep(0.1)

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--period-ms", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--database", default="",
                        help="OPENSPC_DATABASE_URL of an empty database (default: SQLite file)")
    parser.add_argument("--broker", default="",
                        help="OPENSPC_BROKER_URL: evaluation goes to Celery workers (start "
                             "them yourself); the figures then show what the listener stores")
    args = parser.parse_args()

    from openspc import create_app
    from openspc.extensions import db
    from openspc.models import Sample, Violation
    from openspc.services.opcua_listener import OpcuaListener
    from tests.conftest import Factory, make_settings
    from tests.opcua_server import free_port

    folder = Path(tempfile.mkdtemp(prefix="bench-opcua-"))
    app = create_app({"RATELIMIT_ENABLED": False},
                     settings=make_settings(folder, OPENSPC_LOG_LEVEL="ERROR",
                                           OPENSPC_BROKER_URL=args.broker,
                                           **({"OPENSPC_DATABASE_URL": args.database}
                                              if args.database else {})))
    port = free_port()
    go, stop, done = multiprocessing.Event(), multiprocessing.Event(), multiprocessing.Event()
    written = multiprocessing.Value("q", 0)
    server = multiprocessing.Process(target=_serve, args=(
        port, str(folder / "certs"), args.nodes, args.period_ms, go, stop, done, written))
    server.start()
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        factory = Factory(app)
        client = app.test_client()
        admin = factory.headers(factory.user("admin"))
        server_id = client.post("/api/v1/opcua-servers/", headers=admin, json={
            "name": "bench", "endpoint_url": f"opc.tcp://127.0.0.1:{port}/openspc/",
            "publishing_interval": 100, "sampling_interval": args.period_ms}).json["id"]
        node = factory.hierarchy()
        chars = []
        for i in range(args.nodes):
            char = factory.characteristic(node, ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0)
            chars.append(char.id)
            client.post("/api/v1/opcua-servers/map", headers=admin, json={
                "characteristic_id": char.id, "server_id": server_id,
                "node_id": f"ns=2;s=Bench.N{i:03d}"})
        listener_stop = threading.Event()
        listener = OpcuaListener(app)
        thread = threading.Thread(target=listener.run, args=(listener_stop,), daemon=True)
        thread.start()

        def count(model, *where) -> int:
            db.session.rollback()
            return db.session.execute(
                sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()

        deadline = time.monotonic() + 60
        while count(Sample) < args.nodes and time.monotonic() < deadline:
            time.sleep(0.2)
        initial = count(Sample)
        go.set()
        started_at = datetime.now(UTC)
        started = time.monotonic()
        cpu_started = time.process_time()
        time.sleep(args.seconds)
        stop.set()
        elapsed_writing = time.monotonic() - started
        time.sleep(0.5)
        total_written = written.value
        expected = initial + total_written
        last, drained = -1, 0.0
        while time.monotonic() - started < args.seconds + 120:
            now_count = count(Sample)
            if now_count != last:
                last, drained = now_count, time.monotonic() - started
            elif now_count >= expected or time.monotonic() - started - drained > 10:
                break
            time.sleep(0.5)
        stored = count(Sample) - initial
        evaluated = count(Sample, Sample.status == "evaluated") - initial
        cpu = time.process_time() - cpu_started
        reconnects = sum(session.state.reconnects for _, session in listener.sessions.values())
        db.session.rollback()
        delays = sorted(
            (created - stamp).total_seconds() * 1000 for created, stamp in db.session.execute(
                sa.select(Violation.created_at, Sample.timestamp)
                .join(Sample, Sample.id == Violation.sample_id)
                .where(Sample.timestamp >= started_at)).all())
        done.set()
        server.join(30)
        listener_stop.set()
        thread.join(30)
        for counters in listener.counters.values():
            print("listener counters", counters.values, counters.samples, dict(counters.refused))

    server.terminate()
    print(f"nodes {args.nodes}, period {args.period_ms} ms, writing {elapsed_writing:.1f} s")
    print(f"values written: {total_written} ({total_written / elapsed_writing:,.0f}/s)")
    print(f"samples stored: {stored}, evaluated by then: {max(evaluated, 0)}, all stored by "
          f"{drained:.1f} s ({stored / drained:,.0f}/s)")
    print(f"lost: {total_written - stored}, listener reconnects: {reconnects}")
    if delays:
        print(f"source time -> violation committed, {len(delays)} violations: p50 "
              f"{delays[len(delays) // 2]:.0f} ms, p99 {delays[int(len(delays) * 0.99)]:.0f} ms")
    print(f"listener process CPU: {cpu:.1f} s, {stored / cpu:,.0f} values per CPU second "
          f"(network thread and writer together)")


if __name__ == "__main__":
    main()
