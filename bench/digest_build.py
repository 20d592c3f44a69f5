"""Benchmark (issue 5 §7): building the daily digest for a big tenant, and posting 50 digests.

Part 1: for 25k, 50k and 100k failures in the 24-hour window (a bulk fake Zuora subprocess, low
latency), a child process that runs only our code scans the tenant with iter_failed_callouts /
iter_failed_emails, folds the records with `summarize` and builds the message with `build_digest`;
prints wall time (median of the repeats), time per 10k records, and the child's peak RSS.

Part 2: 50 subscriptions in 50 channels, one `run_due_digests` tick (force) through the production
wiring (`build_deps`) against a FakeSlack in this process, with the bot's per-channel pacing
(DIGEST_POST_INTERVAL) and three scripted 429s (Retry-After: 1) spread over the run; prints the
time to post all 50 and shows the 429s were retried.

    .venv/bin/python -m bench.digest_build [--sizes 25000,50000,100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import (  # noqa: E402
    TENANT_NOW,
    FakeZuoraProcess,
    median,
    print_header,
    run_child,
    verdict,
    zuora_settings,
)
from bot.sandbox.fake_slack import FakeSlack, SlackEvent  # noqa: E402
from bot.settings import (  # noqa: E402
    DigestSettings,
    RuntimeSettings,
    Settings,
    SlackSettings,
    StoreSettings,
)

CALLOUT_SHARE = 0.8  # of the failures; the rest are emails
FAILED_SHARE = 0.95  # build_bulk_tenant makes one record in 20 a success


def bulk_args(failures: int, latency: float, accounts: int) -> list[str]:
    """Fake Zuora arguments for a one-day bulk tenant with about `failures` failed records."""
    callouts = round(failures * CALLOUT_SHARE / FAILED_SHARE)
    emails = round(failures * (1 - CALLOUT_SHARE) / FAILED_SHARE)
    return [
        "--bulk-callouts",
        str(callouts),
        "--bulk-emails",
        str(emails),
        "--days",
        "1",
        "--accounts",
        str(accounts),
        "--latency",
        str(latency),
    ]


def build_sizes(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Part 1: median wall time and max peak RSS of the child at each size.

    One fake per size, all started first; the repeats go round the sizes (25k, 50k, 100k, 25k, …)
    so that load from elsewhere on the machine spreads over every size alike.
    """
    with ExitStack() as stack:
        specs = {}
        for size in args.sizes:
            fake = stack.enter_context(
                FakeZuoraProcess(*bulk_args(size, args.latency, args.accounts))
            )
            info = fake.info
            specs[size] = {
                "base_url": info.base_url,
                "client_id": info.client_id,
                "client_secret": info.client_secret,
                "timezone": info.timezone,
                "concurrency": args.concurrency,
                "end": TENANT_NOW.isoformat(),
                "seconds": timedelta(hours=24).total_seconds(),
                "label": "24h",
            }
        runs: dict[int, list[dict[str, Any]]] = {size: [] for size in args.sizes}
        for _ in range(args.repeats):
            for size in args.sizes:
                runs[size].append(run_child("bench._child", ["digest", json.dumps(specs[size])]))
    rows = []
    for size in args.sizes:
        done = runs[size]
        records = done[0]["callouts"] + done[0]["emails"]
        row = {
            "size": size,
            "records": records,
            "callouts": done[0]["callouts"],
            "emails": done[0]["emails"],
            "accounts": done[0]["accounts"],
            "seconds": median([r["seconds"] for r in done]),
            "scan": median([r["scan_summarize_seconds"] for r in done]),
            "build": median([r["build_seconds"] for r in done]),
            "rss": max(r["peak_rss_mb"] for r in done),
            "baseline": min(r["baseline_rss_mb"] for r in done),
            "all": ", ".join(f"{r['seconds']:.2f}" for r in done),
        }
        row["per_10k"] = row["seconds"] / records * 10_000 if records else 0.0
        rows.append(row)
        print(
            f"{size:>9,} | {row['seconds']:6.2f} s ({row['all']}) | {row['per_10k']:5.2f} s | "
            f"{row['scan']:6.2f} s | {row['build'] * 1000:5.1f} ms | {row['rss']:4.0f} MB "
            f"(base {row['baseline']:.0f}) | {row['callouts']:,} callouts + {row['emails']:,} "
            f"emails, {row['accounts']:,} accounts"
        )
    return rows


