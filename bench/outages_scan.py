"""Benchmark (outages issue): tenant-wide `outages 24h` over 100,000 failed records at 50 ms/request.

A bulk fake Zuora subprocess holds ~100,000 failed records in the last 24 hours (80% callouts, 20%
emails, 500 accounts) and answers every request after a fixed latency. A child process that runs
only our code (ZuoraClient -> scan_outages -> build_outages_card) measures the time from the first
history request to the finished card, and its own peak RSS. Prints the median of the repeats against
the critical-path ideal (pages needed ÷ concurrency × latency; target ≤ 1.3×) and the peak RSS
(target < 150 MB).

    .venv/bin/python -m bench.outages_scan [--records 100000] [--latency 0.05] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
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
)

CALLOUT_SHARE = 0.8
FAILED_SHARE = 0.95  # build_bulk_tenant makes one record in 20 a success


def main(argv: list[str] | None = None) -> int:
    """Run the repeats and print time to card, the ideal, the ratio and peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000, help="failed records in 24h")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per fake request")
    parser.add_argument("--concurrency", type=int, default=8, help="ZUORA_MAX_CONCURRENCY")
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    print_header("outages_scan: tenant-wide /zuora outages 24h")
    bulk = [
        "--bulk-callouts",
        str(round(args.records * CALLOUT_SHARE / FAILED_SHARE)),
        "--bulk-emails",
        str(round(args.records * (1 - CALLOUT_SHARE) / FAILED_SHARE)),
        "--days",
        "1",
        "--accounts",
        str(args.accounts),
        "--latency",
        str(args.latency),
    ]
    runs: list[dict[str, Any]] = []
    with FakeZuoraProcess(*bulk) as fake:
        info = fake.info
        spec = {
            "base_url": info.base_url,
            "client_id": info.client_id,
            "client_secret": info.client_secret,
            "timezone": info.timezone,
            "concurrency": args.concurrency,
            "end": TENANT_NOW.isoformat(),
            "seconds": timedelta(hours=24).total_seconds(),
            "label": "24h",
        }
        print(
            f"tenant: {info.callouts:,} callouts + {info.emails:,} emails over 24 h (1 in 20 a "
            f"success), {info.accounts:,} accounts; fake latency {args.latency * 1000:.0f} ms/request; "
            f"our concurrency {args.concurrency}; OAuth token fetched before timing"
        )
        for repeat in range(1, args.repeats + 1):
            result = run_child("bench._outages_child", [json.dumps(spec)])
            runs.append(result)
            print(
                f"  repeat {repeat}: {result['seconds']:6.2f} s to card (scan "
                f"{result['scan_seconds']:.2f} s, card {result['card_seconds'] * 1000:.1f} ms), "
                f"{result['pages']} pages ({result['needed']} needed), "
                f"{result['callouts']:,} callouts + {result['emails']:,} emails -> "
                f"{result['causes']} causes, {result['blocks']} blocks; peak RSS "
                f"{result['peak_rss_mb']:.0f} MB, child CPU {result['cpu_seconds']:.1f} s"
            )

    seconds = median([r["seconds"] for r in runs])
    needed = int(median([r["needed"] for r in runs]))
    ideal = needed / args.concurrency * args.latency
    ratio = seconds / ideal
    rss = max(r["peak_rss_mb"] for r in runs)
    trip = median([r["busy"] / r["pages"] for r in runs])
    in_flight = median([r["busy"] / r["scan_seconds"] for r in runs])
    print()
    print(f"time to card      {seconds:7.2f} s  (median of {len(runs)})")
    print(
        f"ideal             {ideal:7.2f} s  = {needed} pages needed ÷ {args.concurrency} in flight "
        f"× {args.latency:.3f} s (per listing: the page that had no nextPage)"
    )
    print(f"ratio to ideal    {ratio:7.2f}    (target ≤ 1.3)  {verdict(ratio <= 1.3)}")
    print(
        f"                  mean page round trip {trip * 1000:.0f} ms, {in_flight:.1f} pages in "
        f"flight on average, {runs[0]['pages'] - needed} pages requested past a listing's end"
    )
    print(
        f"peak RSS          {rss:7.0f} MB (child running only our code; after imports + token "
        f"{min(r['baseline_rss_mb'] for r in runs):.0f} MB)  (target < 150 MB)  {verdict(rss < 150)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
