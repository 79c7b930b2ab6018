"""MQTT listener process: ``python -m workers.mqtt_listener``.

Builds the app, then runs ``MqttListener`` until SIGTERM or SIGINT: the batch in hand is
finished and acknowledged, connections closed and leases released. Run as many as you like;
each broker is owned by one of them at a time (openspc.services.leases).
"""

from __future__ import annotations

import signal

from openspc import create_app, get_settings
from openspc.connectors.mqtt.listener import MqttListener
from openspc.services.leases import new_holder_id


def main() -> None:
    app = create_app()
    listener = MqttListener(app, new_holder_id("mqtt"), get_settings(app).sparkplug_host_id)
    signal.signal(signal.SIGTERM, lambda *_: listener.stop())
    signal.signal(signal.SIGINT, lambda *_: listener.stop())
    listener.run()


if __name__ == "__main__":
    main()
