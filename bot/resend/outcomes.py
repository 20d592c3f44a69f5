"""Did a resend work? How the bot recognises a resent notification's new history record (a GUESS).

Zuora's resend documents (POST /notifications/email-histories/resend and …/callout-histories/resend)
say what the request answers, not what the notification history shows afterwards: whether a
resend appends a new history record or changes the original one. The bot GUESSES that it appends a
NEW record, and reads that one:

- an email's new record has the original's accountId, eventCategory, toEmail and subject, and a
  sendTime at or after the resend (less ZUORA_ID_MATCH_TOLERANCE for the clocks' skew; the
  original record itself never counts); result "OK" means delivered, anything else failed again (with
  the mail server's errorMessage);
- a callout's new record has the original's eventContext ``<Event.ID>`` (and requestUrl, when both
  have one), and a createTime at or after the resend; a 2xx responseCode means delivered, anything
  else failed again (with the code).

The newest matching record decides. No matching record yet is "no outcome yet". The rule is shown
in `/zuora status` (RULE) and in the README's "Did it work?"; the sandbox Zuora behaves exactly so
(bot.sandbox.redelivery).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from bot.core.secrets_mask import mask_url
from bot.store.watch_records import WatchItem
from bot.zuora.models import CalloutHistory, EmailHistory

#: The guess, in one line, for `/zuora status` and the README.
RULE = (
    "a resend appends a NEW history record (Zuora's docs do not say; a guess): an email's has the "
    "same accountId, eventCategory, toEmail and subject, sent after the resend; a callout's the same "
    "eventContext <Event.ID> (and requestUrl), created after it (ZUORA_ID_MATCH_TOLERANCE allowed "
    "for clock skew). Email result OK or a 2xx callout response = delivered; anything else = failed "
    "again."
)

EMAIL_FIELDS = ("accountId", "eventCategory", "toEmail", "subject")
CALLOUT_FIELDS = ("eventId", "requestUrl")
_ADDRESS = re.compile(r"<[^<>\s]*@[^<>\s]*>")
_SPACES = re.compile(r"\s+")
MAX_DETAIL = 200


def email_match(email: EmailHistory) -> dict[str, str]:
    """The fields an email's new record shares with the original."""
    values = (email.account_id, email.event_category, email.to_email, email.subject)
    return {name: str(value or "") for name, value in zip(EMAIL_FIELDS, values, strict=True)}


def callout_match(callout: CalloutHistory) -> dict[str, str]:
    """The fields a callout's new record shares with the original."""
    return {"eventId": callout.event_id or "", "requestUrl": callout.request_url or ""}


def matches(match: Mapping[str, str], record: CalloutHistory | EmailHistory) -> bool:
    """Whether ``record`` is a new record of the notification ``match`` describes."""
    if isinstance(record, EmailHistory):
        return bool(match.get("toEmail")) and email_match(record) == {
            name: match.get(name, "") for name in EMAIL_FIELDS
        }
    mine = callout_match(record)
    if not match.get("eventId") or mine["eventId"] != match["eventId"]:
        return False
    return not (mine["requestUrl"] and match.get("requestUrl")) or (
        mine["requestUrl"] == match["requestUrl"]
    )


def describe_record(record: CalloutHistory | EmailHistory) -> str:
    """What was resent, in words: event and subject (and recipient) of an email, event and
    endpoint of a callout (its URL masked)."""
    if isinstance(record, EmailHistory):
        subject = record.subject or "(no subject)"
        return f"{record.event_name} · {subject} → {record.to_email or '?'}"
    url = mask_url(record.request_url) if record.request_url else "(no URL)"
    return f"{record.event_name} → {url}"


def record_time(record: CalloutHistory | EmailHistory) -> datetime:
    """When Zuora sent the record (aware UTC)."""
    return record.send_time if isinstance(record, EmailHistory) else record.create_time


def delivered(record: CalloutHistory | EmailHistory) -> bool:
    """Email result "OK", or a 2xx callout response."""
    if isinstance(record, EmailHistory):
        return (record.result or "").strip().upper() == "OK"
    code = (record.response_code or "").strip()
    return code.isdigit() and 200 <= int(code) < 300


def failure_detail(record: CalloutHistory | EmailHistory) -> str:
    """Why a new record failed again, in a few words (the address taken out of a bounce)."""
    if isinstance(record, EmailHistory):
        text = record.error_message or record.result or "failed"
        text = _ADDRESS.sub(" ", text).replace("...", " ")
        return _SPACES.sub(" ", text).strip(" :;,")[:MAX_DETAIL] or "failed"
    code = (record.response_code or "").strip()
    return f"HTTP {code}" if code and not code.startswith("-") else f"no response ({code or '?'})"


def apply_records(
    items: Iterable[WatchItem],
    records: Iterable[CalloutHistory | EmailHistory],
    *,
    since: datetime,
) -> tuple[WatchItem, ...]:
    """Each item with the outcome of its newest new record at or after ``since`` (if any)."""
    fresh = sorted((r for r in records if record_time(r) >= since), key=record_time)
    out: list[WatchItem] = []
    for item in items:
        found = None
        if item.match is not None:
            for record in fresh:
                if record.id != item.history_id and matches(item.match, record):
                    found = record  # sorted oldest first: the last match is the newest
        if found is None:
            out.append(item)
            continue
        ok = delivered(found)
        out.append(
            replace(
                item,
                state="delivered" if ok else "failed",
                at=record_time(found),
                detail=None if ok else failure_detail(found),
            )
        )
    return tuple(out)
