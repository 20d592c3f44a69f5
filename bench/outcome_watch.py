"""Benchmark (issue 18, "did it work?"): what watching a resend's outcome costs in Zuora requests,
and how soon its outcome reaches the card.

The sandbox Zuora runs in this process (every request delayed by --latency) because the benchmark
moves its clock and configures who fails again; fake Slack takes the response_url posts. The real
App (signed dispatch) resends, and the clock's own outcome checks (bot.clock.check_outcomes) look
at the history. Prints, as medians over --repeats:

1. extra Zuora requests per resend, counted from Zuora's answer to the end of the watch: delivered
   at the first look, and never seen (RESEND_WATCH_CHECKS looks, then "no outcome yet");
2. for one --n-id outage replay (one cause): history listings per look (target 1, batched per
   cause) and the pages they took, against one listing per id;
3. the wall time from the resend click to "delivered" on the card, with the clock's loop running
   (bot.clock.run_redriver) and a short first delay (--first seconds; the sandbox adds the new record
   --redeliver seconds after the resend).

    .venv/bin/python -m bench.outcome_watch [--repeats 5] [--n 1000] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import median, print_header, verdict  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.clock import check_outcomes, run_redriver  # noqa: E402
from bot.deps import Deps, build_deps  # noqa: E402
from bot.sandbox.replay_tenant import OUTAGE_CAUSE, build_outage_tenant  # noqa: E402
from bot.sandbox.slack_requests import block_actions_body, sign, slash_command_body  # noqa: E402
from bot.sandbox.stack import SandboxStack  # noqa: E402
from bot.sandbox.tenant import Tenant, build_tenant  # noqa: E402

ACCOUNT = "A00000017"
JsonDict = dict[str, Any]


@dataclasses.dataclass
class Bench:
    """The sandbox stack, the real Deps and App over it."""

    stack: SandboxStack
    deps: Deps
    app: Any

    def dispatch(self, body: bytes) -> None:
        """Sign and dispatch one Slack request (Bolt answers after the listener ran)."""
        from slack_bolt import BoltRequest

        headers: dict[str, Any] = sign(self.stack.signing_secret, body, int(time.time()))
        response = self.app.dispatch(BoltRequest(body=body.decode(), headers=headers))
        assert response.status == 200, response.body

    def card(self) -> JsonDict:
        """`/zuora failures A00000017 7d`: the card posted after the ack."""
        url = self.stack.slack.response_url("cmd", kind="command")
        self.dispatch(slash_command_body(text=f"failures {ACCOUNT}", response_url=url))
        self.stack.slack.wait_for(lambda: bool(self.stack.slack.responses(url)), 30)
        return self.stack.slack.responses(url)[-1]

    def click(self, element: JsonDict) -> str:
        """Click a control; its response_url."""
        url = self.stack.slack.response_url("click", kind="interaction")
        self.dispatch(
            block_actions_body(
                action_id=str(element["action_id"]),
                block_id=str(element["block_id"]),
                value=element.get("value"),
                response_url=url,
            )
        )
        return url

    def zuora_requests(self) -> int:
        """Requests the sandbox Zuora received since its log was reset."""
        return len(self.stack.zuora.requests())


@contextmanager
def running(tenant: Tenant, latency: float, **resend: Any) -> Iterator[Bench]:
    """A started stack on a temporary SQLite file, with the real Deps and App."""
    with tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp:
        # Cache off: a real first look comes 30 s on, after the 30 s read cache has expired.
        stack = SandboxStack(
            Path(tmp), tenant=tenant, latency=latency, zuora_overrides={"cache_ttl": 0.0}
        )
        stack.zuora.start()
        stack.slack.start()
        settings = stack.settings()
        if resend:
            settings = settings.model_copy(
                update={"resend": settings.resend.model_copy(update=resend)}
            )
        deps = build_deps(settings)
        try:
            yield Bench(stack, deps, create_app(deps, process_before_response=True))
        finally:
            deps.close()
            stack.slack.stop()
            stack.zuora.stop()


def resend_buttons(card: JsonDict) -> list[JsonDict]:
    """The card's row Resend buttons (emails), with their block ids."""
    found = []
    for block in card.get("blocks") or []:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == "zuora.resend_email":
            found.append({**accessory, "block_id": block.get("block_id", "")})
    return found


def later(deps: Deps, seconds: float) -> Deps:
    """The Deps with a clock `seconds` ahead (the watch's looks come due without waiting)."""
    return dataclasses.replace(deps, now=lambda: datetime.now(UTC) + timedelta(seconds=seconds))


