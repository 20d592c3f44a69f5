"""Alerts that don't shout (issue 19): growth as bounded thread replies, and mutes per cause.

Thread replies: with a subscription's updates in 'thread' (the default; `/zuora alerts updates <id>
thread|edit`), a spike's growth is a short reply under its alert, at most one per ALERT_THREAD_INTERVAL,
while the alert itself is still edited with the current counts. Each reply is posted once, like the alert:
a row claimed by an insert on (incident, seq), marked 'posting' before chat.postMessage, whose metadata
carries the row's key; a clock that takes over a reply left 'posting' (after ALERT_CLAIM_LEASE) reads the
thread (conversations.replies) for that key before posting again.

Mutes: a cause muted from its alert's menu (1 h, 24 h, until recovered) gets no new alert and no update
while muted; the clock still counts it, and an until-recovered mute ends when its alert recovers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.alerts.cards import AlertCard, CardState, build_alert
from bot.alerts.mute_cards import build_thread_reply
from bot.alerts.settings import AlertSettings
from bot.core.actions import MuteRef
from bot.outages.affected import count_account_keys
from bot.slack.post_once import PostCheck, find_posted, without_connection_retries
from bot.store import AlertIncident, AlertSubscription
from bot.store.alert_quiet import AlertMute, ThreadReply
from bot.store.database import Store

logger = logging.getLogger(__name__)

REPLY_EVENT_TYPE: Final = "zuora_ops_alert_reply"
REPLY_KEY_FIELD: Final = "reply_key"
_MUTE_SPANS: Final = {"1h": timedelta(hours=1), "24h": timedelta(hours=24)}
ReplyOutcome = Literal["replied", "found", "unconfirmed", "refused", "deferred"]


def incident_card(
    incident: AlertIncident,
    sub: AlertSubscription,
    state: CardState,
    *,
    quiet: timedelta,
    now: datetime,
    mute: AlertMute | None = None,
) -> AlertCard:
    """What an incident's alert message shows at `now` (with its mute, if one is in force)."""
    return AlertCard(
        subscription=sub,
        cause_id=incident.cause_id,
        cause_kind=incident.cause_kind,
        label=incident.label,
        state=state,
        count=incident.count,
        account_count=count_account_keys(incident.accounts),
        first_at=incident.first_at,
        last_at=incident.last_at,
        hourly=incident.hourly,
        quiet_minutes=round(quiet.total_seconds() / 60),
        now=now,
        incident_id=incident.id,
        mute=mute,
    )


# --- thread replies ----------------------------------------------------------------------------


def reply_key(incident: AlertIncident, seq: int) -> str:
    """The key thread reply `seq` of an incident carries in its metadata."""
    return f"{incident.key}:r{seq}"


@dataclass
class ThreadReplies:
    """Posts one check's thread replies for `owner` (one per incident at most)."""

    store: Store
    slack: WebClient
    owner: str
    interval: timedelta
    lease: timedelta

    def update(
        self, incident: AlertIncident, sub: AlertSubscription, now: datetime
    ) -> ReplyOutcome | None:
        """Reply under the alert if it grew since the last reply and the interval has passed."""
        if incident.message_ts is None:
            return None
        latest = self.store.latest_thread_reply(incident.id)
        if latest is None:  # the baseline: what the alert showed before thread updates began
            shown = incident.shown_count if incident.shown_count is not None else incident.count
            since = incident.posting_at or incident.opened_at
            self.store.claim_thread_reply(
                incident.id,
                seq=0,
                count=shown,
                accounts=0,
                owner=self.owner,
                now=since,
                state="posted",
            )
            latest = self.store.latest_thread_reply(incident.id)
            if latest is None:
                return None
        if latest.state == "posting":
            return self._resume(incident, sub, latest, now)
        if incident.count <= latest.count or now - latest.claimed_at < self.interval:
            return None
        claimed = self.store.claim_thread_reply(
            incident.id,
            seq=latest.seq + 1,
            count=incident.count,
            accounts=count_account_keys(incident.accounts),
            owner=self.owner,
            now=now,
        )
        if claimed is None:
            return None
        return self._post(incident, sub, claimed, self._shown_before(claimed), now)

    def _shown_before(self, reply: ThreadReply) -> ThreadReply:
        """The newest reply before `reply` that reached the thread (or the baseline): its '+N since'."""
        rows = self.store.list_thread_replies(reply.incident_id)
        shown = [r for r in rows if r.seq < reply.seq and r.state != "refused"]
        return shown[-1] if shown else reply

    def _resume(
        self, incident: AlertIncident, sub: AlertSubscription, held: ThreadReply, now: datetime
    ) -> ReplyOutcome | None:
        """A reply left 'posting' past its lease: find it in the thread, else post it now."""
        if not self.store.take_thread_reply(held.id, owner=self.owner, now=now, lease=self.lease):
            return None
        check = self._find(incident, sub, held, since=held.claimed_at, now=now)
        if check.outcome == "found":
            self.store.finish_thread_reply(
                held.id, owner=self.owner, state="posted", message_ts=check.ts
            )
            return "found"
        if check.outcome == "unknown":
            if check.transient:
                return "deferred"
            self.store.finish_thread_reply(
                held.id, owner=self.owner, state="unconfirmed", message_ts=None
            )
            return "unconfirmed"
        return self._post(incident, sub, held, self._shown_before(held), now)

    def _post(
        self,
        incident: AlertIncident,
        sub: AlertSubscription,
        reply: ThreadReply,
        previous: ThreadReply,
        now: datetime,
    ) -> ReplyOutcome | None:
        message = build_thread_reply(
            reply.count, reply.accounts, reply.count - previous.count, previous.claimed_at
        )
        metadata = {
            "event_type": REPLY_EVENT_TYPE,
            "event_payload": {REPLY_KEY_FIELD: reply_key(incident, reply.seq)},
        }
        try:
            answer = without_connection_retries(self.slack).chat_postMessage(
                channel=sub.channel_id,
                thread_ts=incident.message_ts,
                reply_broadcast=False,
                text=message.text,
                blocks=message.blocks,
                metadata=metadata,
            )
        except SlackApiError as exc:  # refused: nothing was posted; this reply is given up
            reason = str(exc.response.get("error") or "slack_error")
            logger.warning("alert incident %d: thread reply refused: %s", incident.id, reason)
            self.store.finish_thread_reply(
                reply.id, owner=self.owner, state="refused", message_ts=None
            )
            return "refused"
        except (
            SlackClientError,
            OSError,
        ) as exc:  # no answer: found now, or retried after the lease
            logger.warning("alert incident %d: thread reply unanswered: %s", incident.id, exc)
            check = self._find(incident, sub, reply, since=now, now=now)
            if check.outcome == "found":
                self.store.finish_thread_reply(
                    reply.id, owner=self.owner, state="posted", message_ts=check.ts
                )
                return "found"
            return "deferred"
        ts = str(answer.get("ts") or "") or None
        self.store.finish_thread_reply(reply.id, owner=self.owner, state="posted", message_ts=ts)
        return "replied"

    def _find(
        self,
        incident: AlertIncident,
        sub: AlertSubscription,
        reply: ThreadReply,
        *,
        since: datetime,
        now: datetime,
    ) -> PostCheck:
        return find_reply(
            self.slack,
            sub.channel_id,
            str(incident.message_ts),
            reply_key(incident, reply.seq),
            since=since,
            now=now,
        )


