"""`zuora-ops resend <id> …`: resend history ids once per notification, as a Slack click does."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import IO

from bot.cli.common import EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, _client, _minute, plural
from bot.core.command_text import MIN_TYPED_ID, UsageError
from bot.settings import ZuoraSettings, load_area
from bot.zuora.guard import is_history_id
from bot.zuora.models import ResendResult
from bot.zuora.track import new_track_id


def cmd_resend(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Resend history ids after a confirmation (or --yes); exit 1 if any id failed or was left out.

    The ids are claimed per notification in the bot's database, as a Slack click claims them: an id
    anyone resent within RESEND_ONCE_WINDOW is left out and named (who, when, what became of it)
    unless `--again` asks for a deliberate second resend.
    """
    from bot.audit.service import result_per_id, result_status
    from bot.resend.once import claim_state, notification_scope, once_window
    from bot.resend.service import attempt_key, worker_name
    from bot.settings import ResendSettings, StoreSettings
    from bot.store import OnceRule, ResendRequest
    from bot.store.database import Store

    ids = list(dict.fromkeys(part for arg in args.ids for part in arg.split(",") if part))
    noun = "email" if args.kind == "email" else "callout"
    for history_id in ids:  # checked here, before settings or Zuora: a typo is a usage error
        if len(history_id) < MIN_TYPED_ID or not is_history_id(history_id):
            raise UsageError(
                f"{history_id[:70]!r} is not a notification history ID (8 to 64 letters and "
                "digits, usually 32 hex characters, or a 36-character UUID). Copy the IDs from "
                "Zuora's Notification History, or from the id column of "
                "`zuora-ops failures <account>`. Nothing was resent."
            )
    settings = load_area(ZuoraSettings)
    resend_settings = load_area(ResendSettings)
    if not args.yes:
        if not sys.stdin.isatty():
            err.write("Refusing to resend without confirmation: pass --yes in scripts.\n")
            return EXIT_USAGE
        answer = input(f"Resend {plural(len(ids), noun)} through Zuora? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            err.write("Nothing was resent.\n")
            return EXIT_OK
    store = Store.from_url(load_area(StoreSettings).database_url)
    client = _client(settings)
    try:
        now = datetime.now(UTC)
        owner = f"cli:{worker_name()}"
        track_id = new_track_id("zops", "cli")
        dedup = f"cli:{uuid.uuid4()}"  # one intent per run; the client's retries reuse its key
        claim = store.claim_resend(
            ResendRequest(
                requested_at=now,
                team_id="cli",
                user_id=args.user,
                account_key=None,
                kind=args.kind,
                ids=tuple(ids),
                track_id=track_id,
                dedup_key=dedup,
            ),
            owner=owner,
            lease=timedelta(seconds=resend_settings.resend_lease),
            reply_url=None,
            context="{}",
            once=OnceRule(
                scope=notification_scope(settings),
                window=once_window(resend_settings),
                again_before=now if args.again else None,
            ),
        )
        for held in claim.elsewhere:
            who = held.user_id + (" (CLI)" if held.team_id == "cli" else "")
            out.write(
                f"  SKIPPED {held.history_id}: already resent by {who} at "
                f"{_minute(held.claimed_at)} UTC — {claim_state(held)} (--again to resend anyway)\n"
            )
        if not claim.won or claim.job is None:
            err.write("Nothing was resent: every id was resent within RESEND_ONCE_WINDOW.\n")
            return EXIT_PARTIAL
        job = claim.job
        sending = list(job.audit.ids)
        if args.kind == "email":
            result = client.resend_emails(
                sending, idempotency_key=attempt_key(dedup, job.attempt), track_id=track_id
            )
        else:
            result = client.resend_callouts(
                sending, idempotency_key=attempt_key(dedup, job.attempt), track_id=track_id
            )
        store.record_resend_outcome(
            job.audit.id,
            status=result_status(result),
            outcome=result_per_id(result),
            error=None,
            now=datetime.now(UTC),
        )
        store.advance_resend(job.id, owner=owner, state="done", now=datetime.now(UTC))
    finally:
        client.close()
        store.close()
    _print_resend(out, result, as_json=args.json)
    return EXIT_OK if result.all_succeeded and not claim.elsewhere else EXIT_PARTIAL


def _print_resend(out: IO[str], result: ResendResult, *, as_json: bool) -> None:
    if as_json:
        out.write(
            json.dumps(
                {
                    "kind": result.kind,
                    "succeeded": list(result.succeeded),
                    "failed": {k: v.model_dump() for k, v in result.failed.items()},
                },
                indent=2,
            )
            + "\n"
        )
        return
    out.write(f"{len(result.succeeded)} of {len(result.requested)} resent\n")
    for history_id, failure in result.failed.items():
        out.write(f"  FAILED {history_id}: {failure.code} — {failure.message}\n")