def per_resend(args: argparse.Namespace, *, delivered: bool) -> list[int]:
    """Extra Zuora requests of each resend's watch, from Zuora's answer to the final outcome."""
    tenant = build_tenant(seed=7, now=datetime.now(UTC))
    if not delivered:
        tenant.redelivery_delay = timedelta(days=1)
    counts = []
    with running(tenant, args.latency) as bench:
        for row in resend_buttons(bench.card())[: args.repeats]:
            bench.click(row)
            bench.stack.zuora.advance(10)
            bench.stack.zuora.reset_log()
            elapsed, ended = 0.0, 0
            for look in range(bench.deps.settings.resend.resend_watch_checks):
                elapsed += bench.deps.settings.resend.resend_watch_first_seconds * 2**look
                ended += check_outcomes(later(bench.deps, elapsed + 1))
                if ended:
                    break
            assert ended == 1, "the watch did not end"
            counts.append(bench.zuora_requests())
    return counts


def per_replay(args: argparse.Namespace) -> list[tuple[int, int, int]]:
    """(listings per look, pages of those, all extra requests) of an --n-id replay's watch."""
    results = []
    for _ in range(args.repeats):
        tenant = build_outage_tenant(failed=args.n, now=datetime.now(UTC))
        with running(tenant, args.latency) as bench:
            from bot.core.actions import OutageRef

            end = datetime.now(UTC).replace(microsecond=0)
            ref = OutageRef(
                c=OUTAGE_CAUSE.id,
                s=int((end - timedelta(hours=25)).timestamp()),
                e=int(end.timestamp()),
                w="25h",
            )
            bench.click(
                {"action_id": "zuora.outage_replay", "block_id": "outage", "value": ref.encode()}
            )
            bench.stack.zuora.advance(10)
            bench.stack.zuora.reset_log()
            assert check_outcomes(later(bench.deps, 31)) == 1
            since = [
                r
                for r in bench.stack.zuora.requests("/v1/notification-history/")
                if r.query.get("failedOnly") == ["false"]
            ]
            listings = len({r.query["startTime"][0] for r in since})
            results.append((listings, len(since), bench.zuora_requests()))
    return results


def to_card(args: argparse.Namespace) -> list[float]:
    """Seconds from the resend click to "delivered" on its card, the clock loop running."""
    tenant = build_tenant(seed=7, now=datetime.now(UTC))
    tenant.redelivery_delay = timedelta(seconds=args.redeliver)
    times = []
    with running(tenant, args.latency, resend_watch_first_seconds=args.first) as bench:
        stop = threading.Event()
        clock = threading.Thread(target=run_redriver, args=(bench.deps, stop), daemon=True)
        clock.start()
        try:
            for row in resend_buttons(bench.card())[: args.repeats]:
                started = time.monotonic()
                url = bench.click(row)

                def delivered(url: str = url) -> bool:
                    posts = bench.stack.slack.responses(url)
                    return bool(posts) and "delivered" in json.dumps(posts[-1])

                assert bench.stack.slack.wait_for(delivered, 60), "no outcome on the card"
                times.append(time.monotonic() - started)
        finally:
            stop.set()
            clock.join(timeout=10)
    return times


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print their medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n", type=int, default=1000, help="ids in the replay")
    parser.add_argument("--latency", type=float, default=0.02, help="fake Zuora s/request")
    parser.add_argument("--first", type=float, default=1.0, help="RESEND_WATCH_FIRST_SECONDS")
    parser.add_argument("--redeliver", type=float, default=0.5, help="sandbox new-record delay")
    args = parser.parse_args(argv)
    print_header("outcome watch: extra Zuora requests and time to the outcome on the card")

    seen = per_resend(args, delivered=True)
    unseen = per_resend(args, delivered=False)
    print(
        f"extra Zuora requests per resend, delivered at the first look: median {median(seen):.0f}"
    )
    print(
        f"extra Zuora requests per resend, never seen (5 looks):      median {median(unseen):.0f}"
    )

    replay = per_replay(args)
    listings = median([r[0] for r in replay])
    print(
        f"{args.n:,}-id replay (one cause), first look: {listings:.0f} listing(s) since the resend "
        f"({median([r[1] for r in replay]):.0f} pages of 40), {median([r[2] for r in replay]):.0f} "
        f"requests in all with finding the originals; one per id would be {args.n:,} listings "
        f"[{verdict(listings == 1)}: 1 listing per look per cause]"
    )

    times = to_card(args)
    print(
        f"resend click -> 'delivered' on the card (first look after {args.first:g} s, new record "
        f"after {args.redeliver:g} s, clock loop every {args.first / 2:g} s): median "
        f"{median(times):.2f} s, max {max(times):.2f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
