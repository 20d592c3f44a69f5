"""The clock's outcome checks: claim due watches, read the history for the new records, show them.

Each check of a watch is bounded: the first also finds the original records once (the card's
window, or for a replay its cause's window; their match fields are stored), then every check is
ONE history listing of the watch's kind since the resend (an email watch of one account filtered
by it), however many ids it covers, so a 1,000-id replay costs one listing per check, not 1,000.
Checks come after RESEND_WATCH_FIRST_SECONDS, then twice as long each time, RESEND_WATCH_CHECKS in
all; the watch ends at the first check where every id has its outcome, or at the last one with
"no outcome yet" for the rest. The final outcome replaces the card through what the resend
recorded: chat.update of a bot message (a digest thread reply), else the click's response_url (one
more of its 5 uses), and a reply in the audit channel's thread. The rule: bot.resend.outcomes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Protocol

from slack_sdk import WebClient

from bot.core.actions import CardRef
from bot.resend.outcome_cards import build_watch_card, summary, verdict
from bot.resend.outcome_watch import check_delay
from bot.resend.outcomes import apply_records, callout_match, describe_record, email_match
from bot.resend.redrive import click_from_job, outcome_from_audit
from bot.resend.service import ResendDeps, worker_name
from bot.slack.elements import plural
from bot.slack.io import post_in_thread, update_message
from bot.slack.message import SlackMessage
from bot.store import ResendAuditEntry
from bot.store.watch_records import OutcomeWatch, WatchItem
from bot.zuora.errors import ZuoraError
from bot.zuora.models import CalloutHistory, EmailHistory, TimeWindow

logger = logging.getLogger(__name__)

#: A replay watch's own card (bot.outages draws it): given the final watch.
ShowReplay = Callable[[OutcomeWatch], None]


class WatchDeps(ResendDeps, Protocol):
    """A resend's collaborators plus the Slack Web API (bot.deps.Deps is one)."""

    @property
    def slack(self) -> WebClient: ...


def run_due_watches(
    deps: WatchDeps, *, owner: str | None = None, show_replay: ShowReplay | None = None
) -> int:
    """Check every due watch this clock can claim; how many ended (their outcome shown)."""
    owner = owner or f"watch:{worker_name()}"
    # One look holds its watch for four resend leases (4 min by default): a replay's first look
    # scans the cause's window; a clock that dies mid-look leaves it to another after that.
    lease = timedelta(seconds=4 * deps.settings.resend.resend_lease)
    ended = 0
    for watch_id in deps.store.due_watches(deps.now()):
        watch = deps.store.claim_watch(watch_id, owner=owner, now=deps.now(), lease=lease)
        if watch is None:
            continue  # another clock has it
        try:
            finished = check_watch(deps, watch, owner=owner)
        except Exception:  # one bad watch must not stop the others; its lease lets it retry
            logger.exception("outcome watch %d: check failed; retried after its lease", watch_id)
            continue
        if finished is None:
            continue
        ended += 1
        try:
            show_watch(deps, finished, show_replay=show_replay)
        except Exception:  # the outcome is stored (audit shows it) even when Slack is not reached
            logger.exception("outcome watch %d: could not show its outcome", watch_id)
    return ended


def check_watch(deps: WatchDeps, watch: OutcomeWatch, *, owner: str) -> OutcomeWatch | None:
    """One look at the history for a claimed watch; the final watch when it ended, else None."""
    track_id = f"zops-watch-{watch.id}-{watch.checks_done + 1}"
    items = watch.items
    try:
        items = find_originals(deps, watch, track_id=track_id)
        # Zuora's clock is not ours: allow ZUORA_ID_MATCH_TOLERANCE of skew (the original record
        # itself is never taken for its new one).
        skew = timedelta(seconds=deps.settings.zuora.id_match_tolerance)
        since = watch.resent_at.replace(microsecond=0) - skew
        end = deps.now().replace(microsecond=0) + timedelta(seconds=1)
        records = deps.service.iter_history(
            watch.kind,
            start=since,
            end=end,
            account_id=watch.account_id,
            track_id=track_id,
        )
        items = apply_records(items, records, since=since)
    except ZuoraError as exc:  # counted as a look; the next one tries again
        logger.warning("outcome watch %d: history not read (%s)", watch.id, type(exc).__name__)
    checks = watch.checks_done + 1
    settings = deps.settings.resend
    pending = any(item.state == "pending" for item in items)
    final = not pending or checks >= settings.resend_watch_checks
    outcome = verdict(items) if final else None
    detail = summary(items, plain=True) if final else None
    now = deps.now()
    if not deps.store.record_check(
        watch.id,
        owner=owner,
        items=items,
        next_check_at=now + check_delay(settings, checks),
        outcome=outcome,
        outcome_detail=detail,
        now=now,
    ):
        return None
    logger.info(
        "outcome watch %d (%s): look %d of %d, %s",
        watch.id,
        watch.watch_key,
        checks,
        settings.resend_watch_checks,
        detail or "no final outcome yet",
    )
    if not final:
        return None
    return replace(watch, items=items, checks_done=checks, outcome=outcome, outcome_detail=detail)


