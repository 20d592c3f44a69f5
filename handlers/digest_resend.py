"""Resend all from a channel digest: the outcome goes to the digest's thread; the digest stays.

A digest is one message the whole channel shares. Replacing it through the click's response_url (as
the ephemeral failures card is replaced) would show everyone one account's outcome instead of the
digest. So here "Resending…" is posted as a reply in the digest's thread (chat.postMessage with
thread_ts) and edited into the outcome (chat.update: the bot's own message), and the digest gets one
context line saying who resent what (chat.update with its text and blocks otherwise as posted).
Refusals (allow-list, a repeated click, nothing to resend) go to the clicker alone: the click's
response_url with replace_original false posts an ephemeral message and leaves the digest alone.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.core.keys import click_key
from bot.deps import Deps
from bot.digest.cards import build_digest_with_note, resend_note
from bot.explain import explain
from bot.failures.results import ResendOutcome
from bot.resend.service import (
    AlreadyStarted,
    ClaimedElsewhere,
    Refusal,
    ResendClick,
    perform_resend,
)
from bot.slack.io import post_in_thread, update_message
from bot.slack.message import BlockLimitError, SlackMessage
from bot.slack.simple_cards import build_error
from bot.zuora.models import Account
from handlers.common import refusal_message, send, team_of, track_id_of, user_of

logger = logging.getLogger(__name__)


def is_shared_message(body: dict[str, Any]) -> bool:
    """Whether the click came from a channel message everyone sees (not an ephemeral card)."""
    container = body.get("container") or {}
    return not container.get("is_ephemeral") and bool((body.get("message") or {}).get("ts"))


def resend_all_from_digest(
    deps: Deps,
    body: dict[str, Any],
    action: dict[str, Any],
    labels: dict[str, str],
    account: Account,
) -> None:
    """Resend `labels`' ids for the digest's account; report in the thread, note it on the digest."""
    digest = body.get("message") or {}
    channel = str(
        (body.get("container") or {}).get("channel_id") or (body.get("channel") or {}).get("id")
    )
    digest_ts = str(digest["ts"])
    value = str(action.get("value") or "")
    replies: list[str] = []

    def show(progress: SlackMessage) -> None:
        ts = post_in_thread(deps.slack, channel, digest_ts, progress)
        if ts:
            replies.append(ts)

    def in_thread(message: SlackMessage) -> None:
        if not (replies and update_message(deps.slack, channel, replies[0], message)):
            if post_in_thread(deps.slack, channel, digest_ts, message) is None:
                send(deps, body, message, replace=False)  # the clicker at least learns the outcome

    click = ResendClick(
        team_id=team_of(body),
        user_id=user_of(body),
        kind="email",
        ids=tuple(labels),
        # One Resend all per digest button, whatever failed since: a second click resends nothing.
        dedup_key=click_key(body, str(action.get("action_id")), ["digest-resend-all", value]),
        track_id=track_id_of(body),
        account=account,
        card=None,  # no Refresh in a shared thread: it would redraw a card there for everyone
        labels=labels,
    )
    try:
        # The click's response_url reaches only the clicker (never replace_original here: on a
        # shared message that would replace the digest): a re-driver tells them the outcome.
        outcome = perform_resend(
            deps,
            click,
            show,
            reply_url=str(body.get("response_url") or "") or None,
            deliver=in_thread,
            replace_on_redrive=False,
            skipped=lambda left_out: send(
                deps, body, left_out.message(deps, team_id=team_of(body)), replace=False
            ),
        )
    except Exception as exc:  # after "Resending…" in the thread, it must not be left that way
        explanation = explain(exc)
        error = build_error(
            explanation.message, hint=explanation.hint, incident_id=explanation.incident_id
        )
        if replies:
            in_thread(error)
        else:
            send(deps, body, error, replace=False)
        return
    if isinstance(outcome, Refusal | AlreadyStarted | ClaimedElsewhere):
        send(deps, body, refusal_message(deps, outcome, team_id=team_of(body)), replace=False)
        return
    _note_on_digest(deps, channel, digest, value, outcome)


def _note_on_digest(
    deps: Deps, channel: str, digest: dict[str, Any], value: str, outcome: ResendOutcome
) -> None:
    """Add who-resent-what under the clicked button; the digest is otherwise left as posted."""
    text = str(digest.get("text") or "Zuora failures digest")
    note = resend_note(outcome)
    ts = str(digest["ts"])

    def build(blocks: list[dict[str, Any]]) -> SlackMessage:
        return build_digest_with_note(text, blocks, resend_value=value, note=note)

    try:
        deps.digest_notes.edit(
            channel,
            ts,
            list(digest.get("blocks") or []),
            build,
            lambda message: update_message(deps.slack, channel, ts, message),
        )
    except BlockLimitError as exc:  # the outcome is in the thread; the digest simply stays
        logger.warning("digest %s left without a resend note: %s", ts, exc)
