"""Headless Chromium driven over the DevTools protocol, on a network that ends at loopback.

The browser is Debian's ``chromium`` package (``apt-get install -y chromium``; ``.ci/run``
installs it when missing), or the binary named by ``OPENSPC_TEST_CHROMIUM``. It is started with
every non-loopback request sent to a proxy that refuses them all (``RefusingProxy``), so a page
that needs another host fails here as it would on a plant network without internet; the page's
own requests are recorded through the protocol's Network events to name what it tried to reach.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import websocket

from tests.integration.processes import stop_process


def chromium_binary() -> str | None:
    configured = os.environ.get("OPENSPC_TEST_CHROMIUM")
    if configured:
        return configured if shutil.which(configured) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


class RefusingProxy:
    """An HTTP proxy on loopback that answers every request, CONNECT included, with 403 and
    remembers the first line of each."""

    def __init__(self):
        self.requests: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                connection.settimeout(5)
                with contextlib.suppress(OSError):
                    first_line = connection.recv(4096).split(b"\r\n", 1)[0]
                    self.requests.append(first_line.decode("latin-1"))
                    connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
                                       b"Connection: close\r\n\r\n")

    def close(self) -> None:
        self._server.close()


@dataclass
class Page:
    """One tab: commands go out, events are kept for the assertions."""

    connection: websocket.WebSocket
    events: list[dict[str, Any]] = field(default_factory=list)
    _next_id: int = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        self.connection.send(json.dumps({"id": self._next_id, "method": method,
                                         "params": params}))
        while True:
            message = json.loads(self.connection.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A person's click: the mouse pressed and released over the element's centre."""
        x, y = self.evaluate(f"""(() => {{
            const element = document.querySelector({json.dumps(selector)});
            element.scrollIntoView({{block: "center"}});
            const box = element.getBoundingClientRect();
            return [box.x + box.width / 2, box.y + box.height / 2];
        }})()""")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)

    def wait_for(self, expression: str, timeout: float) -> Any:
        """The first truthy value of ``expression``, polled; None when the time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        return None

    def requests(self) -> dict[str, str | None]:
        """Each URL the page asked for, with the reason the browser refused it
        (``Network.loadingFailed``'s ``blockedReason``, e.g. ``csp``), or None."""
        urls, blocked = {}, {}
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Network.requestWillBeSent":
                urls[params["requestId"]] = params["request"]["url"]
            elif event.get("method") == "Network.loadingFailed":
                blocked[params["requestId"]] = params.get("blockedReason")
        return {url: blocked.get(request_id) for request_id, url in urls.items()}

    def problems(self) -> list[str]:
        """Uncaught exceptions and the console's errors (CSP refusals among them)."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details["text"])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
            elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(" ".join(str(arg.get("value", arg.get("description")))
                                      for arg in params["args"]))
        return found


@dataclass
class Browser:
    devtools: str          # http://127.0.0.1:PORT of the DevTools endpoint
    proxy: RefusingProxy

    @contextlib.contextmanager
    def page(self, url: str) -> Iterator[Page]:
        """A new tab that records its events from before ``url`` starts loading."""
        target = requests.put(f"{self.devtools}/json/new?about:blank", timeout=10).json()
        connection = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30,
                                                 suppress_origin=True)
        page = Page(connection)
        try:
            for domain in ("Network", "Runtime", "Log", "Page"):
                page.call(f"{domain}.enable")
            page.call("Page.navigate", url=url)
            yield page
        finally:
            connection.close()
            requests.get(f"{self.devtools}/json/close/{target['id']}", timeout=10)


@contextlib.contextmanager
def chromium(binary: str, profile: Path, host: str) -> Iterator[Browser]:
    """The browser, resolving the name ``host`` to 127.0.0.1 and reaching it directly: the
    service is addressed by a name as on a plant network, not as localhost (which some pages
    treat differently); every other host goes to the refusing proxy."""
    proxy = RefusingProxy()
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions",
        f"--user-data-dir={profile}", "--remote-debugging-port=0",
        f"--proxy-server=http://127.0.0.1:{proxy.port}", f"--proxy-bypass-list={host}",
        f"--host-resolver-rules=MAP {host} 127.0.0.1", "about:blank",
    ]
    log = profile.parent / "chromium.log"
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start:\n{log.read_text()}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        yield Browser(f"http://127.0.0.1:{port}", proxy)
    finally:
        stop_process(process, timeout=10)
        proxy.close()
