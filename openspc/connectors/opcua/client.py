"""An asyncua client built from a server's stored settings, with nothing of the database.

Every setting the reference stored and ignored is applied here (integration.md §7.1, G-11):
security policy and mode with a client certificate generated once and kept in
``OPENSPC_DATA_DIR/opcua/``, username and password, and the session timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from asyncua import Client, ua
from asyncua.crypto import security_policies

CONNECT_TIMEOUT_SECONDS = 10.0
WATCHDOG_SECONDS = 5.0
"""Keep-alive probe period and timeout (the reference's watchdog interval). asyncua's 1 s
made a busy server look dead: under load the probe's read took longer, and each false loss
re-created the subscriptions and dropped what they held."""
APPLICATION_URI = "urn:openspc:opcua-client"
SERVER_NODE = ua.NodeId(ua.ObjectIds.Server)

T = TypeVar("T")


@dataclass(frozen=True)
class ServerSettings:
    """What a session needs to reach one server; credentials already decrypted."""

    server_id: int
    name: str
    endpoint_url: str
    auth_mode: str = "anonymous"
    username: str | None = None
    password: str | None = None
    security_policy: str = "None"
    security_mode: str = "None"
    session_timeout: int = 30000
    publishing_interval: int = 1000
    sampling_interval: int = 250


def certificate_paths(data_dir: str | Path) -> tuple[Path, Path]:
    """The client's certificate (DER) and private key (PEM), generated on first use."""
    folder = Path(data_dir) / "opcua"
    return folder / "client_cert.der", folder / "client_key.pem"


async def build_client(settings: ServerSettings, data_dir: str | Path,
                       timeout: float = CONNECT_TIMEOUT_SECONDS, *,
                       auto_reconnect: bool = False) -> Client:
    """A configured, not yet connected client."""
    client = Client(settings.endpoint_url, timeout=timeout, auto_reconnect=auto_reconnect,
                    watchdog_intervall=WATCHDOG_SECONDS)
    client.application_uri = APPLICATION_URI
    client.name = client.description = "OpenSPC"
    client.session_timeout = settings.session_timeout
    if settings.auth_mode == "username_password":
        client.set_user(settings.username or "")
        client.set_password(settings.password or "")
    if settings.security_policy != "None" and settings.security_mode != "None":
        cert_file, key_file = certificate_paths(data_dir)
        await client.setup_self_signed_certificate(key_file, cert_file)
        await client.set_security(
            getattr(security_policies, f"SecurityPolicy{settings.security_policy}"),
            str(cert_file), str(key_file),
            mode=getattr(ua.MessageSecurityMode, settings.security_mode),
        )
    return client


async def with_session(settings: ServerSettings, data_dir: str | Path, timeout: float,
                       work: Callable[[Client], Awaitable[T]]) -> T:
    """Connect, run ``work``, disconnect; the whole of it bounded by ``timeout`` seconds
    for the connection and by the client's request timeout for each request."""
    client = await build_client(settings, data_dir, timeout)
    await asyncio.wait_for(client.connect(), timeout)
    try:
        return await work(client)
    finally:
        with contextlib.suppress(Exception):  # a failed goodbye must not hide the result
            await client.disconnect()


async def read_server_name(client: Client) -> str:
    """The DisplayName of the server's Server object, as ``test`` reports it."""
    name = await client.get_node(SERVER_NODE).read_display_name()
    return name.Text or ""


@dataclass(frozen=True)
class TestOutcome:
    success: bool
    message: str
    latency_ms: float | None = None
    server_name: str | None = None


def test_connection(settings: ServerSettings, data_dir: str | Path,
                    timeout: float) -> TestOutcome:
    """Connect, read the server's DisplayName, disconnect (``POST /opcua-servers/test``).
    A failure is an outcome, never an exception, as brokers/test reports it."""
    started = time.perf_counter()
    try:
        name = asyncio.run(with_session(settings, data_dir, timeout, read_server_name))
    except TimeoutError:
        return TestOutcome(False, f"Connection timeout connecting to {settings.endpoint_url}")
    except Exception as error:  # noqa: BLE001 - every failure is reported to the caller
        return TestOutcome(False, f"Connection failed: {describe(error)}")
    latency = round((time.perf_counter() - started) * 1000, 2)
    return TestOutcome(True, f"Successfully connected to {settings.endpoint_url}", latency, name)


def describe(error: BaseException) -> str:
    """A one-line text of an error for a response or a status (never a traceback)."""
    text = str(error).strip()
    return text or type(error).__name__
