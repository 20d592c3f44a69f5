"""Benchmark (issue 4 §7): ack latency and time-to-card of concurrent `/zuora failures` commands.

gunicorn (`--workers 2 --threads 8 bot.wsgi:application`) serves the real app as a subprocess, pointed
at a fake Zuora subprocess (200 ms per request) and at a FakeSlack running in this process, with the
store on a SQLite file in a temp dir. For N = 1, 20, 100, N threads send N signed slash commands at
the same moment (a barrier), each on its own connection and with its own response_url; the ack is the
HTTP response time of the POST, the card time runs from the POST until the card reaches its
response_url. Rounds per N are pooled for the percentiles.

    .venv/bin/python -m bench.ack_latency [--levels 1,20,100] [--rounds 3] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import http.client
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

if __package__ in (None, ""):  # run as a file: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import (  # noqa: E402
    FakeZuoraProcess,
    child_env,
    median,
    percentile,
    print_header,
    verdict,
)
from bot.sandbox.fake_slack import FakeSlack, SlackEvent  # noqa: E402
from bot.sandbox.processes import stop_process
from bot.sandbox.slack_requests import sign, slash_command_body  # noqa: E402

EVENTS_PATH = "/slack/events"
_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
_BOOTED = "Booting worker"


class Gunicorn:
    """gunicorn serving bot.wsgi:application on 127.0.0.1 port 0, stderr drained by a thread."""

    def __init__(self, env: dict[str, str], cwd: Path, *, workers: int, threads: int) -> None:
        self.command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--bind",
            "127.0.0.1:0",
            "--log-level",
            "info",
            "bot.wsgi:application",
        ]
        self.env = env
        self.cwd = cwd
        self.workers = workers
        self.process: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self.port = 0

    def __enter__(self) -> Gunicorn:
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._drain, name="gunicorn-stderr", daemon=True).start()
        with self._changed:
            ready = self._changed.wait_for(self._ready, timeout=60)
        if not ready:
            self.__exit__(None, None, None)
            raise RuntimeError("gunicorn did not start:\n" + "".join(self.lines[-40:]))
        for line in self.lines:
            found = _LISTENING.search(line)
            if found:
                self.port = int(found.group(1))
        return self

    def _ready(self) -> bool:
        listening = any(_LISTENING.search(line) for line in self.lines)
        booted = sum(_BOOTED in line for line in self.lines)
        return (listening and booted >= self.workers) or (
            self.process is not None and self.process.poll() is not None
        )

    def _drain(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            stop_process(process, grace=30, kill_wait=10)

    def problems(self) -> list[str]:
        """ERROR / Traceback lines gunicorn or the app wrote to stderr."""
        return [line.rstrip() for line in self.lines if "ERROR" in line or "Traceback" in line]


class CardClock:
    """Records when the first post reaches each response_url (a FakeSlack listener)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.arrived: dict[str, float] = {}
        self.bodies: dict[str, dict[str, object]] = {}

    def __call__(self, event: SlackEvent) -> None:
        if event.kind != "response_url":
            return
        now = time.perf_counter()
        with self._lock:
            if event.url not in self.arrived:
                self.arrived[event.url] = now
                self.bodies[event.url] = event.body
                self._lock.notify_all()

    def wait_all(self, urls: list[str], timeout: float) -> bool:
        """Block until every url has a post, or `timeout` passes."""
        with self._lock:
            return self._lock.wait_for(
                lambda: all(url in self.arrived for url in urls), timeout=timeout
            )


@dataclass(frozen=True)
class Sample:
    """One command: ack time, card time (None if none came), the ack's HTTP status."""

    ack: float
    card: float | None
    status: int
    card_ok: bool


