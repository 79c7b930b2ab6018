"""The OPC-UA listener: the servers it owns, their sessions, and their values into samples.

One process (``python -m workers.opcua_listener``) or several: each server is owned by one
listener at a time through a lease (``services.leases``), so N listeners share the servers
without a duplicate subscription and a killed one is replaced within the lease's life.

Two threads. The network thread runs the asyncua sessions (``connectors.opcua.session``) and
only appends each notification to a queue, so a slow database never stalls the socket. The
main thread does everything that touches the database, on a short tick: it reloads the
configuration when its generation moves (REST changes reach it within about a second),
renews leases, drains the queue into subgroups and samples through the one ingest service
(``services.subgroups``), emits timed-out partial subgroups, and reports each owned server's
status (connected, last data, monitored items, values per second, refusals by reason,
reconnects) for ``GET /opcua-servers/all/status``.

A value is refused, counted and logged with its node when its quality is not Good, when it
is not a number or boolean, when no mapping takes it, or when its source time is not newer
than the last one taken for its characteristic: a re-created subscription sends each node's
current value again, which must not become a second sample.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from asyncua import ua
from flask import Flask

from openspc.connectors.opcua.client import ServerSettings
from openspc.connectors.opcua.session import MonitoredNode, ServerSession, SessionState
from openspc.connectors.opcua.values import decode
from openspc.extensions import db
from openspc.models import Characteristic, OpcuaDataSource, OpcuaServer, Sample, SubgroupBuffer
from openspc.models.types import utcnow
from openspc.services import subgroups
from openspc.services.connection_status import report_status
from openspc.services.leases import (
    DEFAULT_TTL,
    claim_connections,
    new_holder_id,
    release_connections,
)
from openspc.services.listener_config import config_generation
from openspc.services.opcua_servers import KIND, server_settings
from openspc.services.subgroups import Target, Value

log = structlog.get_logger(__name__)

TICK_SECONDS = 0.05
CONFIG_POLL_SECONDS = 1.0
CLAIM_SECONDS = DEFAULT_TTL / 3
PLAN_RELOAD_SECONDS = 30.0
"""The plan is also reloaded this often: deleting a characteristic removes its mapping
without a configuration change."""
STATUS_SECONDS = 2.0
PARTIAL_CHECK_SECONDS = 5.0
MAX_BATCH = 5000
INGEST_SECONDS = 0.5
"""Values are stored at least this often: a batch per tick would evaluate each
characteristic once per handful of values."""
RETRY_SECONDS = 1.0
UNMAPPED, DUPLICATE = "unmapped", "duplicate"


@dataclass(frozen=True)
class ServerPlan:
    settings: ServerSettings
    nodes: frozenset[MonitoredNode]
    routes: dict[str, tuple[Target, ...]]


@dataclass
class ServerCounters:
    values: int = 0
    samples: int = 0
    refused: Counter = field(default_factory=Counter)
    last_data_at: datetime | None = None
    last_connected: datetime | None = None
    connected: bool = False
    rate_mark: tuple[float, int] = (0.0, 0)
    values_per_second: float = 0.0

    def as_dict(self, state: SessionState) -> dict[str, Any]:
        return {"values": self.values, "samples": self.samples,
                "refused": sum(self.refused.values()),
                **{f"refused_{reason}": n for reason, n in sorted(self.refused.items())},
                "values_per_second": round(self.values_per_second, 1),
                "reconnects": state.reconnects, "monitored_items": len(state.monitored),
                "failed_nodes": len(state.failed_nodes)}


def load_plan() -> dict[int, ServerPlan]:
    """Active servers with their active mappings; ends the read transaction."""
    try:
        servers = db.session.execute(
            sa.select(OpcuaServer).where(OpcuaServer.is_active.is_(True))).scalars().all()
        rows = db.session.execute(
            sa.select(OpcuaDataSource, Characteristic.subgroup_size)
            .join(Characteristic, Characteristic.id == OpcuaDataSource.characteristic_id)
            .where(OpcuaDataSource.is_active.is_(True))
        ).all()
        plans = {}
        for server in servers:
            nodes, routes = set(), {}
            for source, size in rows:
                if source.server_id != server.id:
                    continue
                nodes.add(MonitoredNode(
                    source.node_id, source.sampling_interval or server.sampling_interval,
                    source.publishing_interval or server.publishing_interval))
                routes.setdefault(source.node_id, []).append(
                    Target(source.characteristic_id, size or 1, source.trigger_strategy))
            plans[server.id] = ServerPlan(server_settings(server), frozenset(nodes),
                                          {k: tuple(v) for k, v in routes.items()})
        return plans
    finally:
        db.session.rollback()


def newest_times(characteristic_ids: list[int]) -> dict[int, datetime]:
    """The newest sample or buffered value of each characteristic: values not newer than
    this were taken already."""
    if not characteristic_ids:
        return {}
    try:
        newest = dict(db.session.execute(
            sa.select(Sample.char_id, sa.func.max(Sample.timestamp))
            .where(Sample.char_id.in_(characteristic_ids)).group_by(Sample.char_id)).all())
        for row in db.session.execute(sa.select(SubgroupBuffer).where(
                SubgroupBuffer.characteristic_id.in_(characteristic_ids))).scalars():
            if row.values:
                moment = datetime.fromisoformat(row.values[-1][1])
                current = newest.get(row.characteristic_id)
                newest[row.characteristic_id] = max(current, moment) if current else moment
        return {k: v for k, v in newest.items() if v is not None}
    finally:
        db.session.rollback()


class OpcuaListener:
    def __init__(self, app: Flask, holder: str | None = None):
        self.app = app
        self.holder = holder or new_holder_id("opcua")
        self.data_dir = app.extensions["openspc_settings"].data_dir
        self.readings: deque[tuple[int, str, ua.DataValue]] = deque()
        self.plan: dict[int, ServerPlan] = {}
        self.owned: set[int] = set()
        self.sessions: dict[int, tuple[ServerPlan, ServerSession]] = {}
        self.counters: dict[int, ServerCounters] = {}
        self.newest: dict[int, datetime] = {}
        self.generation: int | None = None
        self._due: dict[str, float] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="opcua-network",
                                        daemon=True)

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set, then close the sessions, store what they delivered,
        report and release (the SIGTERM path)."""
        self._thread.start()
        log.info("opcua_listener_started", holder=self.holder)
        with self.app.app_context():
            try:
                while not stop.is_set():
                    try:
                        self.tick()
                    except Exception:  # noqa: BLE001 - a database outage must not end the loop
                        log.exception("opcua_listener_tick_failed")
                        db.session.rollback()
                        stop.wait(RETRY_SECONDS)
                    stop.wait(TICK_SECONDS)
            finally:
                self.shutdown()

    def _due_now(self, name: str, every: float) -> bool:
        now = time.monotonic()
        if now < self._due.get(name, 0.0):
            return False
        self._due[name] = now + every
        return True

    def tick(self) -> None:
        if self._due_now("config", CONFIG_POLL_SECONDS):
            generation = config_generation(KIND)
            if generation != self.generation or self._due_now("reload", PLAN_RELOAD_SECONDS):
                self.plan = load_plan()
                self.generation = generation
                self._due.pop("claim", None)
        if self._due_now("claim", CLAIM_SECONDS):
            self._claim()
        if len(self.readings) >= MAX_BATCH or self._due_now("ingest", INGEST_SECONDS):
            self.ingest()
        if self._due_now("partial", PARTIAL_CHECK_SECONDS):
            self._flush_partial()
        if self._due_now("status", STATUS_SECONDS):
            self.report()

    def _claim(self) -> None:
        owned = claim_connections(KIND, self.plan, self.holder)
        released = self.owned - owned
        if released - set(self.plan):
            release_connections(KIND, self.holder, released - set(self.plan))
        self.owned = owned
        for server_id in list(self.sessions):
            if server_id not in owned:
                self._stop_session(server_id, "Disconnected" if server_id not in self.plan
                                   else None)
        targets = [t.characteristic_id for sid in owned for ts in self.plan[sid].routes.values()
                   for t in ts]
        fresh = [cid for cid in targets if cid not in self.newest]
        self.newest.update(newest_times(fresh))
        for server_id in owned:
            self._start_or_update(server_id, self.plan[server_id])

    def _start_or_update(self, server_id: int, plan: ServerPlan) -> None:
        current = self.sessions.get(server_id)
        if current is not None and current[0].settings != plan.settings:
            self._stop_session(server_id, None)
            current = None
        if current is None:
            session = ServerSession(plan.settings, self.data_dir,
                                    lambda node, value, sid=server_id:
                                    self.readings.append((sid, node, value)))
            self.sessions[server_id] = (plan, session)
            self.counters.setdefault(server_id, ServerCounters())
            self._call(self._start(session, plan.nodes))
        elif current[0].nodes != plan.nodes:
            self._call(current[1].set_nodes(plan.nodes))
        self.sessions[server_id] = (plan, self.sessions[server_id][1])

    @staticmethod
    async def _start(session: ServerSession, nodes: frozenset[MonitoredNode]) -> None:
        session.start(nodes)

    def _call(self, coroutine, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _stop_session(self, server_id: int, status: str | None) -> None:
        """Close a session; ``status`` is reported when this listener still speaks for the
        server (it was deactivated or deleted), None when another listener owns it now."""
        _, session = self.sessions.pop(server_id)
        try:
            self._call(session.close())
        except Exception:  # noqa: BLE001 - closing anyway
            log.warning("opcua_session_close_failed", server_id=server_id)
        if status is not None and server_id in self.owned:
            report_status(KIND, server_id, self.holder, is_connected=False,
                          error_message=status, subscribed=[])

    def ingest(self) -> int:
        """Store up to ``MAX_BATCH`` queued values; a database error puts them back."""
        batch = []
        while self.readings and len(batch) < MAX_BATCH:
            batch.append(self.readings.popleft())
        if not batch:
            return 0
        by_server: dict[int, list[tuple[Target, Value]]] = {}
        newest_before = dict(self.newest)
        for server_id, node_id, data in batch:
            taken = self._route(server_id, node_id, data)
            by_server.setdefault(server_id, []).extend(taken)
        try:
            for server_id, pairs in by_server.items():
                outcome = subgroups.assemble(KIND, pairs)
                counters = self.counters.setdefault(server_id, ServerCounters())
                counters.samples += outcome.samples
                if outcome.refused:
                    counters.refused["ingest"] += outcome.refused
        except Exception:
            self.readings.extendleft(reversed(batch))
            self.newest = newest_before
            for server_id, _, _ in batch:
                self.counters[server_id].values -= 1
            raise
        return len(batch)

    def _route(self, server_id: int, node_id: str,
               data: ua.DataValue) -> list[tuple[Target, Value]]:
        counters = self.counters.setdefault(server_id, ServerCounters())
        counters.values += 1
        counters.last_data_at = utcnow()
        plan = self.plan.get(server_id)
        routes = plan.routes.get(node_id) if plan else None
        if not routes:
            return self._refuse(counters, server_id, node_id, UNMAPPED)
        decoded = decode(data)
        if decoded.refused is not None:
            return self._refuse(counters, server_id, node_id, decoded.refused, decoded.status)
        moment = decoded.timestamp or counters.last_data_at
        taken = []
        for target in routes:
            newest = self.newest.get(target.characteristic_id)
            if newest is not None and moment <= newest:
                self._refuse(counters, server_id, node_id, DUPLICATE)
                continue
            self.newest[target.characteristic_id] = moment
            taken.append((target, Value(decoded.value, moment)))
        return taken

    @staticmethod
    def _refuse(counters: ServerCounters, server_id: int, node_id: str, reason: str,
                status: str | None = None) -> list:
        counters.refused[reason] += 1
        log.info("opcua_value_refused", server_id=server_id, node_id=node_id, reason=reason,
                 status=status)
        return []

    def _flush_partial(self) -> None:
        targets = {t for sid in self.owned for ts in self.plan[sid].routes.values() for t in ts}
        outcome = subgroups.flush_partial(KIND, targets)
        if outcome.samples or outcome.refused:
            log.info("opcua_partial_subgroups", samples=outcome.samples, refused=outcome.refused)

    def report(self) -> None:
        now = time.monotonic()
        for server_id, (_, session) in self.sessions.items():
            counters = self.counters[server_id]
            state = session.state
            mark_time, mark_values = counters.rate_mark
            if mark_time:
                counters.values_per_second = (counters.values - mark_values) / (now - mark_time)
            counters.rate_mark = (now, counters.values)
            if state.connected and not counters.connected:
                counters.last_connected = utcnow()
            counters.connected = state.connected
            report_status(KIND, server_id, self.holder, is_connected=state.connected,
                          error_message=state.error, subscribed=list(state.monitored),
                          last_message_at=counters.last_data_at,
                          last_connected=counters.last_connected,
                          counters=counters.as_dict(state))

    def shutdown(self) -> None:
        for server_id in list(self.sessions):
            self._stop_session(server_id, None)
        try:
            while self.readings:
                self.ingest()
            for server_id in self.owned:
                report_status(KIND, server_id, self.holder, is_connected=False,
                              error_message="Listener stopped", subscribed=[])
            release_connections(KIND, self.holder)
        except Exception:  # noqa: BLE001 - the leases expire by themselves
            log.exception("opcua_listener_shutdown_failed")
            db.session.rollback()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        log.info("opcua_listener_stopped", holder=self.holder)


def start_embedded(app: Flask) -> threading.Event:
    """Run the listener in a daemon thread of this process (``openspc serve`` in the
    embedded mode); it stops, stores what it received and releases its servers at exit."""
    stop = threading.Event()
    thread = threading.Thread(target=OpcuaListener(app).run, args=(stop,),
                              name="opcua-listener", daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(10)

    atexit.register(finish)
    return stop
