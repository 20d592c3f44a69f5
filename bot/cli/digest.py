"""`zuora-ops digest`: post the due daily digests once, or print what they would post (--dry-run)."""

from __future__ import annotations

import argparse
from typing import IO

from bot.cli.common import EXIT_OK, EXIT_PARTIAL


def cmd_digest(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Post the due daily digests once (--force: every one), or print them (--dry-run)."""
    from bot.deps import build_deps
    from bot.digest.service import render_results, run_due_digests
    from bot.resend.service import worker_name
    from bot.settings import Settings
    from bot.slack.plain_text import mrkdwn_to_plain

    deps = build_deps(Settings.load())
    try:
        if not args.dry_run:
            owner = f"cli:{worker_name()}"
            posted = run_due_digests(deps, deps.now(), force=args.force, owner=owner)
            problems = ("failed", "unconfirmed", "deferred")
            return EXIT_PARTIAL if any(r.status in problems for r in posted) else EXIT_OK
        results = run_due_digests(deps, deps.now(), force=True, dry_run=True, owner="cli")
    finally:
        deps.close()
    if args.channel:
        results = [r for r in results if r.subscription.channel_id == args.channel]
    # The terminal gets what a reader sees in Slack, not the markup behind it.
    out.write(mrkdwn_to_plain(render_results(results) or "No digest subscriptions.") + "\n")
    return EXIT_OK
