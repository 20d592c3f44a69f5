"""Ending the child processes the sandbox, smoke tests and benchmarks start."""

from __future__ import annotations

import subprocess
from typing import Any


def stop_process(process: subprocess.Popen[Any], *, grace: float, kill_wait: float) -> None:
    """Terminate `process` and wait `grace` seconds for it to exit; kill it if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=kill_wait)
