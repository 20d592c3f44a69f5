"""One user's Home tab: read the store, build the view, publish it with views.publish, skipping repeats.

Slack rate-limits views.publish per user, and a Home is shown again on every open, so each process
keeps, per user, the content hash and Slack's view `hash` of its last publish (HomePublisher):

- an unchanged Home is not published again (same content, and Slack still shows our last view);
- a change-driven refresh (a watch, a resend, an alert subscription) is debounced: at most one per
  user per HOME_PUBLISH_GAP seconds; one inside the gap waits for the next change or open. Only
  Homes this process published are refreshed (the Procfile runs one web process; with several, a
  Home another process showed is brought up to date when the user next opens it);
- opening the tab always shows the current content (unless unchanged);
- the publish sends Slack's `hash` of the view it replaces: if another process published since,
  Slack answers `hash_conflict` and we rebuild from the store and publish once more, unguarded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.alerts.cards import AlertCard, build_alert
from bot.audit.outcome_notes import audit_notes
from bot.home.cards import RESEND_ROWS, HomeState, build_home_view
from bot.home.settings import HomeSettings
from bot.outages.affected import count_account_keys
from bot.slack.access import AccessCheckError, AccessPolicy
from bot.slack.message import SlackMessage
from bot.store.database import Store

logger = logging.getLogger(__name__)

PublishOutcome = Literal["published", "unchanged", "debounced"]


class HomeConfig(Protocol):
    """The settings the Home reads."""

    @property
    def home(self) -> HomeSettings: ...


class HomeDeps(Protocol):
    """The collaborators the Home uses (bot.deps.Deps is one)."""

    @property
    def settings(self) -> HomeConfig: ...

    @property
    def store(self) -> Store: ...

    @property
    def slack(self) -> WebClient: ...

    @property
    def access(self) -> AccessPolicy: ...

    @property
    def home(self) -> HomePublisher: ...


def read_home_state(deps: HomeDeps, *, team_id: str, user_id: str) -> HomeState:
    """Everything the user's Home shows, from the store alone (no Zuora call: opening Home is cheap)."""
    store = deps.store
    alert_subs = store.list_alert_subscriptions(team_id=team_id)
    ours = {sub.id for sub in alert_subs}
    alerts = [
        incident
        for incident in store.watched_alert_incidents()
        if incident.state != "recovered" and incident.subscription_id in ours
    ]
    try:
        may_resend = deps.access.may_resend(user_id)
    except AccessCheckError:  # Slack could not list a group: show the Home read-only
        may_resend = False
    resends = store.list_user_resends(team_id=team_id, user_id=user_id, limit=RESEND_ROWS)
    return HomeState(
        user_id=user_id,
        may_resend=may_resend,
        alerts=alerts,
        watches=store.list_watches(team_id=team_id, user_id=user_id),
        resends=resends,
        resend_notes=audit_notes(store, resends),
        digests=store.list_subscriptions(team_id=team_id),
        alert_subscriptions=alert_subs,
    )


