"""Helpers of the gunicorn smoke tests: the bot's environment, a served gunicorn and its workers."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bot.sandbox.fake_env import fakes_env
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.processes import stop_process

WORKERS = 2
BOOT_TIMEOUT = 30.0
SIGNING_SECRET = "smoke-signing-secret-" + "0" * 12
# pid, method, path, status, probe header: enough to tell which worker served which request.
ACCESS_FORMAT = "%(p)s %(m)s %(U)s %(s)s %({x-probe}i)s"
# A new connection per request lets every request be accepted by either worker (keep-alive would pin).
FRESH = {"Connection": "close"}
_ACCESS_LINE = re.compile(r"^<(\d+)> (\S+) (\S+) (\d{3}) (\S+)$")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], workdir: Path) -> Iterator[tuple[str, Path]]:
    """Run gunicorn on a free loopback port; yield its base URL and its log file; always stop it."""
    port = free_port()
    log_path = workdir / "gunicorn.log"
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--workers",
        str(WORKERS),
        "--threads",
        "8",
        "--bind",
        f"127.0.0.1:{port}",
        "--access-logfile",
        "-",
        "--access-logformat",
        ACCESS_FORMAT,
        "--no-control-socket",  # no shared socket in $HOME, so parallel runs cannot collide
        "bot.wsgi:application",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield f"http://127.0.0.1:{port}", log_path
        finally:
            stop_process(process, grace=15, kill_wait=5)


def bot_env(zuora: FakeZuora, slack: FakeSlack, database_url: str) -> dict[str, str]:
    """The process environment gunicorn gets: the real settings names, pointing at the fakes."""
    assert slack.token is not None and zuora.tenant is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "ZUORA_"))}
    env.update(
        fakes_env(
            slack,
            zuora,
            bot_token=slack.token,
            signing_secret=SIGNING_SECRET,
            timezone=zuora.tenant.timezone,
        )
    )
    env.update(
        {
            "RESEND_ALLOWED_USERS": "*",
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def served(log_path: Path) -> list[tuple[int, str, str, int, str]]:
    """Access log entries so far: (worker pid, method, path, status, probe)."""
    entries = []
    for line in log_path.read_text(errors="replace").splitlines():
        match = _ACCESS_LINE.match(line.strip())
        if match:
            pid, method, path, status, probe = match.groups()
            entries.append((int(pid), method, path, int(status), probe))
    return entries


def wait_for_workers(http: httpx.Client, base: str, log_path: Path) -> set[int]:
    """Poll /healthz until every worker has answered one (the access log names the pid); their pids."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(
                    pool.map(
                        lambda _: http.get(f"{base}/healthz", headers=FRESH | {"X-Probe": "h"}),
                        range(4),
                    )
                )
        except httpx.TransportError:
            time.sleep(0.1)  # not listening yet: poll again
            continue
        pids = {pid for pid, _, path, status, _ in served(log_path) if path == "/healthz"}
        if len(pids) >= WORKERS:
            return pids
        time.sleep(0.05)  # the access lines of these answers may not be written yet
    pytest.fail(f"gunicorn workers did not all answer /healthz:\n{log_path.read_text()[-3000:]}")