def arm_points(channels: int) -> set[int]:
    """After which posts a 429 is scripted: a fifth, half and four fifths of the way (10, 25, 40)."""
    return {max(1, channels * k // 10) for k in (2, 5, 8)}


class PostWatcher:
    """FakeSlack listener: counts posts per channel and arms one 429 after chosen post numbers."""

    def __init__(self, slack: FakeSlack, arm_after: set[int]) -> None:
        self.slack = slack
        self.arm_after = arm_after
        self.lock = threading.Lock()
        self.posted: list[tuple[str, float]] = []

    def __call__(self, event: SlackEvent) -> None:
        if event.kind != "message_posted":
            return
        with self.lock:
            self.posted.append((event.channel, time.monotonic()))
            count = len(self.posted)
        if count in self.arm_after:
            self.slack.fail_next("chat.postMessage", status=429, retry_after=1, times=1)

    def closest_same_channel(self) -> float | None:
        """The shortest gap between two posts to one channel (None if no channel got two)."""
        last: dict[str, float] = {}
        gaps = []
        for channel, at in self.posted:
            if channel in last:
                gaps.append(at - last[channel])
            last[channel] = at
        return min(gaps) if gaps else None


def post_fifty(args: argparse.Namespace) -> dict[str, Any]:
    """Part 2: one forced tick with `args.channels` subscriptions, each in its own channel."""
    from bot.deps import build_deps
    from bot.digest.service import run_due_digests
    from bot.store import NewSubscription

    bot_token = "xoxb-bench-" + secrets.token_hex(8)
    with (
        tempfile.TemporaryDirectory(prefix="zops-bench-") as tmp,
        FakeZuoraProcess("--latency", str(args.latency), "--seed", "7") as zuora,
        FakeSlack(token=bot_token) as slack,
    ):
        watcher = PostWatcher(slack, arm_after=arm_points(args.channels))
        slack.add_listener(watcher)
        settings = Settings(
            slack=SlackSettings(
                _env_file=None,
                bot_token=bot_token,
                signing_secret=secrets.token_hex(16),
                api_url=slack.base_url,
            ),
            zuora=zuora_settings(zuora.info, cache_ttl=30),
            store=StoreSettings(
                _env_file=None, database_url=f"sqlite:///{Path(tmp) / 'zuora-ops.db'}"
            ),
            digest=DigestSettings(_env_file=None),
            runtime=RuntimeSettings(_env_file=None),
        )
        deps = build_deps(settings)
        try:
            for i in range(args.channels):
                accounts = (f"A{i % 20 + 1:08d}",) if i % 10 == 9 else ()
                deps.store.add_subscription(
                    NewSubscription(
                        team_id="T0001",
                        channel_id=f"C{i + 1:08d}",
                        created_by="U0001",
                        created_at=TENANT_NOW - timedelta(days=1),
                        hour=9,
                        minute=0,
                        timezone="UTC",
                        accounts=accounts,
                    )
                )
            started = time.monotonic()
            results = run_due_digests(deps, TENANT_NOW, force=True, owner="bench")
            finished = time.monotonic()
        finally:
            deps.close()
        calls = slack.calls("chat.postMessage")
        channels = {call.params.get("channel") for call in calls}
        first, last = calls[0].at, calls[-1].at
        gaps = [b.at - a.at for a, b in zip(calls, calls[1:], strict=False)]
    statuses: dict[str, int] = {}
    for result in results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
    return {
        "interval": settings.digest.post_interval,
        "tick": finished - started,
        "before_first_post": first - started,
        "posting": last - first,
        "calls": len(calls),
        "median_gap": median(gaps) if gaps else 0.0,
        "retry_waits": [gap for gap in gaps if gap >= 0.9],
        "channels": len(channels),
        "posted_messages": len(watcher.posted),
        "statuses": statuses,
        "closest_same_channel": watcher.closest_same_channel(),
    }


def main(argv: list[str] | None = None) -> int:
    """Run both parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="25000,50000,100000", help="failures per window")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.005, help="fake Zuora s/request")
    parser.add_argument("--accounts", type=int, default=2000, help="accounts in the tenant")
    parser.add_argument("--concurrency", type=int, default=8, help="ZUORA_MAX_CONCURRENCY")
    parser.add_argument("--channels", type=int, default=50, help="subscribed channels")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--skip-post", action="store_true")
    args = parser.parse_args(argv)
    args.sizes = [int(part) for part in args.sizes.split(",") if part.strip()]

    print_header("digest_build: scan + summarize + build_digest, then post 50 digests")
    if not args.skip_build:
        print(
            f"part 1: bulk fake Zuora, {args.accounts:,} accounts, all records in the 24h window "
            f"(80% callouts, 20% emails), latency {args.latency * 1000:.0f} ms/request, our "
            f"concurrency {args.concurrency}; child process per run, median of {args.repeats}"
        )
        print(
            f"{'failures':>9} | wall time, median (runs)  | per 10k | scan+sum | build    | "
            "peak RSS       | counted"
        )
        rows = build_sizes(args)
        if rows:
            worst = max(row["rss"] for row in rows)
            print(
                f"peak RSS, largest run: {worst:.0f} MB (target < 150 MB)  {verdict(worst < 150)}"
            )
            spread = max(r["per_10k"] for r in rows) / min(r["per_10k"] for r in rows)
            print(
                f"time per 10k records varies by x{spread:.2f} across sizes "
                f"(1.00 = perfectly linear)"
            )
    if not args.skip_post:
        print()
        outcome = post_fifty(args)
        retried = outcome["calls"] - outcome["posted_messages"]
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(outcome["statuses"].items()))
        gap = outcome["closest_same_channel"]
        print(
            f"part 2: {args.channels} subscriptions in {outcome['channels']} channels, one forced "
            f"tick, DIGEST_POST_INTERVAL {outcome['interval']} s per channel, 429 "
            f"(Retry-After: 1) scripted after posts "
            f"{', '.join(str(n) for n in sorted(arm_points(args.channels)))}"
        )
        print(
            f"  tick {outcome['tick']:.2f} s = scans {outcome['before_first_post']:.2f} s "
            f"+ posting {outcome['posting']:.2f} s (first to last chat.postMessage; median "
            f"{outcome['median_gap'] * 1000:.0f} ms from one call to the next)"
        )
        print(
            f"  chat.postMessage calls {outcome['calls']} = {outcome['posted_messages']} posted "
            f"+ {retried} answered 429 and retried after Retry-After; results: {statuses}; "
            f"two posts to one channel: {'none' if gap is None else f'{gap:.2f} s apart'}"
        )
        waits = outcome["retry_waits"]
        print(
            f"  waits before the retries: {', '.join(f'{w:.2f} s' for w in waits) or 'none'} "
            f"(slack_sdk's RateLimitErrorRetryHandler sleeps Retry-After + up to 1 s jitter); "
            f"posting without them: {outcome['posting'] - sum(waits):.2f} s"
        )
        serial = (args.channels - 1) * outcome["interval"]
        print(
            f"  (one global {outcome['interval']} s pace would need ≥ {serial:.0f} s; "
            f"per-channel pacing lets {args.channels} channels go back to back)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