def content_hash(view: dict[str, Any]) -> str:
    """A stable digest of a view's content."""
    text = json.dumps(view, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Published:
    team_id: str
    content: str
    slack_hash: str | None
    at: float


class HomePublisher:
    """Per process: what was last published to each user's Home, and when (thread-safe)."""

    def __init__(self, timer: Callable[[], float] = time.monotonic) -> None:
        self._timer = timer
        self._lock = threading.Lock()
        self._last: dict[str, _Published] = {}

    def shows(self, user_id: str) -> bool:
        """Whether this process has published the user's Home (only those are refreshed on change)."""
        with self._lock:
            return user_id in self._last

    def users(self, team_id: str) -> list[str]:
        """Users of `team_id` whose Home this process has published."""
        with self._lock:
            return sorted(u for u, p in self._last.items() if p.team_id == team_id)

    def publish(
        self,
        deps: HomeDeps,
        *,
        team_id: str,
        user_id: str,
        opened_hash: str | None = None,
        opened: bool = False,
    ) -> PublishOutcome:
        """Publish the user's Home unless unchanged (or, for a refresh, inside the debounce gap).

        `opened` is an app_home_opened: the user is looking, so the gap does not apply, and
        `opened_hash` (the view Slack shows now) guards the publish.
        """
        view = build_home_view(read_home_state(deps, team_id=team_id, user_id=user_id))
        content = content_hash(view)
        now = self._timer()
        with self._lock:
            last = self._last.get(user_id)
            if last is not None and last.content == content:
                # On an open, Slack's view must be ours too: no view there means publish again.
                if not opened or (opened_hash is not None and opened_hash == last.slack_hash):
                    return "unchanged"
            if not opened and last is not None and now - last.at < deps.settings.home.publish_gap:
                return "debounced"
            guard = opened_hash if opened else (last.slack_hash if last else None)
            # Claimed before the call, so a second thread inside the gap does not publish too.
            self._last[user_id] = _Published(team_id, content, guard, now)
        try:
            slack_hash = self._send(deps, user_id, view, guard, team_id)
        except BaseException:
            with self._lock:  # not shown: the next publish must not think it is
                self._last.pop(user_id, None)
            raise
        with self._lock:
            self._last[user_id] = _Published(team_id, content, slack_hash, now)
        return "published"

    def _send(
        self, deps: HomeDeps, user_id: str, view: dict[str, Any], guard: str | None, team_id: str
    ) -> str | None:
        """views.publish with the guard hash; on hash_conflict rebuild and publish unguarded."""
        try:
            answer = deps.slack.views_publish(user_id=user_id, view=view, hash=guard)
        except SlackApiError as exc:
            if exc.response.get("error") != "hash_conflict":
                raise
            logger.info("Home of %s changed elsewhere; rebuilding it", user_id)
            fresh = build_home_view(read_home_state(deps, team_id=team_id, user_id=user_id))
            answer = deps.slack.views_publish(user_id=user_id, view=fresh)
        shown: Any = answer.get("view")
        found = shown.get("hash") if isinstance(shown, dict) else None
        return str(found) if found else None


def refresh_home(deps: HomeDeps, *, team_id: str, user_id: str) -> PublishOutcome | None:
    """After a change the user made: republish their Home (debounced); failures only logged.

    Only a Home this process published is refreshed: one nobody opened is built when opened, and
    a refresh must not spend the user's views.publish allowance on a tab they never look at.
    """
    if not deps.home.shows(user_id):
        return None
    try:
        return deps.home.publish(deps, team_id=team_id, user_id=user_id)
    except Exception:  # a Home refresh must never fail the command that changed something
        logger.warning("Home refresh for %s failed", user_id, exc_info=True)
        return None


def refresh_team_homes(deps: HomeDeps, *, team_id: str) -> int:
    """After a workspace-wide change (an alert subscription): refresh the Homes this process shows."""
    return sum(
        1
        for user_id in deps.home.users(team_id)
        if refresh_home(deps, team_id=team_id, user_id=user_id) == "published"
    )


def home_alert_card(
    store: Store, *, team_id: str, incident_id: int, now: datetime, quiet_minutes: int
) -> SlackMessage | None:
    """The alert card of one of this workspace's incidents (a Home "Open"), or None if not ours."""
    incident = store.get_alert_incident(incident_id)
    if incident is None:
        return None
    sub = store.get_alert_subscription(incident.subscription_id)
    if sub is None or sub.team_id != team_id:
        return None
    return build_alert(
        AlertCard(
            subscription=sub,
            cause_id=incident.cause_id,
            cause_kind=incident.cause_kind,
            label=incident.label,
            state="recovered" if incident.state == "recovered" else "open",
            count=incident.count,
            account_count=count_account_keys(incident.accounts),
            first_at=incident.first_at,
            last_at=incident.last_at,
            hourly=incident.hourly,
            quiet_minutes=quiet_minutes,
            now=now,
        )
    )
