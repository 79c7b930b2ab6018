"""Starting and stopping the server and worker processes the integration tests start."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, as an operator would; the whole process group is killed when it does not exit
    within ``timeout`` seconds (it was started with ``start_new_session=True``)."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, log: Path,
                   threads: int = 32) -> subprocess.Popen:
    """The documented web command, on a port of its own and without gunicorn's control socket
    (whose default path is shared by every gunicorn on the machine)."""
    command = [
        str(Path(sys.executable).parent / "gunicorn"), "-k", "gthread", "--threads",
        str(threads), "-w", "1", "--no-control-socket", "-b", f"127.0.0.1:{port}", "wsgi:app",
    ]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(address: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log.read_text()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"http://{address}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not become healthy:\n{log.read_text()}")
