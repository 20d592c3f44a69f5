"""`zuora-ops failures <account>`: an account's failed callouts and emails as a table or JSON."""

from __future__ import annotations

import argparse
import json
from typing import IO, Any

from bot.cli.common import EXIT_OK, Progress, _client, _table, cli_window, plural, time_now
from bot.core.command_text import parse_account
from bot.core.secrets_mask import mask_url, mask_urls_in_text
from bot.settings import ZuoraSettings, load_area
from bot.zuora.models import CalloutHistory, EmailHistory, TimeWindow
from bot.zuora.track import new_track_id


def cmd_failures(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Print an account's failed callouts and emails as a table or JSON."""
    settings = load_area(ZuoraSettings)
    key = parse_account(args.account)
    length, label = cli_window("failures", args.window)
    progress = Progress(err, f"Scanning {key}, last {label}", enabled=err.isatty() or args.progress)
    client = _client(settings, progress)
    try:
        track_id = new_track_id("zops", "cli")
        account = client.get_account(key, track_id=track_id)
        window = TimeWindow.ending_at(time_now(), length, label)
        callouts = client.failed_callouts_for(account, window, track_id=track_id)
        emails = client.failed_emails_for(account, window, track_id=track_id)
    finally:
        progress.done()
        client.close()
    if args.json:
        payload = {
            "account": account.model_dump(),
            "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
            "callouts": [_callout_json(c) for c in callouts],
            "emails": [_email_json(e) for e in emails],
        }
        out.write(json.dumps(payload, indent=2) + "\n")
        return EXIT_OK
    out.write(f"{account.name} ({account.number}) — last {label}: ")
    out.write(
        f"{plural(len(callouts), 'failed callout')}, {plural(len(emails), 'failed email')}\n\n"
    )
    _table(
        out,
        "Failed callouts",
        ["time (UTC)", "event", "code", "tries", "url", "id"],
        [
            [
                c.create_time.strftime("%Y-%m-%d %H:%M"),
                c.event_name,
                c.response_code or "",
                str(c.attempted_num or ""),
                mask_url(c.request_url) if c.request_url else "",
                c.id or "(no id)",
            ]
            for c in callouts
        ],
    )
    _table(
        out,
        "Failed emails",
        ["time (UTC)", "notification", "to", "error", "id"],
        [
            [
                e.send_time.strftime("%Y-%m-%d %H:%M"),
                e.event_name,
                e.to_email or "",
                mask_urls_in_text(e.error_message or ""),
                e.id or "(no id)",
            ]
            for e in emails
        ],
    )
    return EXIT_OK


def _callout_json(callout: CalloutHistory) -> dict[str, Any]:
    return {
        "id": callout.id,
        "time": callout.create_time.isoformat(),
        "event": callout.event_name,
        "event_id": callout.event_id,
        "response_code": callout.response_code,
        "attempts": callout.attempted_num,
        "url": mask_url(callout.request_url) if callout.request_url else None,
    }


def _email_json(email: EmailHistory) -> dict[str, Any]:
    return {
        "id": email.id,
        "time": email.send_time.isoformat(),
        "notification": email.event_name,
        "to": email.to_email,
        "subject": email.subject,
        "error": mask_urls_in_text(email.error_message) if email.error_message else None,
    }