def post_command(port: int, secret: str, body: bytes) -> tuple[float, float, int, bytes]:
    """POST one signed command on a fresh connection; (start, end, status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    try:
        headers = sign(secret, body, int(time.time()))
        connection.request("POST", EVENTS_PATH, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return started, time.perf_counter(), response.status, data
    finally:
        connection.close()


def run_round(
    n: int, label: str, *, port: int, secret: str, slack: FakeSlack, clock: CardClock, wait: float
) -> list[Sample]:
    """Fire n commands at once and collect their ack and card times."""
    urls = [slack.response_url(f"{label}-{i}") for i in range(n)]
    bodies = [
        slash_command_body(
            text=f"failures A{(i % 20) + 1:08d}",
            response_url=url,
            user_id=f"U{i + 1:06d}",
            user_name=f"user{i}",
        )
        for i, url in enumerate(urls)
    ]
    barrier = threading.Barrier(n)

    def fire(i: int) -> tuple[float, float, int, bytes]:
        barrier.wait()
        return post_command(port, secret, bodies[i])

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(fire, range(n)))
    clock.wait_all(urls, timeout=wait)
    samples = []
    for url, (started, ended, status, _) in zip(urls, results, strict=True):
        arrived = clock.arrived.get(url)
        body = clock.bodies.get(url, {})
        samples.append(
            Sample(
                ack=ended - started,
                card=None if arrived is None else arrived - started,
                status=status,
                card_ok=_is_failures_card(body),
            )
        )
    return samples


def _is_failures_card(body: dict[str, object]) -> bool:
    """Whether a response_url post is the failures card (its fallback text), not an error."""
    text = str(body.get("text", ""))
    return bool(body.get("blocks")) and (
        "failed callout" in text or "No failed notifications" in text
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f} ms"


def main(argv: list[str] | None = None) -> int:
    """Start the fakes and gunicorn, warm up, run every level, print the percentiles."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,20,100", help="comma list of concurrency levels")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per level (pooled)")
    parser.add_argument("--latency", type=float, default=0.2, help="fake Zuora s/request")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--wait", type=float, default=60.0, help="max seconds to wait for cards")
    args = parser.parse_args(argv)
    levels = [int(part) for part in args.levels.split(",") if part.strip()]

    print_header("ack_latency: concurrent /zuora failures through gunicorn")
    secret = secrets.token_hex(16)
    bot_token = "xoxb-bench-" + secrets.token_hex(8)
    with (
        tempfile.TemporaryDirectory(prefix="zops-bench-") as tmp,
        FakeZuoraProcess("--latency", str(args.latency), "--seed", "7") as zuora,
        FakeSlack(token=bot_token) as slack,
    ):
        clock = CardClock()
        slack.add_listener(clock)
        info = zuora.info
        env = child_env(
            {
                "SLACK_BOT_TOKEN": bot_token,
                "SLACK_SIGNING_SECRET": secret,
                "SLACK_API_URL": slack.base_url,
                "SLACK_RESPONSE_URL_HOSTS": slack.root_url,
                "ZUORA_RESULT_FILE_HOSTS": info.files_base_url,
                "ZUORA_BASE_URL": info.base_url,
                "ZUORA_UI_URL": info.base_url,
                "ZUORA_CLIENT_ID": info.client_id,
                "ZUORA_CLIENT_SECRET": info.client_secret,
                "ZUORA_TENANT_TIMEZONE": info.timezone,
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'zuora-ops.db'}",
                "RESEND_ALLOWED_USERS": "*",
                "LOG_LEVEL": "WARNING",
            }
        )
        print(
            f"gunicorn --workers {args.workers} --threads {args.threads} bot.wsgi:application; "
            f"fake Zuora {args.latency * 1000:.0f} ms/request ({info.accounts} accounts, "
            f"{info.callouts} callouts, {info.emails} emails over 7 days); FakeSlack in this "
            f"process; SQLite store; default window 24h; accounts cycle A00000001..A00000020; "
            f"{args.rounds} rounds per level, pooled"
        )
        with Gunicorn(env, Path(tmp), workers=args.workers, threads=args.threads) as server:
            # Warm-up: both workers import, fetch an OAuth token and open connections.
            run_round(8, "warm", port=server.port, secret=secret, slack=slack, clock=clock, wait=30)
            print()
            print(
                f"{'N':>4} | {'ack p50':>10} {'ack p99':>10} {'ack max':>10} | "
                f"{'card p50':>10} {'card p99':>10} {'card max':>10} | cards ok"
            )
            summary: dict[int, list[Sample]] = {}
            for n in levels:
                samples: list[Sample] = []
                for round_no in range(args.rounds):
                    samples += run_round(
                        n,
                        f"n{n}-r{round_no}",
                        port=server.port,
                        secret=secret,
                        slack=slack,
                        clock=clock,
                        wait=args.wait,
                    )
                    time.sleep(0.5)  # let stragglers (retries, logs) settle between rounds
                summary[n] = samples
                acks = [s.ack for s in samples]
                cards = [s.card for s in samples if s.card is not None]
                good = sum(1 for s in samples if s.card_ok and s.status == 200)
                print(
                    f"{n:>4} | {_ms(median(acks))} {_ms(percentile(acks, 99))} "
                    f"{_ms(max(acks))} | {_ms(median(cards)) if cards else '      n/a'} "
                    f"{_ms(percentile(cards, 99)) if cards else '      n/a'} "
                    f"{_ms(max(cards)) if cards else '      n/a'} | {good}/{len(samples)}"
                )
            problems = server.problems()
        print()
        if 20 in summary:
            p99 = percentile([s.ack for s in summary[20]], 99)
            print(
                f"ack p99 at 20 concurrent: {p99 * 1000:.0f} ms (target < 100 ms)  {verdict(p99 < 0.1)}"
            )
        if 100 in summary:
            worst = max(s.ack for s in summary[100])
            print(
                f"slowest ack at 100 concurrent: {worst * 1000:.0f} ms (target ≤ 3 s)  {verdict(worst <= 3)}"
            )
        bad_status = sum(s.status != 200 for samples in summary.values() for s in samples)
        print(f"non-200 acks: {bad_status}; error lines in gunicorn's log: {len(problems)}")
        for line in problems[:10]:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
