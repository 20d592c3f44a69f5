"""Benchmark (issue 6): how much resend-ID resolution through Data Query adds to time-to-card.

The whole bot runs in this process behind its WSGI server (`SandboxStack`): the sandbox Zuora answers
every REST call after `--latency` seconds and finishes each Data Query job after a delay drawn from
U(`--min-delay`, `--max-delay`) seconds (2-5 s by default, what Zuora's Data Query takes for one
account's rows). Each sample sends one signed `/zuora failures A00000001 2d` over HTTP and times, from
the POST, the first card on the response_url and the first card with resend buttons. The read cache
is off (`ZUORA_CACHE_TTL=0`) so every sample pays for the account and history reads.

Scenarios: a tenant whose REST lists carry `id` (no Data Query: the baseline); a tenant without REST
ids in a cold process (the bot first learns the tables' columns with SHOW COLUMNS, a job of its own,
then runs the lookup); the same warm (columns known, so one lookup job after the history scan; no job
is started before the scan shows rows that need one); warm with `ZUORA_ID_WAIT=1` (card first,
resend buttons after a Refresh click sent as soon as it shows); and a Refresh click on a resolved card
(cached lookup). Every scenario also reports the Data Query jobs it submitted per command.

    .venv/bin/python -m bench.id_resolution [--samples 8] [--latency 0.1] [--seed 6]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench._support import median, percentile, print_header  # noqa: E402
from bot.sandbox.fake_slack import SlackEvent  # noqa: E402
from bot.sandbox.slack_requests import block_actions_body, sign, slash_command_body  # noqa: E402
from bot.sandbox.stack import SandboxStack  # noqa: E402
from bot.sandbox.tenant import build_tenant  # noqa: E402

ACCOUNT = "A00000001"
COMMAND = f"failures {ACCOUNT} 2d"
RESEND_BUTTON = '"zuora.resend_all"'  # present once the card has resend IDs
REFRESH = "zuora.refresh"


@dataclass
class Sample:
    """One command (or click): when its first card and its first card with resend buttons arrived."""

    query_delay: float
    first: float
    with_ids: float
    jobs: int = 0  # Data Query jobs the command (or click) submitted


@dataclass
class Scenario:
    """A named series of samples."""

    name: str
    samples: list[Sample] = field(default_factory=list)


class Arrivals:
    """Records when each response_url post reached the fake Slack (monotonic seconds)."""

    def __init__(self) -> None:
        self._posts: dict[str, list[tuple[float, str]]] = {}
        self._changed = threading.Condition()

    def __call__(self, event: SlackEvent) -> None:
        if event.kind != "response_url":
            return
        with self._changed:
            self._posts.setdefault(event.url, []).append((time.monotonic(), json.dumps(event.body)))
            self._changed.notify_all()

    def wait(self, url: str, accept: Callable[[str], bool], timeout: float = 60.0) -> float:
        """The arrival time of the first post to `url` whose JSON passes `accept`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for at, body in self._posts.get(url, []):
                    if accept(body):
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching post to {url} in {timeout} s")
                self._changed.wait(left)

    def bodies(self, url: str) -> list[str]:
        """Every post to `url` so far, as JSON text."""
        with self._changed:
            return [body for _, body in self._posts.get(url, [])]


def start_stack(workdir: Path, *, rest_ids: bool, latency: float, **zuora: Any) -> SandboxStack:
    tenant = build_tenant(seed=7, now=datetime.now(UTC), rest_ids=rest_ids)
    # No read cache: every command reads the account and both history lists from Zuora again.
    overrides = {"cache_ttl": 0, **zuora}
    return SandboxStack(workdir, tenant=tenant, latency=latency, zuora_overrides=overrides).start()


def post(stack: SandboxStack, body: bytes) -> None:
    headers = sign(stack.signing_secret, body, int(time.time()))
    reply = httpx.post(stack.bot_url, content=body, headers=headers, timeout=10.0)
    reply.raise_for_status()


def run_command(stack: SandboxStack, arrivals: Arrivals, delay: float) -> tuple[Sample, str]:
    """Send the command with jobs taking `delay` s; the sample and the card with buttons' JSON.

    Slack cannot replace a command's card later (slackapi/bolt-python#1268), so a card posted
    before the IDs is followed by the user's Refresh click, sent the moment the card arrives.
    """
    stack.zuora.set_query_delay(delay)
    url = stack.slack.response_url("bench", kind="command")
    jobs = stack.zuora.query_jobs_submitted
    started = time.monotonic()
    post(stack, slash_command_body(text=COMMAND, response_url=url))
    first = arrivals.wait(url, lambda body: True)
    card = arrivals.bodies(url)[0]
    with_ids = first
    if RESEND_BUTTON not in card:
        click_url = click_refresh(stack, card)
        with_ids = arrivals.wait(click_url, lambda body: RESEND_BUTTON in body)
        card = next(body for body in arrivals.bodies(click_url) if RESEND_BUTTON in body)
    submitted = stack.zuora.query_jobs_submitted - jobs
    return Sample(delay, first - started, with_ids - started, submitted), card


def refresh_button(card: str) -> dict[str, Any]:
    """The Refresh button of a card, with its block_id."""
    for block in json.loads(card)["blocks"]:
        for element in block.get("elements") or []:
            if element.get("action_id") == REFRESH:
                return {**element, "block_id": block.get("block_id", "b")}
    raise LookupError("the card has no Refresh button")


