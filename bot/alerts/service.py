"""Spike alerts: every ALERT_CHECK_INTERVAL the clock scans recent failures by cause and posts, grows
and closes one alert message per cause and spike.

A subscription says "N failures of one cause within M minutes". A check scans the tenant once (the
longest M back, and back to the last failure of every incident still open), folds the failures by cause
(bot.outages.causes), and for each subscription and cause:

- no incident, or the last one recovered: if the failures in the last M minutes (only those after the
  last incident's last failure) reach N, open incident number seq+1 and post one message;
- an open incident: add the failures newer than its last one and chat.update the same message (at most
  once per check, whatever the number of clocks); after ALERT_QUIET_PERIOD without a new failure mark it
  recovered and update the message in place, keeping its Resend all button.

Exactly once, across restarts and clocks (the digest pattern, bot.digest.posting): an incident is a row opened by
an insert on the unique (subscription, cause, seq) key, so one clock wins it. The winner marks it
'posting' just before chat.postMessage, whose metadata carries the incident's key, and records the
message ts ('open'). A clock that dies in 'claimed' posted nothing: after ALERT_CLAIM_LEASE another takes
it over and posts. One that dies in 'posting' may have posted: the taker reads the channel's history for
the key and records the message it finds instead of posting again; if Slack cannot be asked, the
incident becomes 'unconfirmed' (counted and recovered, never posted again). Growth is a compare-and-set
on the incident's last failure time, so no failure is counted twice; updates are claimed per check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.alerts.cards import AlertCard, AlertKind, CardState, build_alert
from bot.alerts.quiet import incident_card, reply_in_thread
from bot.alerts.settings import AlertSettings
from bot.digest.settings import DigestSettings
from bot.outages.causes import Cause, CauseGroup, OutageScan
from bot.slack.io import ChannelPacer
from bot.slack.post_once import PostCheck, find_posted, without_connection_retries
from bot.store import AlertIncident, AlertSpike, AlertSubscription
from bot.store.database import Store
from bot.zuora.errors import ZuoraError
from bot.zuora.models import CalloutHistory, EmailHistory, TimeWindow
from bot.zuora.track import new_track_id

logger = logging.getLogger(__name__)

ALERT_EVENT_TYPE: Final = "zuora_ops_alert"
ALERT_KEY_FIELD: Final = "alert_key"
# A check never scans further back than this, however long an incident has been open.
MAX_SCAN: Final = timedelta(hours=24)
# Share of ALERT_CHECK_INTERVAL within which an incident is updated only once (by whichever clock).
CHECK_GAP: Final = 0.8
# Slack answers for a message that can never be updated again: stop trying.
_GONE_ERRORS: Final = frozenset(
    {"message_not_found", "channel_not_found", "cant_update_message", "is_archived"}
)

AlertOutcome = (
    Literal["posted", "found", "updated", "recovered", "failed", "unconfirmed", "deferred", "lost"]
    | Literal["replied", "refused"]
)  # a thread reply's (bot.alerts.quiet)


class AlertSource(Protocol):
    """Tenant-wide failure streams (NotificationService)."""

    def iter_failed_callouts(
        self, window: TimeWindow, *, track_id: str
    ) -> Iterator[CalloutHistory]: ...

    def iter_failed_emails(
        self, window: TimeWindow, *, track_id: str
    ) -> Iterator[EmailHistory]: ...


class AlertConfig(Protocol):
    """The settings an alert check reads: the alert area's, and the digest's pace between posts."""

    @property
    def alert(self) -> AlertSettings: ...

    @property
    def digest(self) -> DigestSettings: ...


class AlertDeps(Protocol):
    """The collaborators an alert check uses: its settings, the failure source, the store and Slack."""

    @property
    def settings(self) -> AlertConfig: ...

    @property
    def service(self) -> AlertSource: ...

    @property
    def store(self) -> Store: ...

    @property
    def slack(self) -> WebClient: ...


@dataclass(frozen=True)
class AlertAction:
    """What one check did with one incident."""

    incident_id: int
    outcome: AlertOutcome
    message_ts: str | None = None
    detail: str | None = None


def covers(kind: AlertKind, cause: Cause) -> bool:
    """Whether a subscription of `kind` watches this cause."""
    return kind == "all" or kind == f"{cause.kind}s"


def alert_metadata(incident: AlertIncident) -> dict[str, Any]:
    """chat.postMessage `metadata` for an incident's alert: our event type and its key."""
    return {
        "event_type": ALERT_EVENT_TYPE,
        "event_payload": {
            ALERT_KEY_FIELD: incident.key,
            "subscription_id": incident.subscription_id,
            "cause_id": incident.cause_id,
            "seq": incident.seq,
        },
    }


