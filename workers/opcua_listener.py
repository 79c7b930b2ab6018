"""``python -m workers.opcua_listener``: subscribes to the mapped nodes of the OPC-UA servers
it owns and turns their values into samples (``openspc.services.opcua_listener``).

SIGTERM or SIGINT stops it cleanly: sessions closed, the values already received stored,
status reported, leases released so another listener takes the servers at once.
"""

from __future__ import annotations

import signal
import threading

from openspc import create_app
from openspc.services.opcua_listener import OpcuaListener


def main() -> None:
    app = create_app()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    OpcuaListener(app).run(stop)


if __name__ == "__main__":
    main()
