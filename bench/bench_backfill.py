"""Backfill benchmark: what late data costs, next to the in-order path it must not slow.

Run: ``python bench/bench_backfill.py`` from the repository root, in the project's venv
(``--help`` for sizes). One process, the service layer with evaluation run in-process (the
embedded mode's eager tasks), on PostgreSQL database ``openspc_bench_backfill`` (dropped and
re-created). It measures, in wall time:

1. the in-order path: batches of 1,000 samples (each one transaction, judged at once) and
   single samples, on an empty characteristic;
2. the same on a characteristic holding ``--history`` (10^5) judged samples;
3. a backfill of ``--backfill`` (3,600: an hour at one per second) samples dated before that
   whole history, in one request; and a single back-dated sample. Each is judged in its place
   and every later sample judged again (the cost grows with the samples after the point).

Prints a Markdown table; the figures go to bench/RESULTS.md by hand, with the machine's load.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from openspc import create_app  # noqa: E402
from openspc.config import load_settings  # noqa: E402
from openspc.extensions import db  # noqa: E402
from openspc.models import (  # noqa: E402
    Characteristic,
    CharacteristicRule,
    Hierarchy,
    Plant,
)
from openspc.services.ingest import SampleInput, submit_sample, submit_samples  # noqa: E402

SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
DATABASE = "openspc_bench_backfill"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def fresh_app(folder: str):
    engine = sa.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    engine.dispose()
    settings = load_settings(env={
        "OPENSPC_DATABASE_URL": f"{SERVER}/{DATABASE}", "OPENSPC_DATA_DIR": folder,
        "OPENSPC_JWT_SECRET": "bench-" + "x" * 40, "OPENSPC_LOG_LEVEL": "WARNING",
    }, env_file="")
    app = create_app({"RATELIMIT_ENABLED": False}, settings=settings)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    return app


def characteristic(name: str) -> int:
    plant = db.session.execute(sa.select(Plant)).scalars().first()
    node = Hierarchy(name=f"Line {name}", type="Line", plant_id=plant.id)
    db.session.add(node)
    db.session.flush()
    chart = Characteristic(hierarchy_id=node.id, name=name, subgroup_size=1, chart_type="i_mr",
                           ucl=13.0, lcl=7.0, stored_center_line=10.0, stored_sigma=1.0)
    chart.rules = [CharacteristicRule(rule_id=r, is_enabled=True) for r in range(1, 9)]
    db.session.add(chart)
    db.session.commit()
    return chart.id


def values(rng: np.random.Generator, count: int) -> list[float]:
    return [round(float(v), 4) for v in rng.normal(10.0, 1.0, count)]


def batches(chart_id: int, start: datetime, rng: np.random.Generator, count: int,
            size: int = 1000) -> float:
    """Submit ``count`` samples a second apart from ``start`` in batches; wall seconds."""
    started = time.perf_counter()
    for offset in range(0, count, size):
        chunk = values(rng, min(size, count - offset))
        submit_samples([SampleInput(chart_id, [v], timestamp=start + timedelta(seconds=offset + i))
                        for i, v in enumerate(chunk)])
    return time.perf_counter() - started


def singles(chart_id: int, start: datetime, rng: np.random.Generator, count: int) -> float:
    started = time.perf_counter()
    for i, v in enumerate(values(rng, count)):
        submit_sample(SampleInput(chart_id, [v], timestamp=start + timedelta(seconds=i)))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--backfill", type=int, default=3_600)
    parser.add_argument("--in-order", type=int, default=10_000,
                        help="samples of each in-order batch run (default 10,000)")
    parser.add_argument("--singles", type=int, default=500)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        app = fresh_app(folder)
        with app.app_context():
            rows = []
            empty, full = characteristic("empty"), characteristic("full")
            history_at = T0 + timedelta(days=1)
            load = batches(full, history_at, rng, args.history)
            rows.append(("history load, in order, batches of 1,000", args.history, load))
            after = history_at + timedelta(seconds=args.history + 10)
            for name, chart_id in (("empty", empty), ("holding the history", full)):
                seconds = batches(chart_id, after, rng, args.in_order)
                rows.append((f"in order, batches of 1,000, {name}", args.in_order, seconds))
                start = after + timedelta(seconds=args.in_order + 10)
                seconds = singles(chart_id, start, rng, args.singles)
                rows.append((f"in order, single samples, {name}", args.singles, seconds))
            later = args.history + args.in_order + args.singles
            seconds = batches(full, T0, rng, args.backfill, size=args.backfill)
            rows.append((f"backfill of {args.backfill:,} in one request, before "
                         f"{later:,} judged samples", args.backfill, seconds))
            seconds = singles(full, T0 - timedelta(hours=1), rng, 1)
            rows.append((f"one back-dated sample, before {later + args.backfill:,} judged "
                         "samples", 1, seconds))
            db.engine.dispose()
    print("| run | samples | wall | per sample |")
    print("|---|---:|---:|---:|")
    for name, count, seconds in rows:
        print(f"| {name} | {count:,} | {seconds:.2f} s | {seconds / count * 1000:.3f} ms |")


if __name__ == "__main__":
    main()
