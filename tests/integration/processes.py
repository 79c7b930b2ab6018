"""Stopping the server and worker processes the integration tests start."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, as an operator would; the whole process group is killed when it does not exit
    within ``timeout`` seconds (it was started with ``start_new_session=True``)."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
