"""`zuora-ops digest --dry-run`: what the daily digests would post, as plain text."""

from __future__ import annotations

import argparse
from typing import IO

from bot.cli.common import EXIT_OK, EXIT_USAGE


def cmd_digest(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Print what the daily digests would post (with --dry-run), optionally for one channel."""
    from bot.deps import build_deps
    from bot.digest.service import render_results, run_due_digests
    from bot.settings import Settings
    from bot.slack.plain_text import mrkdwn_to_plain

    if not args.dry_run:
        err.write("Only --dry-run is available here; the clock process posts digests.\n")
        return EXIT_USAGE
    deps = build_deps(Settings.load())
    try:
        results = run_due_digests(deps, deps.now(), force=True, dry_run=True, owner="cli")
    finally:
        deps.close()
    if args.channel:
        results = [r for r in results if r.subscription.channel_id == args.channel]
    # The terminal gets what a reader sees in Slack, not the markup behind it.
    out.write(mrkdwn_to_plain(render_results(results) or "No digest subscriptions.") + "\n")
    return EXIT_OK
