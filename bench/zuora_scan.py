"""Benchmark (issue 3 §4): one account's failed callouts and emails over 7 days, three ways.

In one run, against a fake Zuora subprocess with a fixed latency per request and a tenant with about
2,000 failed callouts a day: (a) our ZuoraClient with its cache off, (b) the critical-path ideal
(pages needed ÷ concurrency × latency), (c) the way a user scripts it today with the official
`zuora_sdk` (sequential pages). Prints medians of the repeats and the two ratios, then the peak RSS
of a child process streaming 100,000 tenant-wide failed records with iter_failed_callouts/emails.

    .venv/bin/python -m bench.zuora_scan [--latency 0.05] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

if __package__ in (None, ""):  # run as a file: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench._support import (  # noqa: E402
    TENANT_NOW,
    FakeZuoraInfo,
    FakeZuoraProcess,
    median,
    peak_rss_mb,
    print_header,
    run_child,
    verdict,
    zuora_settings,
)
from bot.zuora.client import ZuoraClient, build_http_client  # noqa: E402
from bot.zuora.client.history import (  # noqa: E402
    CALLOUT_PATH,
    EMAIL_PATH,
    EMAIL_WINDOW,
    MAX_PAGE_SIZE,
)
from bot.zuora.models import (  # noqa: E402
    ACCOUNT_ID_KEYS,
    ACCOUNT_NUMBER_KEYS,
    Account,
    TimeWindow,
)
from bot.zuora.track import new_track_id  # noqa: E402

HISTORY_PATHS = (CALLOUT_PATH, EMAIL_PATH)


@dataclass
class PageLog:
    """History pages our client requested, by listing (path + window + account) and page number."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    requested: int = 0
    busy: float = 0.0  # summed round-trip seconds of the history pages
    last_page: dict[tuple[str, ...], int] = field(default_factory=dict)

    def reset(self) -> None:
        """Forget everything (before a repeat)."""
        with self.lock:
            self.requested = 0
            self.busy = 0.0
            self.last_page.clear()

    def hook(self, response: httpx.Response) -> None:
        """httpx response hook: count a history page and note where each listing ends."""
        url = response.request.url
        if url.path not in HISTORY_PATHS:
            return
        response.read()
        params = url.params
        listing = (
            url.path,
            params.get("startTime", ""),
            params.get("endTime", ""),
            params.get("accountId", ""),
        )
        page = int(params.get("page", "1"))
        has_more = b'"nextPage"' in response.content
        with self.lock:
            self.requested += 1
            self.busy += response.elapsed.total_seconds()
            if not has_more:
                known = self.last_page.get(listing)
                self.last_page[listing] = page if known is None else min(known, page)

    @property
    def needed(self) -> int:
        """Pages a perfect client needs: every listing's pages up to the one that said "no more"."""
        with self.lock:
            return sum(self.last_page.values())


@dataclass(frozen=True)
class Outcome:
    """One timed collection."""

    seconds: float
    callouts: int
    emails: int
    pages: int
    needed: int = 0
    busy: float = 0.0


def run_ours(client: ZuoraClient, log: PageLog, account: Account, window: TimeWindow) -> Outcome:
    """The two concurrent calls NotificationService makes for a failures card (cache off)."""
    log.reset()
    track_id = new_track_id("bench", "ours")
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.perf_counter()
        callouts = pool.submit(client.failed_callouts_for, account, window, track_id=track_id)
        emails = client.failed_emails_for(account, window, track_id=track_id)
        found = callouts.result()
        seconds = time.perf_counter() - started
    return Outcome(seconds, len(found), len(emails), log.requested, log.needed, log.busy)


