"""OPC-UA servers (api.md §14): configuration, live status, test, browse and read.

The web process holds no subscription: the listener that owns a server (``leases``) keeps
its session and reports its state (``connection_status``), which every process reads.
``connect`` and ``disconnect`` therefore set ``is_active``, which the owning listener picks up
within about a second (``listener_config``), instead of swapping a client object in this
process as the reference did (whose ``/connect`` dropped the provider's subscriptions, G-10).
``browse`` and ``browse/value`` open a short session of their own to an active server, so
they work in every process; a level is cached for 60 s as the reference did.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from asyncua import Client

from openspc.connectors.opcua import browse as ua_browse
from openspc.connectors.opcua.client import (
    CONNECT_TIMEOUT_SECONDS,
    ServerSettings,
    TestOutcome,
    describe,
    test_connection,
    with_session,
)
from openspc.credentials import credential_cipher
from openspc.errors import ApiError, BadRequest, Conflict
from openspc.extensions import db
from openspc.models import OpcuaServer
from openspc.models.types import utcnow
from openspc.services.connection_status import LiveStatus, forget_status, read_statuses
from openspc.services.listener_config import config_changed
from openspc.services.ownership import get_or_404
from openspc.services.transaction import flush_or_conflict, transactional

log = structlog.get_logger(__name__)

KIND = "opcua"
BROWSE_CACHE_SECONDS = 60.0
NOT_CONNECTED = "Not connected"
SERVER_NOT_CONNECTED = "Server is not connected"

T = TypeVar("T")


class BadGateway(ApiError):
    status = 502


def get_server(server_id: int) -> OpcuaServer:
    return get_or_404(OpcuaServer, server_id, "OPC-UA server")


def list_servers(*, active_only: bool = False, plant_id: int | None = None,
                 offset: int = 0, limit: int = 100) -> dict[str, Any]:
    query = sa.select(OpcuaServer)
    if active_only:
        query = query.where(OpcuaServer.is_active.is_(True))
    if plant_id is not None:
        query = query.where(OpcuaServer.plant_id == plant_id)
    total = db.session.execute(
        sa.select(sa.func.count()).select_from(query.subquery())).scalar_one()
    items = db.session.execute(
        query.order_by(OpcuaServer.id).offset(offset).limit(limit)).scalars().all()
    return {"items": [server_view(s) for s in items], "total": total, "offset": offset,
            "limit": limit}


def server_view(server: OpcuaServer) -> dict[str, Any]:
    """The server as responses show it: the username in plain text, never the password."""
    view = {column.key: getattr(server, column.key) for column in OpcuaServer.__table__.columns}
    view["username"] = credential_cipher().decrypt_optional(server.username)
    return view


def _check_name_free(name: str, server_id: int | None = None) -> None:
    """Names are unique across plants, as the reference checks (409)."""
    query = sa.select(OpcuaServer.id).where(OpcuaServer.name == name)
    if server_id is not None:
        query = query.where(OpcuaServer.id != server_id)
    if db.session.execute(query).first() is not None:
        raise Conflict(f"OPC-UA server with name '{name}' already exists")


def _apply_credentials(server: OpcuaServer, fields: dict[str, Any]) -> None:
    cipher = credential_cipher()
    if server.auth_mode == "anonymous":
        server.username = server.password = None
        return
    if "username" in fields:
        server.username = cipher.encrypt_optional(fields["username"])
    if "password" in fields:
        server.password = cipher.encrypt_optional(fields["password"])


@transactional
def create_server(fields: dict[str, Any]) -> dict[str, Any]:
    _check_name_free(fields["name"])
    plain = {k: v for k, v in fields.items() if k not in ("username", "password")}
    server = OpcuaServer(**plain)
    _apply_credentials(server, fields)
    db.session.add(server)
    flush_or_conflict(f"OPC-UA server with name '{fields['name']}' already exists")
    config_changed(KIND)
    return server_view(server)


@transactional
def update_server(server_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    server = get_server(server_id)
    if "name" in fields:
        _check_name_free(fields["name"], server_id)
    for name, value in fields.items():
        if name not in ("username", "password"):
            setattr(server, name, value)
    _apply_credentials(server, fields)
    flush_or_conflict(f"OPC-UA server with name '{server.name}' already exists")
    config_changed(KIND)
    return server_view(server)


@transactional
def delete_server(server_id: int) -> None:
    """Delete the server, its mappings (CASCADE) and its status; the owning listener drops
    the session at its next reload (the "disconnects first" of the reference)."""
    server = get_server(server_id)
    db.session.delete(server)
    forget_status(KIND, server_id)
    config_changed(KIND)


def server_settings(server: OpcuaServer) -> ServerSettings:
    cipher = credential_cipher()
    return ServerSettings(
        server_id=server.id, name=server.name, endpoint_url=server.endpoint_url,
        auth_mode=server.auth_mode, username=cipher.decrypt_optional(server.username),
        password=cipher.decrypt_optional(server.password),
        security_policy=server.security_policy, security_mode=server.security_mode,
        session_timeout=server.session_timeout, publishing_interval=server.publishing_interval,
        sampling_interval=server.sampling_interval,
    )


def _data_dir() -> str:
    from openspc import get_settings

    return get_settings().data_dir


def test_server(request: dict[str, Any]) -> TestOutcome:
    settings = ServerSettings(
        server_id=0, name="test", endpoint_url=request["endpoint_url"],
        auth_mode=request.get("auth_mode", "anonymous"), username=request.get("username"),
        password=request.get("password"),
    )
    return test_connection(settings, _data_dir(), request.get("timeout", 5.0))


def status_view(server: OpcuaServer, live: LiveStatus | None, missing: str) -> dict[str, Any]:
    """OPCUAServerConnectionStatus plus what the listener counts (our extension)."""
    view: dict[str, Any] = {
        "server_id": server.id, "server_name": server.name,
        "endpoint_url": server.endpoint_url, "is_connected": False, "last_connected": None,
        "error_message": missing, "monitored_nodes": [], "last_data_at": None, "counters": {},
    }
    if live is not None:
        view.update(is_connected=live.is_connected, last_connected=live.last_connected,
                    error_message=None if live.is_connected else live.error_message or missing,
                    monitored_nodes=live.subscribed, last_data_at=live.last_message_at,
                    counters=live.counters)
    if not server.is_active:
        view.update(is_connected=False, error_message="Disconnected", monitored_nodes=[])
    return view


def all_statuses(plant_id: int | None = None) -> dict[str, Any]:
    query = sa.select(OpcuaServer).order_by(OpcuaServer.id)
    if plant_id is not None:
        query = query.where(OpcuaServer.plant_id == plant_id)
    servers = db.session.execute(query).scalars().all()
    live = read_statuses(KIND, [s.id for s in servers])
    return {"states": [status_view(s, live.get(s.id), NOT_CONNECTED) for s in servers]}


def server_status(server_id: int) -> dict[str, Any]:
    server = get_server(server_id)
    return status_view(server, read_statuses(KIND, [server_id]).get(server_id),
                       SERVER_NOT_CONNECTED)


def connect_server(server_id: int) -> dict[str, Any]:
    """Activate the server for the listeners and report whether it can be reached now.

    The status says what a session opened from here found (``error_message`` only on
    failure), with the owning listener's monitored nodes when it has reported them."""
    server = _activate(server_id, True)
    outcome = test_connection(server_settings(server), _data_dir(), CONNECT_TIMEOUT_SECONDS)
    live = read_statuses(KIND, [server_id]).get(server_id)
    view = status_view(server, live, SERVER_NOT_CONNECTED)
    view.update(is_connected=outcome.success,
                error_message=None if outcome.success else outcome.message)
    if outcome.success and view["last_connected"] is None:
        view["last_connected"] = utcnow()
    return view


