"""Realtime pushes: Socket.IO namespace ``/samples`` and the raw WebSocket ``/ws/samples``.

Frames leave only through ``openspc.realtime.emit.emit`` (called by the outbox after commit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask

from openspc.extensions import sock, socketio
from openspc.realtime.emit import NAMESPACE
from openspc.realtime.namespace import SamplesNamespace
from openspc.realtime.raw import socket_options, ws_blueprint
from openspc.realtime.relay import client_manager_for


def init_realtime(app: Flask) -> None:
    """Bind Socket.IO (threading mode; Redis message queue when configured) and the raw socket.

    ``SOCK_SERVER_OPTIONS`` (heartbeat interval, message size limit) may be overridden in the
    app config, e.g. by tests that need a short heartbeat.
    """
    settings = app.extensions["openspc_settings"]
    app.config.setdefault("SOCK_SERVER_OPTIONS", socket_options())
    socketio.init_app(
        app,
        async_mode="threading",
        client_manager=client_manager_for(settings.message_queue_url),
        cors_allowed_origins=_origin_check(settings.cors_origin_list),
    )
    socketio.on_namespace(SamplesNamespace(NAMESPACE))
    sock.init_app(app)
    app.register_blueprint(ws_blueprint)


def _origin_check(configured: list[str]) -> Callable[[str | None, dict[str, Any]], bool]:
    """Accept the configured CORS origins and the server's own origin.

    Engine.IO accepts either a list (which then excludes the same origin) or same-origin
    only; a page served by this host, or a client that sends its own Origin, must connect
    as well as the configured front-ends.
    """
    allowed = set(configured)

    def check(origin: str | None, environ: dict[str, Any]) -> bool:
        if "*" in allowed or origin in allowed:
            return True
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}"
        return origin == own

    return check