class SdkScript:
    """A user's script with the official zuora_sdk: OAuth token, then pages one after another.

    Configuration.host is the fake's base URL; Configuration.datetime_format is set to Zuora's
    documented `yyyy-MM-ddTHH:mm:ss` (the SDK's default adds `.%f%z`, which the history API refuses);
    the token comes from the SDK's OAuthApi.create_token and goes into ApiClient.default_headers,
    which is what the SDK's own ZuoraClient._auth does. Times are naive tenant-local datetimes.
    """

    def __init__(self, info: FakeZuoraInfo) -> None:
        from zuora_sdk.api.notifications_api import NotificationsApi
        from zuora_sdk.api.o_auth_api import OAuthApi
        from zuora_sdk.api_client import ApiClient
        from zuora_sdk.configuration import Configuration

        config = Configuration(host=info.base_url)
        config.datetime_format = "%Y-%m-%dT%H:%M:%S"
        self.api_client = ApiClient(config)
        token = OAuthApi(self.api_client).create_token(
            client_id=info.client_id,
            client_secret=info.client_secret,
            grant_type="client_credentials",
        )
        self.api_client.default_headers["Authorization"] = f"Bearer {token.access_token}"
        self.api = NotificationsApi(self.api_client)
        self.zone = ZoneInfo(info.timezone)

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def collect(self, account: Account, window: TimeWindow) -> Outcome:
        """Callouts over the whole window (filtered by eventContext), emails in 3-day slices."""
        started = time.perf_counter()
        pages = 0
        callouts = 0
        page = 1
        while True:
            callout_page = self.api.get_callout_history(
                page=page,
                page_size=MAX_PAGE_SIZE,
                start_time=self._local(window.start),
                end_time=self._local(window.end),
                failed_only=True,
            )
            pages += 1
            for record in callout_page.callout_histories or []:
                context: Any = record.event_context  # the SDK types it str; JSON inside
                if isinstance(context, str):
                    context = json.loads(context) if context else {}
                if _belongs_to(context or {}, account):
                    callouts += 1
            if not callout_page.next_page:
                break
            page += 1
        emails = 0
        for piece in window.split(EMAIL_WINDOW):
            page = 1
            while True:
                email_page = self.api.get_email_history(
                    page=page,
                    page_size=MAX_PAGE_SIZE,
                    account_id=account.id,
                    start_time=self._local(piece.start),
                    end_time=self._local(piece.end),
                    failed_only=True,
                )
                pages += 1
                emails += len(email_page.email_histories or [])
                if not email_page.next_page:
                    break
                page += 1
        return Outcome(time.perf_counter() - started, callouts, emails, pages)

    def close(self) -> None:
        """Release the SDK's connection pool."""
        self.api_client.rest_client.pool_manager.clear()


def _belongs_to(context: dict[str, Any], account: Account) -> bool:
    """The account match a script needs: any account id or number merge field of eventContext."""
    return any(context.get(key) == account.id for key in ACCOUNT_ID_KEYS) or any(
        context.get(key) == account.number for key in ACCOUNT_NUMBER_KEYS
    )


def stream_rss(args: argparse.Namespace) -> dict[str, Any]:
    """Peak RSS of a child streaming ~N tenant-wide failed records (bulk fake, 95% failed)."""
    failed_callouts = int(args.stream_records * 0.8)
    failed_emails = args.stream_records - failed_callouts
    # build_bulk_tenant marks one record in 20 as a success; ask for enough to get N failures.
    bulk = [
        "--bulk-callouts",
        str(round(failed_callouts / 0.95)),
        "--bulk-emails",
        str(round(failed_emails / 0.95)),
        "--days",
        "7",
        "--accounts",
        "500",
        "--latency",
        str(args.stream_latency),
    ]
    with FakeZuoraProcess(*bulk) as fake:
        info = fake.info
        spec = {
            "base_url": info.base_url,
            "client_id": info.client_id,
            "client_secret": info.client_secret,
            "timezone": info.timezone,
            "concurrency": args.concurrency,
            "end": TENANT_NOW.isoformat(),
            "seconds": timedelta(days=7).total_seconds(),
            "label": "7d",
        }
        result = run_child("bench._child", ["stream", json.dumps(spec)])
    result["tenant_callouts"] = info.callouts
    result["tenant_emails"] = info.emails
    return result


def _timed(label: str, action: Callable[[], Outcome]) -> Outcome:
    outcome = action()
    print(
        f"  {label:<5} {outcome.seconds:7.2f} s  {outcome.pages:4d} pages"
        + (f" ({outcome.needed} needed)" if outcome.needed else "")
        + f"  -> {outcome.callouts} callouts, {outcome.emails} emails"
    )
    return outcome


