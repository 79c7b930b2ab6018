"""The retention purge of 10^6 samples on PostgreSQL: total time, and how long each batch's
transaction (which holds one characteristic's evaluation lock) lasts.

Run: ``python bench/bench_purge.py [--samples 1000000] [--url postgresql+psycopg2://...]``.
It creates (and drops) the database ``openspc_bench_purge``. Data: 10 characteristics, each
sample with two measurements and one sample in 30 with a violation, all older than the plant
default of ``time_delta 30 days``, so the purge deletes every sample.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openspc import create_app  # noqa: E402
from openspc.config import load_settings  # noqa: E402
from openspc.extensions import db  # noqa: E402
from openspc.services import leases, purge  # noqa: E402

DATABASE = "openspc_bench_purge"
CHARACTERISTICS = 10


def _recreate(admin_url: str) -> str:
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    engine.dispose()
    return make_url(admin_url).set(database=DATABASE).render_as_string(hide_password=False)


def _fill(samples: int) -> int:
    """Rows written server-side with generate_series; returns the plant id."""
    run = db.session.execute
    plant_id = run(sa.text("INSERT INTO plant (name, code, is_active, settings) "
                           "VALUES ('Bench', 'BENCH', true, '{}') RETURNING id")).scalar_one()
    node = run(sa.text("INSERT INTO hierarchy (plant_id, name, type) VALUES (:p, 'Line', 'Line') "
                       "RETURNING id"), {"p": plant_id}).scalar_one()
    run(sa.text("INSERT INTO characteristic (hierarchy_id, name, subgroup_size, chart_type, "
                "subgroup_mode, min_measurements, decimal_precision, eval_sequence) "
                "SELECT :n, 'C' || g, 2, 'xbar_r', 'NOMINAL_TOLERANCE', 1, 3, 0 "
                "FROM generate_series(1, :k) g"), {"n": node, "k": CHARACTERISTICS})
    run(sa.text("INSERT INTO retention_policy (plant_id, scope, retention_type, retention_value, "
                "retention_unit) VALUES (:p, 'global', 'time_delta', 30, 'days')"),
        {"p": plant_id})
    run(sa.text(
        "INSERT INTO sample (char_id, timestamp, actual_n, mean, status, is_excluded, "
        "is_undersized, is_modified, received_at) "
        "SELECT c.id, now() - interval '400 days' + g * interval '10 seconds', 2, 1.0, "
        "'evaluated', false, false, false, now() "
        "FROM generate_series(1, :per) g CROSS JOIN characteristic c"),
        {"per": samples // CHARACTERISTICS})
    run(sa.text("INSERT INTO measurement (sample_id, value) "
                "SELECT s.id, v FROM sample s CROSS JOIN (VALUES (0.5), (1.5)) m(v)"))
    run(sa.text("INSERT INTO violation (sample_id, char_id, rule_id, severity, acknowledged, "
                "requires_acknowledgement) SELECT id, char_id, 1, 'CRITICAL', false, true "
                "FROM sample WHERE id % 30 = 0"))
    db.session.commit()
    run(sa.text("ANALYZE"))
    return plant_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    url = _recreate(args.url)
    settings = load_settings(env={"OPENSPC_DATABASE_URL": url, "OPENSPC_LOG_LEVEL": "WARNING",
                                  "OPENSPC_DATA_DIR": tempfile.mkdtemp(),
                                  "OPENSPC_JWT_SECRET": "x" * 40}, env_file="")
    app = create_app({"RATELIMIT_ENABLED": False}, settings=settings)
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        plant_id = _fill(args.samples)
        print(f"filled {args.samples:,} samples in {time.perf_counter() - started:.1f} s")
        batch_ends: list[float] = []
        renew = leases.renew

        def timed_renew(*a, **k):
            renew(*a, **k)
            batch_ends.append(time.perf_counter())

        leases.renew = timed_renew
        started = time.perf_counter()
        run = purge.purge_plant(plant_id, wait=0)
        elapsed = time.perf_counter() - started
        gaps = [b - a for a, b in zip([started, *batch_ends], batch_ends, strict=False)]
        print(f"purged {run.samples_deleted:,} samples, {run.violations_deleted:,} violations "
              f"in {elapsed:.1f} s ({run.samples_deleted / elapsed:,.0f} samples/s), "
              f"{len(gaps)} batches of {purge.BATCH_SIZE}: median {statistics.median(gaps):.3f} s, "
              f"max {max(gaps):.3f} s")
        tenth = max(len(gaps) // 10, 1)
        print(f"median batch of the first tenth {statistics.median(gaps[:tenth]):.3f} s, "
              f"of the last tenth {statistics.median(gaps[-tenth:]):.3f} s")
        left = db.session.execute(sa.text("SELECT count(*) FROM measurement")).scalar_one()
        print(f"measurements left: {left}")
        db.session.remove()
        db.engine.dispose()
    engine = sa.create_engine(args.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    engine.dispose()


if __name__ == "__main__":
    main()
