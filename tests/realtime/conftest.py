"""A real HTTP server in a thread for the realtime tests, and client helpers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

HEARTBEAT = 0.4


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
