"""`zuora-ops demo` as a user runs it: its clock posts a spike alert in the playground, and the CLI works
against it with nothing but the banner's `export` lines."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import httpx
import pytest

from bot.sandbox.live import LIVE_ENDPOINT

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "C0BILLOPS1"
LIVE_HOST = LIVE_ENDPOINT.split("/")[2]


@dataclass
class Demo:
    """A running `zuora-ops demo` subprocess and what its banner said."""

    process: subprocess.Popen[str]
    banner: str
    playground: str
    exports: dict[str, str] = field(default_factory=dict)

    def command(self, text: str) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.playground}api/command", json={"channel": CHANNEL, "text": text}, timeout=30
        )
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result

    def wait_for_message(self, pattern: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        since = 0
        while time.monotonic() < deadline:
            state = httpx.get(
                f"{self.playground}api/state", params={"since": since, "wait": 2}, timeout=30
            ).json()
            since = state["version"]
            for message in state["messages"]:
                if message["channel"] == CHANNEL and re.search(pattern, message["text"]):
                    return dict(message)
        raise AssertionError(f"no message matching {pattern!r} within {timeout} s")

    def cli(self, *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        # Only the banner's exports: no PATH, HOME or inherited settings.
        return subprocess.run(
            [sys.executable, "-m", "bot", *argv],
            env=dict(self.exports),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _read_banner(process: subprocess.Popen[str], timeout: float) -> tuple[str, threading.Thread]:
    lines: Queue[str] = Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    banner: list[str] = []
    deadline = time.monotonic() + timeout
    while not banner or "Press Ctrl-C" not in banner[-1]:
        try:
            banner.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        except Empty:
            raise AssertionError("demo banner not printed:\n" + "".join(banner)) from None
    return "".join(banner), reader


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "demo", "--port", "0", "--alert-check", "2"]
        + ["--spike-every", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    reader: threading.Thread | None = None
    try:
        banner, reader = _read_banner(process, timeout=90)
        playground = re.search(r"Slack playground:\s+(\S+)", banner)
        assert playground, banner
        exports = {}
        for line in banner.splitlines():
            if line.strip().startswith("export "):
                name, _, value = shlex.split(line.strip())[1].partition("=")
                exports[name] = value
        yield Demo(process, banner, playground.group(1), exports)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if reader is not None:
            reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def test_demo_clock_posts_a_spike_alert_in_the_playground(demo: Demo) -> None:
    reply = demo.command("/zuora alerts subscribe threshold 3 per 5 minutes kind callouts")
    assert reply.get("ok"), reply
    subscribed = demo.wait_for_message(r"^Subscribed: spike alert", timeout=30)
    assert subscribed["author"] != "you"
    alert = demo.wait_for_message(r"^Spike: ", timeout=60)
    assert LIVE_HOST in alert["text"] + json.dumps(alert["blocks"])
    assert not alert["ephemeral"]


def test_demo_banner_exports_are_all_the_cli_needs(demo: Demo, tmp_path: Path) -> None:
    assert {
        "ZUORA_BASE_URL",
        "ZUORA_CLIENT_ID",
        "ZUORA_CLIENT_SECRET",
        "DATABASE_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_API_URL",
    } <= set(demo.exports)
    db_file = demo.exports["DATABASE_URL"].removeprefix("sqlite:///")
    assert Path(db_file).exists()
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()

    outages = demo.cli("outages", "--window", "24h", "--json", cwd=cwd)
    assert outages.returncode == 0, outages.stderr
    labels = [cause["label"] for cause in json.loads(outages.stdout)["causes"]]
    assert any("hooks.ledgerlink.example" in label for label in labels)

    failures = demo.cli("failures", "A00000001", "--window", "7d", cwd=cwd)
    assert failures.returncode == 0, failures.stderr
    assert "Failed callouts" in failures.stdout

    # The digest reads the demo's store: the subscription made in the playground is there.
    demo.command("/zuora digest subscribe")
    demo.wait_for_message(r"(?i)subscribed", timeout=30)
    digest = demo.cli("digest", "--dry-run", "--channel", CHANNEL, cwd=cwd)
    assert digest.returncode == 0, digest.stderr
    assert f"→ {CHANNEL}" in digest.stdout
    # Plain text: links as "name (url)", dates as their UTC text, no *bold* or &lt; entities;
    # a hostile account name still shows literally, as typed.
    shown = digest.stdout
    assert re.search(r"\w \(http://127\.0\.0\.1:\d+/apps/CustomerAccount\.do", shown), shown
    assert not re.search(r"<!date\^|<http://127\.0\.0\.1|&lt;|&gt;|&amp;", shown), shown
    assert not re.search(r"(?m)^\*|\*$|\*Zuora", shown), shown
    assert "Click <https://evil.example|here> Ltd" in shown
    if "Smith & Sons" in shown:  # among the listed accounts when it has enough failures today
        assert "Smith & Sons <Holdings> *Inc* (http://" in shown