def run_alert_checks(
    deps: AlertDeps,
    now: datetime,
    *,
    owner: str,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> list[AlertAction]:
    """One check: scan, then follow every live incident and open the new spikes; safe on every clock.

    `clock` gives the time for post records and history checks (default: `now` throughout).
    """
    now = now.astimezone(UTC)
    store = deps.store
    subs = store.list_alert_subscriptions()
    watched = store.watched_alert_incidents()
    if not subs and not watched:
        return []
    by_id = {sub.id: sub for sub in subs}
    for incident in watched:
        if incident.subscription_id not in by_id:
            removed = store.get_alert_subscription(incident.subscription_id)
            if removed is not None:
                by_id[removed.id] = removed
    scan = _scan(deps, now, subs, watched, by_id)
    if scan is None:
        return []
    pacer = ChannelPacer(deps.settings.digest.post_interval, sleep=sleep or time.sleep)
    check = _Check(deps, owner, now, clock or (lambda: now), pacer)
    actions: list[AlertAction] = []
    for incident in watched:
        sub = by_id.get(incident.subscription_id)
        if sub is not None:
            actions += check.follow(incident, sub, scan.group(incident.cause_id))
    for sub in subs:
        for group in scan.groups():
            if covers(sub.kind, group.cause):
                action = check.open_spike(sub, group)
                if action is not None:
                    actions.append(action)
    return actions


def _scan(
    deps: AlertDeps,
    now: datetime,
    subs: Sequence[AlertSubscription],
    watched: Sequence[AlertIncident],
    by_id: dict[int, AlertSubscription],
) -> OutageScan | None:
    """Scan once for every kind needed, from the longest window or the oldest live incident."""
    kinds = {sub.kind for sub in subs} | {
        by_id[i.subscription_id].kind for i in watched if i.subscription_id in by_id
    }
    if not kinds:
        return None
    start = now - timedelta(minutes=max((sub.minutes for sub in subs), default=1))
    for incident in watched:
        if incident.state != "recovered":
            start = min(start, incident.last_at)
    start = max(start, now - MAX_SCAN)
    scan_kind: AlertKind = kinds.pop() if len(kinds) == 1 else "all"
    window = TimeWindow(start=start, end=now, label="alerts")
    track_id = new_track_id("zops", "alerts")
    scan = OutageScan()
    try:
        if scan_kind in ("callouts", "all"):
            for callout in deps.service.iter_failed_callouts(window, track_id=track_id):
                scan.add_callout(callout)
        if scan_kind in ("emails", "all"):
            for email in deps.service.iter_failed_emails(window, track_id=track_id):
                scan.add_email(email)
    except ZuoraError as exc:
        logger.warning("alert check: Zuora scan failed; trying again next check: %s", exc)
        return None
    logger.info(
        "alert check %s: %d callouts, %d emails since %s",
        track_id,
        scan.callouts,
        scan.emails,
        start.isoformat(),
    )
    return scan


def _spike(group: CauseGroup | None, since: datetime, now: datetime) -> AlertSpike | None:
    if group is None:
        return None
    part = group.between(since, now)
    if not part.count or part.first_at is None or part.last_at is None:
        return None
    return AlertSpike(
        count=part.count,
        accounts=part.accounts,
        first_at=part.first_at,
        last_at=part.last_at,
        hourly=dict(part.hourly),
    )


@dataclass
class _Check:
    """One check's work for `owner`: open, post, grow, update and recover incidents."""

    deps: AlertDeps
    owner: str
    now: datetime
    clock: Callable[[], datetime]
    pacer: ChannelPacer
    _poster: WebClient | None = None

    @property
    def quiet(self) -> timedelta:
        return timedelta(seconds=self.deps.settings.alert.quiet_period)

    def open_spike(self, sub: AlertSubscription, group: CauseGroup) -> AlertAction | None:
        """Open and post a new incident when this cause crossed the threshold; None otherwise."""
        store = self.deps.store
        latest = store.latest_alert_incident(sub.id, group.cause.id)
        if latest is not None and latest.state != "recovered":
            return None  # the spike goes on: follow() grows it
        since = self.now - timedelta(minutes=sub.minutes)
        if latest is not None:
            since = max(since, latest.last_at)  # a new spike counts only failures after the last
        spike = _spike(group, since, self.now)
        if spike is None or spike.count < sub.threshold:
            return None
        if self.now - spike.last_at >= self.quiet:
            # Over before anyone was told (e.g. the first check after subscribing): an alert would
            # say "ongoing" about history. /zuora outages shows it; alerts are for live spikes.
            return None
        if self._muted(sub, group.cause.id):
            return None  # muted from an earlier alert: no new post until the mute ends
        incident = store.open_alert_incident(
            sub.id,
            cause_id=group.cause.id,
            seq=latest.seq + 1 if latest is not None else 1,
            cause_kind=group.cause.kind,
            label=group.label,
            spike=spike,
            owner=self.owner,
            now=self.clock(),  # the lease runs from now, not from the start of a long check
        )
        if incident is None:
            return None
        logger.info(
            "alert #%d: cause %s crossed %d per %d min (%d failures); posting",
            sub.id,
            group.cause.id,
            sub.threshold,
            sub.minutes,
            spike.count,
        )
        return self.post(incident, sub)

    def follow(
        self, incident: AlertIncident, sub: AlertSubscription, group: CauseGroup | None
    ) -> list[AlertAction]:
        """Bring one live incident up to date: finish its post, grow it, update or recover it."""
        store = self.deps.store
        if incident.state == "recovered":  # recovered, but its message does not show it yet
            return (
                []
                if self._muted(sub, incident.cause_id)
                else self._show(incident, sub, "recovered")
            )
        # One update per check across clocks, even when two clocks' checks are offset in time.
        gap = timedelta(seconds=self.deps.settings.alert.check_interval * CHECK_GAP)
        checked = store.claim_alert_check(incident.id, now=self.now, gap=gap)
        if checked:
            spike = _spike(group, incident.last_at, self.now)
            if spike is not None:
                grown = store.grow_alert_incident(
                    incident.id, seen_last_at=incident.last_at, spike=spike
                )
                incident = grown or store.get_alert_incident(incident.id) or incident
        if incident.state in ("open", "unconfirmed", "failed") and (
            self.now - incident.last_at >= self.quiet
        ):
            if store.recover_alert_incident(
                incident.id, now=self.now, quiet_since=self.now - self.quiet
            ):
                logger.info("alert incident %d recovered", incident.id)
                store.end_cause_mutes(
                    sub.team_id, incident.cause_id, reason="recovered", now=self.now, user_id=None
                )
                if self._muted(sub, incident.cause_id):  # shown once the mute ends
                    return [AlertAction(incident.id, "recovered")]
                recovered = store.get_alert_incident(incident.id) or incident
                shown = self._show(recovered, sub, "recovered")
                return shown or [AlertAction(incident.id, "recovered")]
            return []
        if incident.state in ("claimed", "posting", "failed"):
            lease = timedelta(seconds=self.deps.settings.alert.claim_lease)
            if store.take_alert_incident(
                incident.id, owner=self.owner, now=self.clock(), lease=lease
            ):
                taken = store.get_alert_incident(incident.id)
                if taken is not None:
                    return [self.post(taken, sub)]
            return []
        if checked and incident.state == "open" and not self._muted(sub, incident.cause_id):
            return self._show(incident, sub, "open") + self._reply(incident, sub)
        return []

    def _muted(self, sub: AlertSubscription, cause_id: str) -> bool:
        """Whether the cause is muted in the subscription's workspace now (bot.alerts.quiet)."""
        return self.deps.store.active_mute(sub.team_id, cause_id, self.now) is not None

    def _reply(self, incident: AlertIncident, sub: AlertSubscription) -> list[AlertAction]:
        """In 'thread' mode, a bounded thread reply under the alert when it grew (bot.alerts.quiet)."""
        # `incident` still holds the count the alert showed before this check's edit (the baseline).
        deps = self.deps
        outcome = reply_in_thread(
            deps.store, deps.slack, deps.settings.alert, self.owner, incident, sub, self.clock()
        )
        return [] if outcome is None else [AlertAction(incident.id, outcome)]

    def post(self, incident: AlertIncident, sub: AlertSubscription) -> AlertAction:
        """Post an incident's alert once: check Slack first if a post may have begun before."""
        store = self.deps.store
        if incident.state == "posting":
            check = self._check(incident, sub, since=incident.posting_at or incident.opened_at)
            if check.outcome != "absent":
                return self._from_check(incident, check)
        self.pacer.wait_turn(sub.channel_id)
        if not store.mark_alert_posting(incident.id, owner=self.owner, now=self.clock()):
            return AlertAction(incident.id, "lost")
        started = self.clock()
        message = build_alert(self._card(incident, sub, "open"))
        if self._poster is None:
            self._poster = without_connection_retries(self.deps.slack)
        try:
            response = self._poster.chat_postMessage(
                channel=sub.channel_id,
                text=message.text,
                blocks=message.blocks,
                metadata=alert_metadata(incident),
            )
        except SlackApiError as exc:  # Slack refused: nothing was posted
            reason = str(exc.response.get("error") or "slack_error")
            logger.warning(
                "alert incident %d not posted to %s: %s", incident.id, sub.channel_id, reason
            )
            store.finish_alert_post(incident.id, owner=self.owner, outcome="failed", detail=reason)
            return AlertAction(incident.id, "failed", detail=reason)
        except (SlackClientError, OSError) as exc:  # no answer: the post may have gone through
            logger.warning(
                "alert incident %d: no answer from Slack (%s); checking the channel",
                incident.id,
                type(exc).__name__,
            )
            check = self._check(incident, sub, since=started)
            if check.outcome == "absent":
                store.finish_alert_post(
                    incident.id, owner=self.owner, outcome="failed", detail=type(exc).__name__
                )
                return AlertAction(incident.id, "failed", detail=type(exc).__name__)
            return self._from_check(incident, check)
        ts = str(response.get("ts") or "") or None
        store.finish_alert_post(
            incident.id,
            owner=self.owner,
            outcome="open",
            message_ts=ts,
            shown_count=incident.count,
        )
        logger.info("alert incident %d posted to %s (ts %s)", incident.id, sub.channel_id, ts)
        return AlertAction(incident.id, "posted", message_ts=ts)

    def _show(
        self, incident: AlertIncident, sub: AlertSubscription, state: CardState
    ) -> list[AlertAction]:
        """chat.update the incident's message if it does not show this state and count yet."""
        if incident.message_ts is None:
            return []
        if (incident.shown_state, incident.shown_count) == (state, incident.count):
            return []
        message = build_alert(self._card(incident, sub, state))
        self.pacer.wait_turn(sub.channel_id)
        try:
            self.deps.slack.chat_update(
                channel=sub.channel_id,
                ts=incident.message_ts,
                text=message.text,
                blocks=message.blocks,
            )
        except SlackApiError as exc:
            reason = str(exc.response.get("error") or "slack_error")
            logger.warning("alert incident %d: chat.update refused: %s", incident.id, reason)
            if reason in _GONE_ERRORS:  # the message is gone: never try again
                self.deps.store.record_alert_shown(incident.id, state=state, count=incident.count)
            return [AlertAction(incident.id, "failed", detail=reason)]
        except (SlackClientError, OSError) as exc:
            logger.warning("alert incident %d: chat.update failed: %s", incident.id, exc)
            return [AlertAction(incident.id, "failed", detail=type(exc).__name__)]
        self.deps.store.record_alert_shown(incident.id, state=state, count=incident.count)
        outcome: AlertOutcome = "recovered" if state == "recovered" else "updated"
        return [AlertAction(incident.id, outcome, message_ts=incident.message_ts)]

    def _card(self, incident: AlertIncident, sub: AlertSubscription, state: CardState) -> AlertCard:
        return incident_card(incident, sub, state, quiet=self.quiet, now=self.now)

    def _check(
        self, incident: AlertIncident, sub: AlertSubscription, *, since: datetime
    ) -> PostCheck:
        return find_posted(
            self.deps.slack,
            sub.channel_id,
            incident.key,
            since=since,
            now=self.clock(),
            event_type=ALERT_EVENT_TYPE,
            key_field=ALERT_KEY_FIELD,
        )

    def _from_check(self, incident: AlertIncident, check: PostCheck) -> AlertAction:
        store = self.deps.store
        if check.outcome == "found":
            logger.info(
                "alert incident %d was already in Slack (ts %s); not posting it again",
                incident.id,
                check.ts,
            )
            # shown_count None: the next check redraws it with the current count.
            store.finish_alert_post(
                incident.id, owner=self.owner, outcome="open", message_ts=check.ts
            )
            return AlertAction(incident.id, "found", message_ts=check.ts)
        if check.transient:
            return AlertAction(incident.id, "deferred", detail=check.reason)
        logger.warning(
            "alert incident %d: post interrupted and Slack cannot be checked (%s); "
            "not posting again to avoid a duplicate",
            incident.id,
            check.reason,
        )
        store.finish_alert_post(
            incident.id, owner=self.owner, outcome="unconfirmed", detail=check.reason
        )
        return AlertAction(incident.id, "unconfirmed", detail=check.reason)
