"""Concurrent claimers of one connection on PostgreSQL and MariaDB: exactly one wins."""

from __future__ import annotations

import threading

import pytest

from openspc.extensions import db
from openspc.services.leases import claim_connections, lease_holders
from tests.integration.conftest import migrated_app


@pytest.fixture(params=["postgres", "mariadb"])
def app(request, tmp_path):
    server = request.getfixturevalue(request.param)
    with migrated_app(server, "openspc_connection_leases_test", tmp_path) as application:
        yield application


def test_racing_claimers_leave_one_owner(app):
    winners: list[str] = []
    start = threading.Barrier(8)

    def claimer(name: str) -> None:
        with app.app_context():
            start.wait()
            if claim_connections("mqtt", [1], name):
                winners.append(name)
            db.session.remove()

    threads = [threading.Thread(target=claimer, args=(f"L{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(winners) == 1
    assert lease_holders("mqtt") == {1: winners[0]}