def disconnect_server(server_id: int) -> dict[str, Any]:
    """Deactivate the server: its listener closes the session within about a second."""
    return status_view(_activate(server_id, False), None, "Disconnected")


@transactional
def _activate(server_id: int, active: bool) -> OpcuaServer:
    server = get_server(server_id)
    if server.is_active != active:
        server.is_active = active
        config_changed(KIND)
    return server


@dataclass
class _Cached:
    expires: float
    nodes: list[ua_browse.BrowsedNode]


_browse_cache: dict[tuple[int, datetime, str], _Cached] = {}
_cache_lock = threading.Lock()


def _session(server: OpcuaServer, work: Callable[[Client], Awaitable[T]], failure: str) -> T:
    """Run ``work`` on a short session to an active server: 400 when it is deactivated or
    cannot be reached, 502 ``failure: {err}`` when the server refuses the request."""
    not_connected = f"OPC-UA server {server.id} is not connected"
    if not server.is_active:
        raise BadRequest(not_connected)
    connected = False

    async def run(client: Client) -> T:
        nonlocal connected
        connected = True
        return await work(client)

    try:
        return asyncio.run(with_session(server_settings(server), _data_dir(),
                                        CONNECT_TIMEOUT_SECONDS, run))
    except ua_browse.InvalidNodeId as error:
        raise BadRequest(str(error)) from None
    except Exception as error:  # noqa: BLE001 - reported to the caller with its text
        if not connected:
            log.info("opcua_session_failed", server_id=server.id, error=describe(error))
            raise BadRequest(not_connected) from None
        raise BadGateway(f"{failure}: {describe(error)}") from None


def browse(server_id: int, parent_node_id: str | None) -> list[ua_browse.BrowsedNode]:
    server = get_server(server_id)
    key = (server.id, server.updated_at, parent_node_id or "")
    now = time.monotonic()
    with _cache_lock:
        cached = _browse_cache.get(key)
        if cached is not None and cached.expires > now:
            return cached.nodes
    if parent_node_id:
        try:
            ua_browse.parse_node_id(parent_node_id)
        except ua_browse.InvalidNodeId as error:
            raise BadRequest(str(error)) from None
    nodes = _session(server, lambda client: ua_browse.browse_children(client, parent_node_id),
                     "Failed to browse OPC-UA server")
    with _cache_lock:
        for stale in [k for k, v in _browse_cache.items() if v.expires <= now]:
            del _browse_cache[stale]
        _browse_cache[key] = _Cached(now + BROWSE_CACHE_SECONDS, nodes)
    return nodes


def read_value(server_id: int, node_id: str) -> ua_browse.NodeValue:
    server = get_server(server_id)
    try:
        ua_browse.parse_node_id(node_id)
    except ua_browse.InvalidNodeId as error:
        raise BadRequest(str(error)) from None
    return _session(server, lambda client: ua_browse.read_value(client, node_id),
                    "Failed to read node value")
