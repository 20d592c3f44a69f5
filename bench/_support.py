"""Shared benchmark plumbing: fake Zuora in a subprocess, child processes, statistics, headers.

The fake Zuora always runs in its own process so that neither its CPU time nor its memory is
counted against the code being measured; memory is measured in child processes that run only the
code under test.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import select
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.core.closing import StopsOnExit
from bot.sandbox.processes import stop_process
from bot.settings import ZuoraSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
# A fixed tenant "now" (whole seconds, UTC) so every run sees the same records in the same windows.
TENANT_NOW = datetime(2025, 11, 20, 18, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FakeZuoraInfo:
    """What the fake prints on start: where it listens, its credentials and its record counts."""

    base_url: str
    files_base_url: str
    client_id: str
    client_secret: str
    timezone: str
    accounts: int
    callouts: int
    emails: int


class FakeZuoraProcess(StopsOnExit):
    """`python -m bot.sandbox.fake_zuora ...` as a subprocess, stopped (SIGTERM) on exit."""

    def __init__(self, *args: str, start_timeout: float = 120.0) -> None:
        self.args = ["--port", "0", "--now", TENANT_NOW.isoformat(), *args]
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[str] | None = None
        self._info: FakeZuoraInfo | None = None

    @property
    def info(self) -> FakeZuoraInfo:
        """Connection details (after start)."""
        if self._info is None:
            raise RuntimeError("fake Zuora not started")
        return self._info

    @property
    def pid(self) -> int:
        """The subprocess id."""
        if self.process is None:
            raise RuntimeError("fake Zuora not started")
        return self.process.pid

    def __enter__(self) -> FakeZuoraProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.sandbox.fake_zuora", *self.args],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], self.start_timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            self.stop()
            raise RuntimeError(f"fake Zuora did not start (args {self.args})")
        raw = json.loads(line)
        self._info = FakeZuoraInfo(
            base_url=raw["base_url"],
            files_base_url=raw["files_base_url"],
            client_id=raw["client_id"],
            client_secret=raw["client_secret"],
            timezone=raw["timezone"],
            accounts=int(raw["accounts"]),
            callouts=int(raw["callouts"]),
            emails=int(raw["emails"]),
        )
        return self

    def stop(self) -> None:
        """End the fake Zuora subprocess: SIGTERM, then kill if it lingers."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            stop_process(process, grace=10, kill_wait=10)
        if process.stdout is not None:
            process.stdout.close()


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for child processes: the repo root importable, nothing read from .env."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if part
    )
    env.update(extra or {})
    return env


def zuora_settings(info: FakeZuoraInfo, **overrides: Any) -> ZuoraSettings:
    """Settings that point our client at the fake (cache off unless overridden)."""
    values: dict[str, Any] = {
        "base_url": info.base_url,
        "ui_url": info.base_url,
        "client_id": info.client_id,
        "client_secret": info.client_secret,
        "tenant_timezone": info.timezone,
        "max_concurrency": 8,
        "cache_ttl": 0,
        "result_file_hosts": info.files_base_url,
    }
    values.update(overrides)
    return ZuoraSettings(_env_file=None, **values)


def child_settings(spec: dict[str, Any]) -> ZuoraSettings:
    """A child process's settings from the spec its parent passed: the fake's URLs and client."""
    return ZuoraSettings(
        _env_file=None,
        base_url=spec["base_url"],
        ui_url=spec["base_url"],
        client_id=spec["client_id"],
        client_secret=spec["client_secret"],
        tenant_timezone=spec["timezone"],
        result_file_hosts="http://127.0.0.1",  # the fake's result files, any loopback port
        max_concurrency=int(spec.get("concurrency", 8)),
        cache_ttl=0,
    )


def run_child(module: str, args: Sequence[str], *, timeout: float = 600.0) -> dict[str, Any]:
    """Run `python -m module args` and return the JSON object on its last stdout line."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"child {module} failed (exit {done.returncode}):\n{done.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB.

    Linux: VmHWM from /proc/self/status, the high-water mark of this process's own memory map. Not
    ru_maxrss: Linux carries the parent's RSS at fork into the child's ru_maxrss across exec, so a
    child of a big parent would report the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / (1024 * 1024)


def median(values: Sequence[float]) -> float:
    """The median (of the repeats)."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def print_header(title: str) -> None:
    """Title, date and machine, so a pasted output says where it came from."""
    print(f"== {title}")
    print(
        f"date {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} | {os.cpu_count()} cores | "
        f"Python {platform.python_version()} | {platform.system()} {platform.machine()}"
    )


def verdict(ok: bool) -> str:
    """PASS / MISS marker for a target."""
    return "PASS" if ok else "MISS"