def click_refresh(stack: SandboxStack, card: str) -> str:
    """Click the card's Refresh; the click's response_url."""
    button = refresh_button(card)
    url = stack.slack.response_url("bench-click")
    post(
        stack,
        block_actions_body(
            action_id=REFRESH, block_id=button["block_id"], value=button["value"], response_url=url
        ),
    )
    return url


def run_refresh(stack: SandboxStack, arrivals: Arrivals, card: str, delay: float) -> Sample:
    stack.zuora.set_query_delay(delay)
    jobs = stack.zuora.query_jobs_submitted
    started = time.monotonic()
    url = click_refresh(stack, card)
    first = arrivals.wait(url, lambda body: True)
    with_ids = arrivals.wait(url, lambda body: RESEND_BUTTON in body)
    return Sample(
        delay, first - started, with_ids - started, stack.zuora.query_jobs_submitted - jobs
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per Zuora REST call")
    parser.add_argument("--min-delay", type=float, default=2.0, help="fastest Data Query job (s)")
    parser.add_argument("--max-delay", type=float, default=5.0, help="slowest Data Query job (s)")
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    rng = random.Random(args.seed)
    # Every scenario sees the same job delays, in the same order, so their times compare directly.
    drawn = [round(rng.uniform(args.min_delay, args.max_delay), 2) for _ in range(args.samples)]
    turn: dict[str, int] = {}

    def delay(series: str) -> float:
        turn[series] = turn.get(series, -1) + 1
        return drawn[turn[series] % len(drawn)]

    scenarios: list[Scenario] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        counter = iter(range(10_000))

        def fresh_stack(**kwargs: Any) -> tuple[SandboxStack, Arrivals]:
            workdir = root / f"stack{next(counter)}"
            workdir.mkdir()
            stack = start_stack(workdir, latency=args.latency, **kwargs)
            arrivals = Arrivals()
            stack.slack.add_listener(arrivals)
            return stack, arrivals

        baseline = Scenario("REST ids, no Data Query (baseline)")
        stack, arrivals = fresh_stack(rest_ids=True)
        try:
            run_command(stack, arrivals, 0)  # warm-up: token and account lookup
            baseline.samples = [run_command(stack, arrivals, 0)[0] for _ in range(args.samples)]
        finally:
            stack.stop()
        scenarios.append(baseline)

        cold = Scenario("no REST ids, cold process (SHOW COLUMNS, then the lookup)")
        for _ in range(args.samples):
            stack, arrivals = fresh_stack(rest_ids=False)
            try:
                cold.samples.append(run_command(stack, arrivals, delay("cold"))[0])
            finally:
                stack.stop()
        scenarios.append(cold)

        warm = Scenario("no REST ids, warm (columns known: one lookup after the scan)")
        refresh = Scenario("Refresh click on a resolved card (cached IDs)")
        stack, arrivals = fresh_stack(rest_ids=False)
        try:
            _, card = run_command(stack, arrivals, args.min_delay)  # warm-up: learns the columns
            for _ in range(args.samples):
                sample, card = run_command(stack, arrivals, delay("warm"))
                warm.samples.append(sample)
                refresh.samples.append(run_refresh(stack, arrivals, card, delay("refresh")))
        finally:
            stack.stop()
        scenarios.extend([warm, refresh])

        deferred = Scenario("no REST ids, warm, ZUORA_ID_WAIT=1 (card, then Refresh)")
        stack, arrivals = fresh_stack(rest_ids=False, id_wait=1.0)
        try:
            run_command(stack, arrivals, args.min_delay)
            deferred.samples = [
                run_command(stack, arrivals, delay("deferred"))[0] for _ in range(args.samples)
            ]
        finally:
            stack.stop()
        scenarios.append(deferred)

    report(scenarios, args)
    return 0


def report(scenarios: list[Scenario], args: argparse.Namespace) -> None:
    print_header("Resend-ID resolution: time-to-card against the sandbox Zuora")
    print(
        f"{args.samples} samples per scenario | REST latency {args.latency:g} s per call | "
        f"Data Query jobs U({args.min_delay:g}, {args.max_delay:g}) s | seed {args.seed}"
    )
    delays = [s.query_delay for s in scenarios[1].samples]
    print(f"job delays (same in every scenario): {', '.join(f'{d:g}' for d in delays)} s")
    base = median([s.with_ids for s in scenarios[0].samples])
    print(
        f"\n{'scenario':<66} {'first card p50/p90':>19} {'with resend p50/p90':>20} "
        f"{'added p50':>10} {'over job p50':>13} {'jobs/cmd':>9}"
    )
    for scenario in scenarios:
        first = [s.first for s in scenario.samples]
        ids = [s.with_ids for s in scenario.samples]
        over = [s.with_ids - s.query_delay for s in scenario.samples if s.query_delay]
        over_text = f"{median(over):>12.2f}s" if over and "Refresh" not in scenario.name else "-"
        print(
            f"{scenario.name:<66} {median(first):>8.2f}s/{percentile(first, 90):>6.2f}s   "
            f"{median(ids):>8.2f}s/{percentile(ids, 90):>6.2f}s  "
            f"{median(ids) - base:>+9.2f}s {over_text:>13} "
            f"{sum(s.jobs for s in scenario.samples) / len(scenario.samples):>9.1f}"
        )
    print(
        "\nadded = median time to a card with resend buttons minus the baseline's; over job = "
        "time to that card minus the Data Query job's own delay (history scan, polling, file)."
    )


if __name__ == "__main__":
    raise SystemExit(main())
