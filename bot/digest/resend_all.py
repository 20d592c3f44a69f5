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
from collections.abc import Callable
from typing import Any, Protocol

from slack_sdk import WebClient

from bot.core.keys import click_key
from bot.digest.cards import build_digest_with_note, resend_note
from bot.digest.notes import DigestNotes
from bot.failures.results import ResendOutcome
from bot.resend.replies import error_message, refusal_message
from bot.resend.service import (
    AlreadyStarted,
    ClaimedElsewhere,
    Refusal,
    ResendClick,
    ResendDeps,
    perform_resend,
)
from bot.slack.io import post_in_thread, update_message
from bot.slack.message import BlockLimitError, SlackMessage
from bot.slack.requests import Click
from bot.store.watch_records import WatchTarget
from bot.zuora.models import Account

logger = logging.getLogger(__name__)


class DigestResendDeps(ResendDeps, Protocol):
    """A resend's collaborators plus Slack and the digest notes (bot.deps.Deps is one)."""

    @property
    def slack(self) -> WebClient: ...

    @property
    def digest_notes(self) -> DigestNotes: ...


def resend_all_from_digest(
    deps: DigestResendDeps,
    click: Click,
    labels: dict[str, str],
    account: Account,
    *,
    tell: Callable[[SlackMessage], None],
    track_id: str,
) -> None:
    """Resend `labels`' ids for the digest's account; report in the thread, note it on the digest.

    `tell` reaches the clicker alone (the click's response_url, never replacing the digest).
    """
    channel = click.channel_id
    digest_ts = str(click.message_ts)
    value = str(click.value or "")
    replies: list[str] = []

    def show(progress: SlackMessage) -> None:
        ts = post_in_thread(deps.slack, channel, digest_ts, progress)
        if ts:
            replies.append(ts)

    def in_thread(message: SlackMessage) -> None:
        if not (replies and update_message(deps.slack, channel, replies[0], message)):
            if post_in_thread(deps.slack, channel, digest_ts, message) is None:
                tell(message)  # the clicker at least learns the outcome

    resend = ResendClick(
        team_id=click.team_id,
        user_id=click.user_id,
        kind="email",
        ids=tuple(labels),
        # One Resend all per digest button, whatever failed since: a second click resends nothing.
        dedup_key=click_key(click.body, click.action_id, ["digest-resend-all", value]),
        track_id=track_id,
        account=account,
        card=None,  # no Refresh in a shared thread: it would redraw a card there for everyone
        labels=labels,
    )
    try:
        # The click's response_url reaches only the clicker (never replace_original here: on a
        # shared message that would replace the digest): a re-driver tells them the outcome.
        outcome = perform_resend(
            deps,
            resend,
            show,
            reply_url=click.response_url,
            deliver=in_thread,
            replace_on_redrive=False,
            skipped=lambda left_out: tell(left_out.message(deps, team_id=click.team_id)),
            # Did it work? The outcome edits the thread reply (chat.update), never the digest.
            watch_target=lambda: (
                WatchTarget(channel=channel, ts=replies[0])
                if replies
                else WatchTarget(reply_url=click.response_url, replace=False)
            ),
        )
    except Exception as exc:  # after "Resending…" in the thread, it must not be left that way
        if replies:
            in_thread(error_message(exc))
        else:
            tell(error_message(exc))
        return
    if isinstance(outcome, Refusal | AlreadyStarted | ClaimedElsewhere):
        tell(refusal_message(deps, outcome, team_id=click.team_id))
        return
    _note_on_digest(deps, click, value, outcome)


def _note_on_digest(
    deps: DigestResendDeps, click: Click, value: str, outcome: ResendOutcome
) -> None:
    """Add who-resent-what under the clicked button; the digest is otherwise left as posted."""
    channel, ts = click.channel_id, str(click.message_ts)
    text = click.message_text or "Zuora failures digest"
    note = resend_note(outcome)

    def build(blocks: list[dict[str, Any]]) -> SlackMessage:
        return build_digest_with_note(text, blocks, resend_value=value, note=note)

    try:
        deps.digest_notes.edit(
            channel,
            ts,
            click.message_blocks,
            build,
            lambda message: update_message(deps.slack, channel, ts, message),
        )
    except BlockLimitError as exc:  # the outcome is in the thread; the digest simply stays
        logger.warning("digest %s left without a resend note: %s", ts, exc)
