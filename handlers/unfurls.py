"""link_shared → chat.unfurl: a Zuora account link pasted in a channel unfurls into a summary.

Bolt acks the event itself; the work runs after. The unfurl's "Open failures" button is the digest's
(handlers.digest): it shows the full failures card to the clicker alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.deps import Deps
from bot.links.service import UnfurlService
from bot.links.urls import link_hosts
from bot.zuora.track import new_track_id

logger = logging.getLogger(__name__)

LINK_SHARED = "link_shared"


def register(app: App, deps: Deps) -> None:
    """Listen for link_shared with one UnfurlService (and its short cache) for the process."""
    links = build_unfurl_service(deps)

    def on_link_shared(event: dict[str, Any], body: dict[str, Any]) -> None:
        handle_link_shared(deps, links, event, team_id=str(body.get("team_id") or ""))

    app.event(LINK_SHARED)(on_link_shared)


def zuora_link_hosts(deps: Deps) -> frozenset[str]:
    """ZUORA_UI_URL's host and ZUORA_UNFURL_DOMAINS: the hosts whose links are Zuora's."""
    return link_hosts(deps.settings.zuora.ui_url, deps.settings.links.zuora_unfurl_domains)


def build_unfurl_service(deps: Deps) -> UnfurlService:
    """The UnfurlService over the process's NotificationService and settings."""
    return UnfurlService(
        deps.service,
        ui_url=deps.settings.zuora.ui_url,
        hosts=zuora_link_hosts(deps),
        max_links=deps.settings.links.zuora_unfurl_max_links,
    )


def handle_link_shared(
    deps: Deps, links: UnfurlService, event: Mapping[str, Any], *, team_id: str
) -> None:
    """Summarise the event's Zuora links and attach them; failures are logged, never raised."""
    urls = [str(x.get("url")) for x in event.get("links") or [] if isinstance(x, Mapping)]
    track_id = new_track_id("zops", team_id, str(event.get("user") or ""))
    try:
        unfurls = links.unfurls(urls, track_id=track_id)
        if not unfurls:
            return
        unfurl_id, source = unfurl_target(event)
        if unfurl_id is not None:
            deps.slack.chat_unfurl(unfurls=unfurls, unfurl_id=unfurl_id, source=source)
        else:
            channel, ts = str(event.get("channel") or ""), str(event.get("message_ts") or "")
            deps.slack.chat_unfurl(unfurls=unfurls, channel=channel, ts=ts)
    except SlackApiError as exc:
        logger.warning("chat.unfurl refused (%s)", exc.response.get("error"))
    except Exception:  # an event has no one to tell; the link stays a plain link
        logger.exception("unfurl failed (track %s)", track_id)


def unfurl_target(event: Mapping[str, Any]) -> tuple[str | None, str]:
    """(unfurl_id, source) when Slack gave both (a composer link has no message yet), else (None, "").

    Without them the unfurl names the message by channel and message_ts.
    """
    unfurl_id, source = event.get("unfurl_id"), event.get("source")
    if isinstance(unfurl_id, str) and unfurl_id and source in ("composer", "conversations_history"):
        return unfurl_id, str(source)
    return None, ""
