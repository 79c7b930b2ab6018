"""One subscribing session to one OPC-UA server: knows nodes and values, not the database.

The session connects (retrying with backoff: 1 s doubling to 30 s, as the reference's
startup loop), then leaves an established session to asyncua's supervisor
(``auto_reconnect``): it probes the server every second, reconnects with backoff, re-activates
the session or creates a new one, and restores each subscription by transfer plus Republish
of the notifications the server still holds, or by re-creating it with every monitored item's
own sampling interval and queue size. The reference had no reconnect at all (G-10).

Monitored items are grouped into one subscription per publishing interval; each item asks
for a queue large enough to hold every sample taken between two publishes, so a 10 ms node
published every second loses nothing.

Values are handed to ``on_value(node_id, data_value)`` in arrival order, on the event loop;
the callback must not block (the listener queues them for its writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from asyncua import Client, Node, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import DataChangeNotif, Subscription

from openspc.connectors.opcua.client import ServerSettings, build_client, describe

log = structlog.get_logger(__name__)

RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
MAX_QUEUE_SIZE = 1000
STATE_POLL_SECONDS = 0.25


@dataclass(frozen=True, order=True)
class MonitoredNode:
    node_id: str
    sampling_interval: int
    publishing_interval: int

    def queue_size(self) -> int:
        """Ten times the samples taken between two publishes: a busy server publishes late
        (measured: with 2 x, 7 % of a 10 ms stream was dropped under load)."""
        per_publish = math.ceil(self.publishing_interval / max(self.sampling_interval, 1))
        return min(MAX_QUEUE_SIZE, max(10, per_publish * 10))


@dataclass
class SessionState:
    """What the listener reports for this server."""

    connected: bool = False
    error: str | None = "Connecting"
    reconnects: int = 0
    monitored: list[str] = field(default_factory=list)
    failed_nodes: dict[str, str] = field(default_factory=dict)


class _Handler:
    def __init__(self, on_value: Callable[[str, ua.DataValue], None]):
        self.on_value = on_value

    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        self.on_value(node.nodeid.to_string(), data.monitored_item.Value)

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        log.warning("opcua_subscription_status", status=str(status.Status))


class ServerSession:
    def __init__(self, settings: ServerSettings, data_dir: str | Path,
                 on_value: Callable[[str, ua.DataValue], None],
                 on_change: Callable[[SessionState], None] = lambda state: None):
        self.settings = settings
        self.data_dir = data_dir
        self.state = SessionState()
        self._on_change = on_change
        self._handler = _Handler(on_value)
        self._client: Client | None = None
        self._subscriptions: dict[int, Subscription] = {}
        self._handles: dict[MonitoredNode, tuple[int, int]] = {}  # node -> (period, handle)
        self._wanted: set[MonitoredNode] = set()
        self._lock = asyncio.Lock()
        self._next_handle = 10_000
        self._task: asyncio.Task | None = None

    def start(self, nodes: Iterable[MonitoredNode]) -> None:
        self._wanted = set(nodes)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self._connect()
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure is retried and reported
                self._set(connected=False, error=f"Connection failed: {describe(error)}")
                log.warning("opcua_connect_failed", server_id=self.settings.server_id,
                            error=describe(error), retry_in=delay)
                await self._drop_client()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
        await self._watch()

    async def _connect(self) -> None:
        client = await build_client(self.settings, self.data_dir, auto_reconnect=True)
        client.connection_lost_callback = self._lost
        self._client = client
        await asyncio.wait_for(client.connect(reconnect_max_delay=RETRY_MAX_SECONDS), 15)
        self._subscriptions.clear()
        self._handles.clear()
        self.state.failed_nodes.clear()
        await self.set_nodes(self._wanted)
        self._set(connected=True, error=None)
        log.info("opcua_connected", server_id=self.settings.server_id,
                 monitored=len(self._handles))

    async def _lost(self, error: Exception) -> None:
        self.state.reconnects += 1
        self._set(connected=False, error=f"Connection lost: {describe(error)}; reconnecting")
        log.warning("opcua_connection_lost", server_id=self.settings.server_id,
                    error=describe(error))

    async def _watch(self) -> None:
        """Report the supervisor's reconnects: it says when a session is lost, not when it
        is back."""
        while True:
            await asyncio.sleep(STATE_POLL_SECONDS)
            client = self._client
            connected = client is not None and client.uaclient.state is UaClientState.CONNECTED
            if connected and not self.state.connected:
                log.info("opcua_reconnected", server_id=self.settings.server_id)
                self._set(connected=True, error=None)

    def _set(self, *, connected: bool, error: str | None) -> None:
        self.state.connected, self.state.error = connected, error
        self.state.monitored = sorted({node.node_id for node in self._handles})
        self._on_change(self.state)

    async def set_nodes(self, nodes: Iterable[MonitoredNode]) -> None:
        """Subscribe what is new, unsubscribe what is gone (a changed interval is both)."""
        async with self._lock:
            self._wanted = set(nodes)
            if self._client is None or self._client.uaclient.state is not UaClientState.CONNECTED:
                return
            for node in [n for n in self._handles if n not in self._wanted]:
                await self._unsubscribe(node)
            added = sorted(n for n in self._wanted if n not in self._handles)
            for period in sorted({n.publishing_interval for n in added}):
                await self._subscribe(period, [n for n in added if n.publishing_interval == period])
            self._set(connected=True, error=None)

    async def _subscribe(self, period: int, nodes: list[MonitoredNode]) -> None:
        """One CreateMonitoredItems for the nodes of one publishing interval. Every write
        is reported (trigger StatusValueTimestamp): a measurement repeating the previous
        value is still a measurement."""
        subscription = self._subscriptions.get(period)
        if subscription is None:
            subscription = await self._client.create_subscription(period, self._handler)
            self._subscriptions[period] = subscription
        requests = []
        for node in nodes:
            self._next_handle += 1
            requests.append(ua.MonitoredItemCreateRequest(
                ItemToMonitor=ua.ReadValueId(NodeId=ua.NodeId.from_string(node.node_id),
                                             AttributeId=ua.AttributeIds.Value),
                MonitoringMode=ua.MonitoringMode.Reporting,
                RequestedParameters=ua.MonitoringParameters(
                    ClientHandle=self._next_handle,
                    SamplingInterval=float(node.sampling_interval),
                    QueueSize=node.queue_size(), DiscardOldest=True,
                    Filter=ua.DataChangeFilter(
                        Trigger=ua.DataChangeTrigger.StatusValueTimestamp)),
            ))
        results = await subscription.create_monitored_items(requests)
        for node, request, result in zip(nodes, requests, results, strict=True):
            if isinstance(result, ua.StatusCode):
                self.state.failed_nodes[node.node_id] = result.name
                log.warning("opcua_subscribe_failed", server_id=self.settings.server_id,
                            node_id=node.node_id, status=result.name)
                continue
            self.state.failed_nodes.pop(node.node_id, None)
            self._handles[node] = (period, request.RequestedParameters.ClientHandle)

    async def _unsubscribe(self, node: MonitoredNode) -> None:
        """Delete one monitored item. asyncua keeps the client handle across a re-created
        subscription but not the server's id, so the current id is looked up by it."""
        period, client_handle = self._handles.pop(node)
        subscription = self._subscriptions[period]
        item = subscription._monitored_items.get(client_handle)  # noqa: SLF001
        if item is None or item.server_handle is None:
            return
        try:
            await subscription.unsubscribe(item.server_handle)
        except Exception as error:  # noqa: BLE001 - a node already gone is gone
            log.info("opcua_unsubscribe_failed", server_id=self.settings.server_id,
                     node_id=node.node_id, error=describe(error))

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.disconnect(), 5)
            except Exception:  # noqa: BLE001 - the client is being thrown away
                log.debug("opcua_disconnect_failed", server_id=self.settings.server_id)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._drop_client()
        self._set(connected=False, error="Disconnected")
