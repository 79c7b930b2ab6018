"""Connection leases, live status and the configuration generation (openspc.services.leases,
connection_status, listener_config), on the test's SQLite file, across real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from openspc.extensions import db
from openspc.services.connection_status import LISTENER_GONE, read_statuses, report_status
from openspc.services.leases import claim_connections, lease_holders, release_connections
from openspc.services.listener_config import config_changed, config_generation


def test_a_claimed_connection_has_one_owner(app):
    assert claim_connections("mqtt", [1, 2], "A") == {1, 2}
    assert claim_connections("mqtt", [1, 2, 3], "B") == {3}
    assert claim_connections("mqtt", [1, 2], "A") == {1, 2}  # renewal
    assert claim_connections("opcua", [1], "B") == {1}  # kinds are separate
    assert lease_holders("mqtt") == {1: "A", 2: "A", 3: "B"}


def test_an_expired_lease_is_taken_over(app):
    assert claim_connections("mqtt", [1], "A", ttl=0.2) == {1}
    assert claim_connections("mqtt", [1], "B") == set()
    time.sleep(0.3)
    assert lease_holders("mqtt") == {}
    assert claim_connections("mqtt", [1], "B") == {1}
    assert claim_connections("mqtt", [1], "A") == set()


def test_a_released_lease_is_free_at_once(app):
    claim_connections("mqtt", [1, 2], "A")
    release_connections("mqtt", "A", [1])
    assert claim_connections("mqtt", [1, 2], "B") == {1}
    release_connections("mqtt", "A")
    assert claim_connections("mqtt", [1, 2], "B") == {1, 2}


CLAIMER = """
import sys, time
from openspc import create_app
from tests.conftest import make_settings
from pathlib import Path
from openspc.services.leases import claim_connections
app = create_app({"TESTING": True}, settings=make_settings(Path(sys.argv[1])))
with app.app_context():
    print(sorted(claim_connections("mqtt", [7], "doomed", ttl=float(sys.argv[2]))), flush=True)
    time.sleep(60)
"""


def test_a_killed_holder_loses_its_lease_after_its_time_to_live(app, tmp_path):
    process = subprocess.Popen([sys.executable, "-c", CLAIMER, str(tmp_path), "1.5"],
                               stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        assert process.stdout.readline().strip() == "[7]"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(5)
        assert claim_connections("mqtt", [7], "heir") == set()
        deadline = time.monotonic() + 5
        while not claim_connections("mqtt", [7], "heir"):
            assert time.monotonic() < deadline, "the dead holder's lease never expired"
            time.sleep(0.2)
    finally:
        process.kill()
        process.wait(5)


def test_status_is_live_only_while_its_writer_holds_the_lease(app):
    claim_connections("mqtt", [4], "A", ttl=0.3)
    report_status("mqtt", 4, "A", is_connected=True, subscribed=["a/b", "c/#"],
                  counters={"messages": 3})
    live = read_statuses("mqtt")[4]
    assert (live.is_connected, live.error_message, live.subscribed, live.counters) == (
        True, None, ["a/b", "c/#"], {"messages": 3})
    report_status("mqtt", 4, "A", is_connected=False, error_message="Connection refused")
    live = read_statuses("mqtt", [4])[4]
    assert (live.is_connected, live.error_message, live.subscribed) == (
        False, "Connection refused", ["a/b", "c/#"])  # fields not given are kept
    report_status("mqtt", 4, "A", is_connected=True)
    time.sleep(0.4)
    gone = read_statuses("mqtt")[4]
    assert (gone.is_connected, gone.error_message, gone.subscribed) == (False, LISTENER_GONE, [])
    assert read_statuses("mqtt", [5]) == {}


def test_the_generation_moves_only_with_a_committed_change(app):
    before = config_generation("mqtt")
    config_changed("mqtt")
    db.session.rollback()
    assert config_generation("mqtt") == before
    config_changed("mqtt")
    db.session.commit()
    config_changed("mqtt")
    db.session.commit()
    assert config_generation("mqtt") == before + 2
    assert config_generation("opcua") == 0