def main(argv: list[str] | None = None) -> int:
    """Run the three timings and the streaming memory figure; print them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per fake request")
    parser.add_argument("--callouts-per-day", type=int, default=2000, help="failed callouts/day")
    parser.add_argument("--account-emails", type=int, default=400, help="the account's emails")
    parser.add_argument("--concurrency", type=int, default=8, help="ZUORA_MAX_CONCURRENCY")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stream-records", type=int, default=100_000)
    parser.add_argument("--stream-latency", type=float, default=0.0)
    parser.add_argument("--skip-sdk", action="store_true", help="time only our client")
    parser.add_argument("--skip-rss", action="store_true", help="skip the streaming RSS figure")
    parser.add_argument("--quick", action="store_true", help="1 repeat, 20,000 streamed records")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.stream_records = 1, min(args.stream_records, 20_000)

    print_header("zuora_scan: one account's failed callouts + emails over 7 days")
    # build_tenant makes callouts_per_day x 1.1 callouts a day, one in 11 a success: N failures/day.
    fake_args = [
        "--latency",
        str(args.latency),
        "--seed",
        "7",
        "--days",
        "7",
        "--callouts-per-day",
        str(args.callouts_per_day),
        "--big-account-emails",
        str(args.account_emails),
    ]
    window = TimeWindow.ending_at(TENANT_NOW, timedelta(days=7), "7d")
    ours: list[Outcome] = []
    sdk: list[Outcome] = []
    with FakeZuoraProcess(*fake_args) as fake:
        info = fake.info
        log = PageLog()
        settings = zuora_settings(info, max_concurrency=args.concurrency, cache_ttl=0)
        http = build_http_client(settings)
        http.event_hooks = {"request": [], "response": [log.hook]}
        client = ZuoraClient(http, settings)
        before_sdk = peak_rss_mb()
        script = None if args.skip_sdk else SdkScript(info)
        sdk_import_mb = peak_rss_mb() - before_sdk
        try:
            account = client.get_account("A00000001", track_id=new_track_id("bench", "warm"))
            print(
                f"tenant: {info.callouts:,} callouts over 7 days (~{args.callouts_per_day:,} "
                f"failed/day, 1 in 11 succeeded), {info.emails:,} emails; account "
                f"{account.number} has ~{args.account_emails} failed emails; "
                f"fake latency {args.latency * 1000:.0f} ms/request; our concurrency "
                f"{args.concurrency}; OAuth token fetched before timing"
            )
            for repeat in range(1, args.repeats + 1):
                print(f"repeat {repeat}:")
                ours.append(_timed("ours", lambda: run_ours(client, log, account, window)))
                if script is not None:
                    sdk.append(_timed("sdk", lambda: script.collect(account, window)))
        finally:
            client.close()
            http.close()
            if script is not None:
                script.close()

    ours_s = median([o.seconds for o in ours])
    needed = int(median([o.needed for o in ours]))
    ideal_s = needed / args.concurrency * args.latency
    print()
    print(f"(a) ours, cache off           {ours_s:7.2f} s  (median of {len(ours)})")
    print(
        f"(b) ideal critical path       {ideal_s:7.2f} s  = {needed} pages needed ÷ "
        f"{args.concurrency} in flight × {args.latency:.3f} s"
    )
    print(
        "    pages needed = for each listing our client scans (7 one-day callout slices, three "
        "≤3-day email slices of the account), the number of the page that had no nextPage; "
        "counted from the responses. OAuth and the account lookup happen before the clock starts."
    )
    ratio_ideal = ours_s / ideal_s
    print(f"    ours/ideal = {ratio_ideal:.2f}  (target ≤ 1.3)  {verdict(ratio_ideal <= 1.3)}")
    trip = median([o.busy / o.pages for o in ours])
    in_flight = median([o.busy / o.seconds for o in ours])
    print(
        f"    where ours loses time: mean page round trip {trip * 1000:.0f} ms for a "
        f"{args.latency * 1000:.0f} ms latency (fake's work + parsing), {in_flight:.1f} pages in "
        f"flight on average of {args.concurrency}, {ours[0].pages - needed} pages requested past "
        f"the end of a listing"
    )
    if sdk:
        sdk_s = median([o.seconds for o in sdk])
        print(
            f"(c) zuora_sdk 3.21.0, sequential {sdk_s:7.2f} s  (median of {len(sdk)}; "
            f"{sdk[0].pages} pages, one at a time)"
        )
        print(
            "    NotificationsApi.get_callout_history over the 7 days (pageSize 40, page 1..n, "
            "failed_only, kept when an eventContext account id/number merge field matches) then "
            "get_email_history "
            "(account_id, 3-day slices, page 1..n); token via OAuthApi.create_token set in "
            "ApiClient.default_headers; Configuration.datetime_format = '%Y-%m-%dT%H:%M:%S'."
        )
        print(
            f"    (importing zuora_sdk and building its client raised this process's peak RSS by "
            f"{sdk_import_mb:.0f} MB)"
        )
        ratio_sdk = sdk_s / ours_s
        print(f"    sdk/ours = {ratio_sdk:.1f}  (target ≥ 5)  {verdict(ratio_sdk >= 5)}")

    if not args.skip_rss:
        print()
        result = stream_rss(args)
        streamed = result["callouts"] + result["emails"]
        print(
            f"streaming {streamed:,} tenant-wide failed records ({result['callouts']:,} callouts "
            f"+ {result['emails']:,} emails, bulk fake, latency {args.stream_latency * 1000:.0f} "
            f"ms) in a child running only the client: {result['seconds']:.1f} s, peak RSS "
            f"{result['peak_rss_mb']:.0f} MB (after imports + token: "
            f"{result['baseline_rss_mb']:.0f} MB)  (target < 150 MB)  "
            f"{verdict(result['peak_rss_mb'] < 150)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
