"""The playground's link side: a message with a Zuora link is shared with the bot (a signed
link_shared, as Slack sends it), the unfurl the bot attaches shows under the message, and a user
message's "…" menu runs the "Zuora account failures" message shortcut (a signed message_action).

Functions over a Playground's own state (seen through `LinkHost`, so this module never imports
playground.py), kept here so playground.py holds only the hooks.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_slack_links import (
    SharedMessage,
    link_shared_body,
    message_action_body,
    sign_json,
    slack_text,
    user_message,
)
from bot.sandbox.slack_requests import sign

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]
#: The shortcut's callback_id in manifest.json (handlers.shortcuts answers it).
SHORTCUT_CALLBACK_ID = "zuora_failures_for_message"


class LinkHost(Protocol):
    """The parts of a Playground these functions use."""

    user: Any
    _slack: FakeSlack
    _signing_secret: str
    _bot_url: str
    _http: httpx.Client | None
    _changed: threading.Condition
    _state: Any
    _clock: Callable[[], float]

    def _add_message(
        self,
        channel: str,
        payload: JsonDict,
        *,
        author: str,
        ephemeral: bool,
        ts: str | None = None,
        raw: JsonDict | None = None,
    ) -> Any: ...

    def _touch(self, message: Any, *, deleted: bool = False) -> None: ...

    def _trigger_id(self) -> str: ...

    def _route(self, response_url: str, channel: str) -> None: ...


def post_user_message(pg: LinkHost, channel: str, line: str) -> None:
    """Show the user's message; when it has links on the app's unfurl domains, tell the bot."""
    slack = pg._slack
    shared = slack.links.share(line, channel=channel, user=pg.user.id)
    text = slack_text(line) if shared.links else line
    pg._add_message(
        channel,
        {"text": text},
        author="you",
        ephemeral=False,
        ts=shared.ts,
        raw=user_message(shared),
    )
    if shared.links:
        body = link_shared_body(shared, team_id=slack.team_id)
        _post(pg, body, sign_json(pg._signing_secret, body, int(pg._clock())))


def show_unfurls(pg: LinkHost, shared: SharedMessage) -> None:
    """The bot's chat.unfurl landed: show its unfurls as attachments under the message."""
    unfurls = pg._slack.links.unfurls(shared)
    with pg._changed:
        message_id = pg._state.by_ts.get((shared.channel, shared.ts))
        message = pg._state.messages.get(message_id) if message_id else None
        if message is None:
            return
        message.payload = {**message.payload, "attachments": list(unfurls.values())}
        pg._touch(message)


def run_shortcut(pg: LinkHost, message_id: str) -> JsonDict:
    """Run "Zuora account failures" on a user's message, as its "…" menu does in Slack."""
    with pg._changed:
        message = pg._state.messages.get(message_id)
        if message is None or message.deleted or message.ephemeral or message.raw is None:
            return {"ok": False, "error": "no such message"}
        channel, raw = message.channel, copy.deepcopy(message.raw)
    response_url = pg._slack.response_url("shortcut", kind="interaction", channel=channel)
    pg._route(response_url, channel)  # the answers are new messages in the channel
    body = message_action_body(
        raw,
        callback_id=SHORTCUT_CALLBACK_ID,
        response_url=response_url,
        channel_id=channel,
        user_id=pg.user.id,
        team_id=pg._slack.team_id,
        trigger_id=pg._trigger_id(),
    )
    status = _post(pg, body, sign(pg._signing_secret, body, int(pg._clock())))
    return {"ok": status == 200, "status": status}


def _post(pg: LinkHost, body: bytes, headers: dict[str, str]) -> int:
    """POST a signed body to the bot; the HTTP status, 0 when the bot could not be reached."""
    http = pg._http
    if http is None:
        raise RuntimeError("Playground is not started")
    started = time.monotonic()
    try:
        response = http.post(pg._bot_url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        logger.warning("the bot did not take a link request: %s", exc)
        return 0
    logger.debug("bot answered %s in %.3fs", response.status_code, time.monotonic() - started)
    return response.status_code