def find_reply(
    slack: WebClient, channel: str, parent_ts: str, key: str, *, since: datetime, now: datetime
) -> PostCheck:
    """Look in the alert's thread (conversations.replies) for this bot's reply carrying `key`."""
    return find_posted(
        slack,
        channel,
        key,
        since=since,
        now=now,
        event_type=REPLY_EVENT_TYPE,
        key_field=REPLY_KEY_FIELD,
        thread_ts=parent_ts,
    )


def reply_in_thread(
    store: Store,
    slack: WebClient,
    settings: AlertSettings,
    owner: str,
    incident: AlertIncident,
    sub: AlertSubscription,
    now: datetime,
) -> Literal["replied", "refused", "unconfirmed", "deferred"] | None:
    """The check's thread reply for one grown alert in 'thread' mode (None: none due, or 'edit')."""
    if store.alert_update_mode(sub.id) != "thread":
        return None
    replies = ThreadReplies(
        store,
        slack,
        owner,
        interval=timedelta(seconds=settings.thread_interval),
        lease=timedelta(seconds=settings.claim_lease),
    )
    outcome = replies.update(incident, sub, now)
    return "replied" if outcome == "found" else outcome


# --- mutes -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MuteDone:
    """A mute click that changed something: the mute now in force (None: unmuted) and its alert."""

    mute: AlertMute | None
    incident: AlertIncident
    subscription: AlertSubscription


@dataclass(frozen=True)
class MuteRefused:
    """A mute click that changed nothing, and why (for the clicker)."""

    reason: str


_NOT_OURS: Final = (
    "That mute menu does not belong to an alert of this bot in this channel (stale or altered); "
    "nothing was muted."
)


def change_mute(
    store: Store,
    ref: MuteRef,
    *,
    team_id: str,
    user_id: str,
    channel_id: str,
    message_ts: str | None,
    now: datetime,
) -> MuteDone | MuteRefused:
    """Mute (or unmute) the cause of the clicked alert, after checking the click is that alert's."""
    incident = store.get_alert_incident(ref.i)
    sub = store.get_alert_subscription(incident.subscription_id) if incident else None
    if (
        incident is None
        or sub is None
        or incident.cause_id != ref.c
        or sub.team_id != team_id
        or sub.channel_id != channel_id
        or incident.message_ts is None
        or incident.message_ts != message_ts
    ):
        return MuteRefused(_NOT_OURS)
    if ref.d == "off":
        ended = store.end_cause_mutes(team_id, ref.c, reason="unmuted", now=now, user_id=user_id)
        if not ended:
            return MuteRefused("That cause is not muted any more; nothing changed.")
        return MuteDone(None, incident, sub)
    if incident.state == "recovered":
        return MuteRefused(
            "That alert has already recovered, so nothing was muted; a new spike of this cause "
            "posts a new alert you can mute."
        )
    span = _MUTE_SPANS.get(ref.d)
    until = None if span is None else now + span
    mute = store.mute_cause(
        team_id, ref.c, label=incident.label, until=until, user_id=user_id, now=now
    )
    logger.info("cause %s muted by %s until %s", ref.c, user_id, until or "recovered")
    return MuteDone(mute, incident, sub)


def redraw_muted(
    store: Store, slack: WebClient, done: MuteDone, *, quiet: timedelta, now: datetime
) -> str | None:
    """Edit the alert once to show its mute (or no mute); the Slack error if it refused, else None."""
    card = incident_card(
        done.incident, done.subscription, "open", quiet=quiet, now=now, mute=done.mute
    )
    message = build_alert(card)
    try:
        slack.chat_update(
            channel=done.subscription.channel_id,
            ts=str(done.incident.message_ts),
            text=message.text,
            blocks=message.blocks,
        )
    except SlackApiError as exc:
        return str(exc.response.get("error") or "slack_error")
    except (SlackClientError, OSError) as exc:
        return type(exc).__name__
    store.record_alert_shown(done.incident.id, state="open", count=done.incident.count)
    return None
