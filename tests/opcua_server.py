"""A real OPC-UA server (asyncua) for the tests: in a thread, or as its own process.

Address space (namespace ``urn:openspc:test``, string node ids that survive a restart)::

    Objects/Plant (folder)
      Line1 (object): Temperature (Double 20.5), Count (Int32 7), Running (Boolean true),
                      Label (String "A"), Pressure (Float 1.5), Secret (Double, not readable),
                      Stream (Double, written every --stream-ms by the process mode)
      Many (folder): Item00..Item29 (Double)

Endpoints: None, Basic256Sha256 Sign and SignAndEncrypt (self-signed server certificate);
identity tokens anonymous and username/password (``USER``/``PASSWORD``; a wrong password is
refused).

Process mode: ``python -m tests.opcua_server --port P --cert-dir D [--stream-ms N]``; prints
``ready`` once listening. The stream writes 1, 2, 3... continuing after a restart from the
wall clock (``int(time.time() * 1000 / N)``), each with its source timestamp.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from asyncua import Server, ua
from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

NAMESPACE = "urn:openspc:test"
USER, PASSWORD = "spc-reader", "s3cret-pw"
SERVER_NAME = "OpenSPC Test Server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Users:
    def get_user(self, iserver, username=None, password=None, certificate=None):
        if username is None:
            return User(role=UserRole.User)
        if username == USER and password == PASSWORD:
            return User(role=UserRole.User, name=username)
        return None


def node_id(name: str, ns: int = 2) -> str:
    return f"ns={ns};s={name}"


async def build(port: int, cert_dir: Path) -> tuple[Server, int]:
    server = Server(user_manager=_Users())
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/openspc/")
    server.set_server_name(SERVER_NAME)
    cert_dir.mkdir(parents=True, exist_ok=True)
    key_file, cert_file = cert_dir / "server_key.pem", cert_dir / "server_cert.der"
    await cert_gen.setup_self_signed_certificate(
        key_file, cert_file, "urn:openspc:test-server", socket.gethostname(),
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], {})
    await server.load_certificate(str(cert_file))
    await server.load_private_key(str(key_file))
    server.set_security_policy([
        ua.SecurityPolicyType.NoSecurity,
        ua.SecurityPolicyType.Basic256Sha256_Sign,
        ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
    ])
    server.set_identity_tokens([ua.AnonymousIdentityToken, ua.UserNameIdentityToken])
    ns = await server.register_namespace(NAMESPACE)
    objects = server.nodes.objects
    plant = await objects.add_folder(ua.NodeId("Plant", ns), ua.QualifiedName("Plant", ns))
    line = await plant.add_object(ua.NodeId("Line1", ns), ua.QualifiedName("Line1", ns))
    variables = {
        "Temperature": ua.Variant(20.5, ua.VariantType.Double),
        "Count": ua.Variant(7, ua.VariantType.Int32),
        "Running": ua.Variant(True, ua.VariantType.Boolean),
        "Label": ua.Variant("A", ua.VariantType.String),
        "Pressure": ua.Variant(1.5, ua.VariantType.Float),
        "Secret": ua.Variant(0.0, ua.VariantType.Double),
        "Stream": ua.Variant(0.0, ua.VariantType.Double),
    }
    for name, value in variables.items():
        var = await line.add_variable(ua.NodeId(f"Line1.{name}", ns),
                                      ua.QualifiedName(name, ns), value)
        await var.set_writable()
        if name == "Secret":
            await var.write_attribute(ua.AttributeIds.AccessLevel, ua.DataValue(
                ua.Variant(ua.AccessLevel.CurrentWrite.mask, ua.VariantType.Byte)))
    many = await plant.add_folder(ua.NodeId("Many", ns), ua.QualifiedName("Many", ns))
    for index in range(30):
        await many.add_variable(ua.NodeId(f"Many.Item{index:02d}", ns),
                                ua.QualifiedName(f"Item{index:02d}", ns), float(index))
    return server, ns


async def write(server: Server, name: str, value: object,
                status: ua.StatusCode | None = None, source: datetime | None = None,
                kind: ua.VariantType = ua.VariantType.Double) -> None:
    """Set a variable from inside the server, with its quality and source timestamp."""
    data = ua.DataValue(ua.Variant(value, kind),
                        StatusCode=status or ua.StatusCode(ua.StatusCodes.Good),
                        SourceTimestamp=source or datetime.now(UTC),
                        ServerTimestamp=datetime.now(UTC))
    await server.write_attribute_value(ua.NodeId(name, 2), data)


class ServerThread:
    """The server on its own event loop in a daemon thread, for tests in this process."""

    def __init__(self, cert_dir: Path, port: int | None = None):
        self.port = port or free_port()
        self.cert_dir = cert_dir
        self.url = f"opc.tcp://127.0.0.1:{self.port}/openspc/"
        self.loop = asyncio.new_event_loop()
        self.server: Server | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> ServerThread:
        self._thread.start()
        self.server = self.call(self._start())
        return self

    async def _start(self) -> Server:
        server, _ = await build(self.port, self.cert_dir)
        await server.start()
        return server

    def call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def write(self, name: str, value: object, status: ua.StatusCode | None = None,
              source: datetime | None = None,
              kind: ua.VariantType = ua.VariantType.Double) -> None:
        self.call(write(self.server, name, value, status, source, kind))

    def stop(self) -> None:
        if self.server is not None:
            self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@contextlib.contextmanager
def running_server(cert_dir: Path) -> Iterator[ServerThread]:
    server = ServerThread(cert_dir).start()
    try:
        yield server
    finally:
        server.stop()


def monitored_items(server: Server) -> list[list]:
    """``[node id, queue size, data-change trigger]`` of every monitored item the server
    holds. asyncua's server keeps no sampling interval (it reports every write), so the queue
    size a client derived from it is what shows which interval the client asked for."""
    items = []
    for subscription in server.iserver.subscription_service.subscriptions.values():
        for item in subscription.monitored_item_srv._monitored_items.values():
            trigger = getattr(item.filter, "Trigger", None)
            items.append([item.read_value_id.NodeId.to_string(), item.queue_size,
                          trigger.name if trigger is not None else None])
    return sorted(items)


async def _publish_diagnostics(server: Server, ns: int) -> None:
    """Process mode: the monitored items, as JSON in ``Diagnostics.MonitoredItems``."""
    node = await server.nodes.objects.add_variable(
        ua.NodeId("Diagnostics.MonitoredItems", ns), ua.QualifiedName("MonitoredItems", ns), "[]")
    while True:
        await node.write_value(json.dumps(monitored_items(server)))
        await asyncio.sleep(0.2)


async def _serve(port: int, cert_dir: Path, stream_ms: int) -> None:
    server, ns = await build(port, cert_dir)
    async with server:
        asyncio.get_running_loop().create_task(_publish_diagnostics(server, ns))
        print("ready", flush=True)
        if not stream_ms:
            await asyncio.Event().wait()
        period = stream_ms / 1000
        counter = int(time.time() / period)
        while True:
            counter += 1
            await write(server, "Line1.Stream", float(counter))
            await asyncio.sleep(period)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-dir", type=Path, required=True)
    parser.add_argument("--stream-ms", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.cert_dir, args.stream_ms))


if __name__ == "__main__":
    main()
