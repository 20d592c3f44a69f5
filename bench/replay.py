"""Benchmark (issue: replay a cause): "Resend all 10,000" of one outage, clicked twice at once.

Two races (issue 16): the same card clicked by two people, and two people's cards of one outage drawn
7 s apart (two windows, same cause) clicked at once; each on a fresh database.

The sandbox Zuora (in this process, every request delayed by --latency) holds a tenant with N failed
callouts of one cause among ordinary noise; fake Slack takes the response_url posts. Two worker
processes, each with its own Deps and App on one database (SQLite file, or PostgreSQL with --pg),
receive the same signed "Resend all N" click released at the same instant, as two people clicking
one outages card served by two gunicorn workers. Prints wall time of the slower click, Zuora
requests made (resend calls, target ⌈N/1000⌉), history reads, response_url posts, and the ids Zuora
resent more than once (target 0).

    .venv/bin/python -m bench.replay [--n 10000] [--latency 0.05] [--pg URL] [--race both]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import REPO_ROOT, child_env, print_header, verdict  # noqa: E402
from bot.core.actions import ActionId, OutageRef  # noqa: E402
from bot.sandbox.fake_env import fakes_env
from bot.sandbox.fake_slack import FakeSlack  # noqa: E402
from bot.sandbox.fake_zuora import FakeZuora  # noqa: E402
from bot.sandbox.replay_tenant import OUTAGE_CAUSE, build_outage_tenant  # noqa: E402
from bot.sandbox.slack_requests import block_actions_body  # noqa: E402

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-bench-replay"


def worker() -> int:
    """Child: build Deps and App from the environment, wait for 'go', dispatch the click."""
    from slack_bolt import BoltRequest

    from bot.app import create_app
    from bot.deps import build_deps
    from bot.sandbox.slack_requests import sign
    from bot.settings import Settings

    body = Path(os.environ["BENCH_CLICK_BODY"]).read_bytes()
    deps = build_deps(Settings.load(env_file=None))
    app = create_app(deps, process_before_response=True)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    headers = dict(sign(SIGNING_SECRET, body, int(time.time())))
    response = app.dispatch(BoltRequest(body=body.decode(), headers=headers))
    elapsed = time.perf_counter() - started
    deps.close()
    print(json.dumps({"status": response.status, "seconds": elapsed}), flush=True)
    return 0


def main() -> int:
    """Parent: parse, then run each race on a fresh database; 0 when every race met its targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="failed callouts of the cause")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Zuora request")
    parser.add_argument("--pg", help="a PostgreSQL URL (a schema per race is made and dropped)")
    parser.add_argument(
        "--race",
        choices=("one-card", "two-cards", "both"),
        default="both",
        help="one card clicked twice, two cards (two windows) of the cause, or both races",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker()
    races = ("one-card", "two-cards") if args.race == "both" else (args.race,)
    results = [race(args, two_cards=name == "two-cards") for name in races]
    return 0 if all(results) else 1


@contextmanager
def fresh_database(pg_url: str | None, workdir: str) -> Iterator[str]:
    """A SQLite file in `workdir`, or a throwaway schema on `pg_url` (dropped afterwards)."""
    if not pg_url:
        yield f"sqlite:///{workdir}/bench.db"
        return
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    name = f"bench_replay_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        sa.make_url(pg_url).set(drivername="postgresql+psycopg"), poolclass=NullPool
    )
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        url = sa.make_url(pg_url).update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        admin.dispose()


def race(args: argparse.Namespace, *, two_cards: bool) -> bool:
    """Two workers, one race: the same card clicked twice, or two cards' windows of one cause."""
    what = "two cards (two windows, 7 s apart)" if two_cards else "one card clicked twice"
    print_header(f"replay of {args.n:,} callouts of one cause: {what}, two workers")
    now = datetime.now(UTC).replace(microsecond=0)
    tenant = build_outage_tenant(failed=args.n, now=now, noise=500, accounts=400)
    with (
        tempfile.TemporaryDirectory(prefix="bench-replay-") as workdir,
        fresh_database(args.pg, workdir) as database_url,
        FakeZuora(tenant, latency=args.latency).start() as zuora,
        FakeSlack(token=BOT_TOKEN) as slack,
    ):
        window_end = now + timedelta(minutes=5)
        refs = [
            OutageRef(
                c=OUTAGE_CAUSE.id,
                s=int((card_end - timedelta(hours=26)).timestamp()),
                e=int(card_end.timestamp()),
                w="26h",
                n=args.n,
            )
            for card_end in (
                (window_end - timedelta(seconds=7), window_end)
                if two_cards
                else (window_end, window_end)
            )
        ]
        urls = [slack.response_url(f"click{i}", kind="interaction") for i in range(2)]
        env = {
            **fakes_env(
                slack,
                zuora,
                bot_token=BOT_TOKEN,
                signing_secret=SIGNING_SECRET,
                timezone=tenant.timezone,
            ),
            "ZUORA_CACHE_TTL": "0",
            "RESEND_ALLOWED_USERS": "*",
            "DATABASE_URL": database_url,
        }
        children = []
        for i, (url, ref) in enumerate(zip(urls, refs, strict=True)):
            body_file = Path(workdir) / f"click{i}.body"
            body_file.write_bytes(
                block_actions_body(
                    action_id=ActionId.OUTAGE_REPLAY.value,
                    block_id="outage",
                    value=ref.encode(),
                    response_url=url,
                    user_id=f"U000{i + 1}",
                    message_ts=f"170000000{i if two_cards else 0}.000100",  # per card
                )
            )
            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.replay", "--worker"],
                    cwd=REPO_ROOT,
                    env=child_env({**env, "BENCH_CLICK_BODY": str(body_file)}),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("a worker did not start")
        zuora.reset_log()
        started = time.perf_counter()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, _ = child.communicate(timeout=600)
            results.append(json.loads(out.strip().splitlines()[-1]))
        wall = time.perf_counter() - started
        calls = zuora.resend_calls("callout")
        resent = Counter(zuora.resend_counts())
        reads = len(zuora.requests("/v1/notification-history/"))
        posts = [len(slack.responses(url)) for url in urls]
        texts = [
            (slack.responses(url)[-1].get("text") if slack.responses(url) else "") for url in urls
        ]
    target_calls = math.ceil(args.n / 1000)
    dupes = sum(1 for count in resent.values() if count > 1)
    print(f"latency per Zuora request     {args.latency * 1000:.0f} ms")
    print(f"database                      {'PostgreSQL' if args.pg else 'SQLite file'}")
    print(f"wall time (both clicks done)  {wall:.2f} s")
    print(f"click answers                 {[r['status'] for r in results]}")
    durations = ", ".join(f"{r['seconds']:.2f} s" for r in results)
    print(f"click durations               {durations}")
    print(
        f"resend requests to Zuora      {len(calls)} (target {target_calls}) "
        f"{verdict(len(calls) == target_calls)}"
    )
    print(f"  ids per request             {[len(c.ids) for c in calls]}")
    print(f"  distinct Idempotency-Keys   {len({c.idempotency_key for c in calls})}")
    print(f"history list reads            {reads} (one scan per click at most)")
    print(f"ids resent                    {len(resent):,} of {args.n:,}")
    print(f"ids resent more than once     {dupes} (target 0) {verdict(dupes == 0)}")
    print(f"response_url posts per click  {posts} (Slack allows 5)")
    print(f"final texts                   {texts}")
    return len(calls) == target_calls and dupes == 0 and len(resent) == args.n


if __name__ == "__main__":
    raise SystemExit(main())
