"""Realtime pushes: Socket.IO namespace ``/samples`` and the raw WebSocket ``/ws/samples``."""

from __future__ import annotations

from flask import Flask

from openspc.extensions import sock, socketio


def init_realtime(app: Flask) -> None:
    settings = app.extensions["openspc_settings"]
    socketio.init_app(
        app,
        async_mode="threading",
        message_queue=settings.message_queue_url or None,
        cors_allowed_origins=settings.cors_origin_list or "*",
    )
    sock.init_app(app)
