"""The playground's App Home tab: open it as Slack does (a signed app_home_opened) and click in it.

The bot answers the event at once and publishes the view afterwards (views.publish to the fake
Slack), so opening waits briefly for a publish; an unchanged Home is not republished, and then the
view already shown is the answer. A Home button's click carries no response_url: the card it opens
arrives as a DM, which the playground shows as a channel of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import httpx

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_slack_surfaces import (
    app_home_opened_body,
    home_click_body,
    signed_event_headers,
)

JsonDict = dict[str, Any]
#: How long opening the tab waits for the bot's views.publish before showing the current view.
PUBLISH_WAIT_SECONDS: Final = 2.0


def _publishes(slack: FakeSlack, user_id: str) -> int:
    return sum(1 for c in slack.calls("views.publish") if c.params.get("user_id") == user_id)


def open_home_tab(
    slack: FakeSlack,
    http: httpx.Client,
    *,
    bot_url: str,
    secret: str,
    user_id: str,
    now: Callable[[], float],
) -> JsonDict:
    """Send app_home_opened for `user_id` and return the Home view the fake Slack then shows."""
    before = _publishes(slack, user_id)
    body = app_home_opened_body(
        user_id=user_id,
        team_id=slack.team_id,
        view=slack.surfaces.home_view(user_id),
        event_time=int(now()),
    )
    headers = signed_event_headers(secret, body, int(now()))
    try:
        status = http.post(bot_url, content=body, headers=headers).status_code
    except httpx.HTTPError as exc:
        return {"ok": False, "error": f"dispatch_failed: {type(exc).__name__}"}
    if status != 200:
        return {"ok": False, "error": f"http_status_{status}"}
    published = slack.wait_for(
        lambda: _publishes(slack, user_id) > before, timeout=PUBLISH_WAIT_SECONDS
    )
    return {"ok": True, "published": published, "view": slack.surfaces.home_view(user_id)}


def home_click(slack: FakeSlack, user_id: str, action: Mapping[str, Any]) -> bytes:
    """The block_actions body of a click on `action` in the user's Home (validated against the view)."""
    view = slack.surfaces.home_view(user_id)
    if view is None:
        raise ValueError("open the Home tab first")
    known = {
        (str(e.get("action_id")), str(e.get("value", "")))
        for block in view.get("blocks", [])
        for e in [block.get("accessory") or {}, *(block.get("elements") or [])]
        if isinstance(e, dict) and "action_id" in e
    }
    if (str(action.get("action_id")), str(action.get("value", ""))) not in known:
        raise ValueError("that button is not on the Home tab")
    return home_click_body(dict(action), user_id=user_id, view=view, team_id=slack.team_id)
