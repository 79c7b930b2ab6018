"""The sandbox seed on PostgreSQL and MariaDB: a second seed wipes the first (measurement
triggers, cascades and all), and the seeded data is judged as production data is."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from tests.conftest import Factory
from tests.integration.conftest import migrated_app

pytestmark = pytest.mark.integration

DATABASE = "openspc_sandbox_seed_test"
SEED = "/api/v1/devtools/reset-and-seed"


@pytest.fixture(params=["postgres", "mariadb"])
def app(request, tmp_path):
    server = request.getfixturevalue(request.param)
    with migrated_app(server, DATABASE, tmp_path, OPENSPC_SANDBOX="true") as application:
        yield application


def count(sql: str) -> int:
    db.session.rollback()
    return db.session.execute(sa.text(sql)).scalar_one()


def test_reseeding_replaces_everything_and_the_evaluator_judged_it(app):
    factory = Factory(app)
    headers = factory.headers(factory.user("admin", factory.default_plant(), username="root"))
    client = app.test_client()
    first = client.post(SEED, json={"script": "chart_showcase"}, headers=headers)
    assert first.status_code == 200, first.json
    assert count("SELECT count(*) FROM sample") == 364
    second = client.post(SEED, json={"script": "nelson_test"}, headers=headers)
    assert second.status_code == 200, second.json
    assert count("SELECT count(*) FROM plant") == 1
    assert count("SELECT count(*) FROM sample") == 1200
    assert count("SELECT count(*) FROM measurement") == 1200
    assert count("SELECT count(*) FROM sample WHERE status <> 'evaluated'") == 0
    assert count("SELECT count(DISTINCT rule_id) FROM violation") == 8
    assert count("SELECT count(*) FROM annotation") == 24