def find_originals(deps: WatchDeps, watch: OutcomeWatch, *, track_id: str) -> tuple[WatchItem, ...]:
    """Give every item without match fields those of its original record (once per watch).

    An id whose original is not found gets empty match fields: it can only end "no outcome yet".
    """
    missing = {item.history_id for item in watch.items if item.match is None}
    if not missing:
        return watch.items
    found: dict[str, CalloutHistory | EmailHistory] = {}
    for record in _originals(deps, watch, track_id=track_id):
        if record.id in missing:
            found[str(record.id)] = record
            if len(found) == len(missing):
                break
    items = []
    for item in watch.items:
        original = found.get(item.history_id)
        if item.match is not None:
            items.append(item)
        elif original is None:
            items.append(replace(item, match={}))
        else:
            match = (
                email_match(original)
                if isinstance(original, EmailHistory)
                else callout_match(original)
            )
            items.append(replace(item, match=match, label=describe_record(original)))
    return tuple(items)


def _originals(
    deps: WatchDeps, watch: OutcomeWatch, *, track_id: str
) -> Iterable[CalloutHistory | EmailHistory]:
    """Where a watch's original records are: its card's window, or its replay's cause window."""
    card = watch.source.get("card")
    if isinstance(card, dict):
        failures = deps.service.failures_on_card(
            CardRef.model_validate(card), track_id=track_id, fresh=False
        )
        return failures.emails if watch.kind == "email" else failures.callouts
    window = watch.source.get("window")
    if isinstance(window, list) and len(window) == 2:
        span = TimeWindow(
            start=datetime.fromisoformat(str(window[0])),
            end=datetime.fromisoformat(str(window[1])),
            label="replay",
        )
        if watch.kind == "email":
            return deps.service.iter_failed_emails(span, track_id=track_id)
        return deps.service.iter_failed_callouts(span, track_id=track_id)
    return ()


def show_watch(
    deps: WatchDeps, watch: OutcomeWatch, *, show_replay: ShowReplay | None = None
) -> None:
    """Show a watch's final outcome where its resend was shown (card, thread, audit channel)."""
    if watch.replay_id is not None:
        if show_replay is not None:
            show_replay(watch)
        return
    message, audit = _resend_card(deps, watch)
    target = watch.target
    if target.channel and target.ts:
        update_message(deps.slack, target.channel, target.ts, message)
    elif target.reply_url:
        deps.responder.send(target.reply_url, message, replace_original=target.replace)
    if audit is not None and audit.audit_channel and audit.audit_ts:
        post_in_thread(deps.slack, audit.audit_channel, audit.audit_ts, message)


def _resend_card(
    deps: WatchDeps, watch: OutcomeWatch
) -> tuple[SlackMessage, ResendAuditEntry | None]:
    """The watch's card (named as its resend was), and its audit row when there is one."""
    audit = deps.store.audit_row(watch.audit_id) if watch.audit_id is not None else None
    job = deps.store.resend_job(audit.dedup_key) if audit is not None else None
    card: CardRef | None = None
    account_text = ""
    if job is not None and audit is not None:
        outcome = outcome_from_audit(job.audit, click_from_job(job))
        card = outcome.card
        if outcome.account is not None:
            account_text = f" for {outcome.account.name} ({outcome.account.number})"
    noun = "email" if watch.kind == "email" else "callout"
    headline = f"Resend of {plural(len(watch.items), noun)}{account_text}"
    return build_watch_card(watch, headline=headline, card=card), audit
