"""`zuora-ops`: the offline demo, and a CLI twin of the cards for ops people and scripts.

Exit codes scripts can rely on: 0 ok, 1 partial failure, 2 usage error, 3 Zuora unreachable or refused.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import IO

from bot.cli.common import DEFAULT_WINDOW, EXIT_OK, EXIT_USAGE, EXIT_ZUORA, window_help
from bot.cli.demo import cmd_demo
from bot.cli.digest import cmd_digest
from bot.cli.failures import cmd_failures
from bot.cli.outages import cmd_outages
from bot.cli.replay import cmd_replay
from bot.cli.resend import cmd_resend
from bot.core.command_text import UsageError
from bot.explain import explain
from bot.settings import SettingsError
from bot.zuora.errors import ZuoraError, ZuoraInputError


def build_parser() -> argparse.ArgumentParser:
    """The argument grammar of `zuora-ops`."""
    parser = argparse.ArgumentParser(prog="zuora-ops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="offline sandbox Zuora + real bot + Slack playground")
    demo.add_argument("--port", type=int, default=8080, help="playground port (0 = any)")
    demo.add_argument("--bot-port", type=int, default=0, help="bot port (0 = any)")
    demo.add_argument("--verbose", action="store_true", help="log the bot's INFO lines")
    demo.add_argument(
        "--alert-check",
        type=float,
        default=10.0,
        help="seconds between the demo clock's spike-alert checks (default 10)",
    )
    demo.add_argument(
        "--spike-every",
        type=float,
        default=6.0,
        help="seconds between the live spike's failures (default 6; 0 = no live spike)",
    )
    demo.set_defaults(run=cmd_demo)
    failures = sub.add_parser("failures", help="an account's failed callouts and emails")
    failures.add_argument("account")
    failures.add_argument("--window", default=DEFAULT_WINDOW, help=window_help("failures"))
    failures.add_argument("--json", action="store_true")
    failures.add_argument("--progress", action="store_true", help="show progress when piped")
    failures.set_defaults(run=cmd_failures)
    outages = sub.add_parser("outages", help="the tenant's failures grouped by cause")
    outages.add_argument("--window", default=DEFAULT_WINDOW, help=window_help("outages"))
    outages.add_argument("--json", action="store_true")
    outages.add_argument("--progress", action="store_true", help="draw the bar when piped")
    outages.set_defaults(run=cmd_outages)
    resend = sub.add_parser("resend", help="resend email (or callout) history ids")
    resend.add_argument(
        "ids",
        nargs="+",
        help="notification history IDs (not account numbers), from Zuora or `failures`",
    )
    resend.add_argument("--kind", choices=("email", "callout"), default="email")
    resend.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    resend.add_argument("--json", action="store_true")
    resend.add_argument("--user", default="cli", help="who to name in the audit trail")
    resend.add_argument(
        "--again",
        action="store_true",
        help="resend ids someone resent within RESEND_ONCE_WINDOW anyway (a deliberate second time)",
    )
    resend.set_defaults(run=cmd_resend)
    replay = sub.add_parser("replay", help="resend every failure of one outage cause")
    replay.add_argument("cause_id", help="the cause's id, as `outages` lists it")
    replay.add_argument("--window", default=DEFAULT_WINDOW, help=window_help("replay"))
    replay.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    replay.add_argument("--progress", action="store_true", help="draw the bar when piped")
    replay.add_argument("--user", default="cli", help="who to name in the audit trail")
    replay.add_argument(
        "--include-retrying",
        action="store_true",
        help="also resend callouts Zuora still retries by itself (they may arrive twice)",
    )
    replay.set_defaults(run=cmd_replay)
    digest = sub.add_parser("digest", help="post the due daily digests, or print them (--dry-run)")
    digest.add_argument("--dry-run", action="store_true")
    digest.add_argument(
        "--force",
        action="store_true",
        help="treat every subscription as due now (still once a day)",
    )
    digest.add_argument("--channel", help="only this channel ID")
    digest.set_defaults(run=cmd_digest)
    return parser


def main(
    argv: Sequence[str] | None = None, *, out: IO[str] | None = None, err: IO[str] | None = None
) -> int:
    """Run one subcommand and map every failure to a clear message and an exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return EXIT_USAGE if exc.code else EXIT_OK
    run: Callable[[argparse.Namespace, IO[str], IO[str]], int] = args.run
    try:
        return run(args, out, err)
    except (UsageError, SettingsError) as exc:
        err.write(f"{exc}\n")
        return EXIT_USAGE
    except ZuoraInputError as exc:  # the local input guard: nothing was sent to Zuora
        err.write(f"{exc}. Nothing was sent to Zuora.\n")
        return EXIT_USAGE
    except ZuoraError as exc:
        explanation = explain(exc)
        err.write(f"{explanation.message} {explanation.hint or ''}".rstrip() + "\n")
        return EXIT_ZUORA
