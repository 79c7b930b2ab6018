"""A real HTTP server in a thread for the realtime tests, and client helpers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from openspc.auth.tokens import issue_access_token

HEARTBEAT = 1.0  # seconds between WebSocket pings in these tests (production: 30)


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """Serve ``app`` with Werkzeug's threaded server (the dev server) on a free port."""
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": HEARTBEAT, "max_message_size": 65536}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@dataclass
class World:
    """Two plants, an operator of plant A, an admin, and characteristics in both plants."""

    operator_token: str
    admin_token: str
    a1: int
    a2: int
    b1: int


@pytest.fixture
def world(factory) -> World:
    plant_a, plant_b = factory.plant(), factory.plant()
    operator = factory.user("operator", plant_a)
    admin = factory.user("admin", plant_b)
    node_a, node_b = factory.hierarchy(plant_a), factory.hierarchy(plant_b)
    return World(
        operator_token=issue_access_token(operator),
        admin_token=issue_access_token(admin),
        a1=factory.characteristic(node_a).id,
        a2=factory.characteristic(node_a).id,
        b1=factory.characteristic(node_b).id,
    )


def limits_frame(characteristic_id: int, ucl: float = 10.0) -> dict:
    return {"type": "limits_update", "characteristic_id": characteristic_id, "ucl": ucl,
            "lcl": 0.0, "center_line": ucl / 2}


def ack_frame(violation_id: int) -> dict:
    return {"type": "ack_update", "violation_id": violation_id, "ack_user": "alice",
            "ack_reason": "tool change", "characteristic_id": None, "acknowledged": True}
