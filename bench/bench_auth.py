"""Per-request cost of authentication: an authenticated ``GET /api/v1/auth/me``.

Run: ``python bench/bench_auth.py`` from the repository root, in the project's venv
(``--help`` for sizes; ``--database-url postgresql+psycopg2://...`` for a server database,
which must exist and is migrated). It builds the app in-process on a fresh, migrated SQLite
file (by default), logs a user in through the API, then sends the same bearer token with
``--requests`` GETs through Flask's test client (no network, so the figure is the server's
own CPU), ``--rounds`` times, and prints:

- the best CPU time per request over the rounds, in µs (the machine is shared: the best
  round is the least disturbed one);
- the SQL statements sent per request, with their text.

It only uses the HTTP API and ``create_app``, so it runs unchanged on an older checkout
(``PYTHONPATH=<checkout> python bench/bench_auth.py``) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import upgrade

import openspc
from openspc import create_app
from openspc.auth.passwords import hash_password
from openspc.config import load_settings
from openspc.extensions import db
from openspc.models import Plant, User, UserPlantRole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        settings = load_settings(env={
            "OPENSPC_DATABASE_URL": url, "OPENSPC_DATA_DIR": folder,
            "OPENSPC_JWT_SECRET": "bench-secret-" + "x" * 40, "OPENSPC_LOG_LEVEL": "WARNING",
        }, env_file="")
        app = create_app({"RATELIMIT_ENABLED": False}, settings=settings)
        with app.app_context():
            upgrade()
            _seed_user()
            engine = db.engine
        # Requests run outside any app context, as in a server: each gets its own context
        # and session, so the user is read from the database every time.
        client = app.test_client()
        login = client.post("/api/v1/auth/login",
                            json={"username": "bench", "password": "bench-password"})
        headers = {"Authorization": f"Bearer {login.json['access_token']}"}
        statements = _statements_per_request(engine, client, headers)
        best = min(_round(client, headers, args.requests) for _ in range(args.rounds))
        engine.dispose()
    print(f"openspc from {Path(openspc.__file__).parent}")
    print(f"database: {sa.make_url(url).get_backend_name()}")
    print(f"GET /api/v1/auth/me: {best * 1e6 / args.requests:.1f} µs CPU per request "
          f"(best of {args.rounds} rounds of {args.requests})")
    print(f"SQL statements per request: {sum(statements.values())}")
    for text, count in statements.items():
        print(f"  {count} x {' '.join(text.split())[:160]}")


def _seed_user() -> None:
    plant = db.session.execute(sa.select(Plant)).scalars().first()
    user = User(username="bench", hashed_password=hash_password("bench-password"))
    db.session.add(user)
    db.session.flush()
    db.session.add(UserPlantRole(user_id=user.id, plant_id=plant.id, role="engineer"))
    db.session.commit()


def _round(client, headers: dict[str, str], requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        response = client.get("/api/v1/auth/me", headers=headers)
        assert response.status_code == 200, response.json
    return time.process_time() - started


def _statements_per_request(engine: sa.Engine, client, headers: dict[str, str]) -> Counter:
    client.get("/api/v1/auth/me", headers=headers)  # warm caches first
    sent: Counter = Counter()

    def seen(_connection, _cursor, statement, *_rest) -> None:
        sent[statement] += 1

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    return sent


if __name__ == "__main__":
    main()
