"""Fake Slack's Home surfaces: views.publish, conversations.open, and app_home_opened events signed like Slack's.

Follows docs.slack.dev/reference/methods/views.publish: `user_id` and `view` are required, the view's
`type` must be `home`, a Home holds at most 100 blocks (docs.slack.dev/surfaces/app-home), and a `hash`
that is not the hash of the view currently published is refused with `hash_conflict`; every publish
answers the new view with a fresh `hash`. conversations.open (docs.slack.dev/reference/methods/
conversations.open) returns the DM channel with a user, the same one each time.

GUESS (Slack documents views.publish as Tier 4 and says Home publishes are limited per user, without a
number): at most PUBLISHES_PER_USER_MINUTE publishes per user per minute; the next is answered HTTP 429
`ratelimited` with Retry-After, as Slack answers every rate-limited Web API call.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from bot.sandbox.slack_requests import sign

JsonDict = dict[str, Any]
#: (payload, HTTP status, Retry-After seconds or None): FakeSlack turns it into its reply.
SurfaceReply = tuple[JsonDict, int, int | None]

MAX_HOME_BLOCKS: Final = 100
PUBLISHES_PER_USER_MINUTE: Final = 10
_USER_ID: Final = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def _error(error: str, *messages: str) -> SurfaceReply:
    payload: JsonDict = {"ok": False, "error": error}
    if messages:
        payload["response_metadata"] = {"messages": list(messages)}
    return payload, 200, None


class HomeSurfaces:
    """Published Home views per user, their hashes, the per-user publish pace, and DM channels."""

    def __init__(
        self, *, team_id: str, bot_user_id: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._team_id = team_id
        self._bot_user_id = bot_user_id
        self._clock = clock
        self._views: dict[str, JsonDict] = {}
        self._publishes: dict[str, deque[float]] = defaultdict(deque)
        self._serial = itertools.count(1)
        self.per_minute = PUBLISHES_PER_USER_MINUTE

    # ----- reading (tests, playground) -------------------------------------------------------

    def home_view(self, user_id: str) -> JsonDict | None:
        """The Home view currently published for `user_id`, or None."""
        view = self._views.get(user_id)
        return copy.deepcopy(view) if view is not None else None

    def reset(self) -> None:
        """Forget every published view and the publish pace."""
        self._views.clear()
        self._publishes.clear()

    # ----- Web API methods (called with FakeSlack's lock held) ---------------------------------

    def views_publish(self, params: JsonDict) -> SurfaceReply:
        """views.publish: validate like Slack, enforce `hash`, store the view, answer it."""
        user_id = str(params.get("user_id") or "")
        if not user_id:
            return _error("invalid_arguments", "[ERROR] missing required field: user_id")
        view = params.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except json.JSONDecodeError:
                return _error("invalid_arguments", "[ERROR] view must be a JSON object")
        problem = _view_problem(view)
        if problem is not None:
            return _error("invalid_arguments", problem)
        assert isinstance(view, dict)
        current = self._views.get(user_id)
        wanted = params.get("hash")
        if wanted and (current is None or current["hash"] != wanted):
            return _error("hash_conflict")
        retry_after = self._take_publish(user_id)
        if retry_after is not None:
            return {"ok": False, "error": "ratelimited"}, 429, retry_after
        serial = next(self._serial)
        published: JsonDict = {
            "id": f"V{serial:08d}",
            "team_id": self._team_id,
            "type": "home",
            "blocks": copy.deepcopy(view.get("blocks", [])),
            "private_metadata": str(view.get("private_metadata", "")),
            "callback_id": str(view.get("callback_id", "")),
            "external_id": str(view.get("external_id", "")),
            "state": {"values": {}},
            "hash": f"{int(self._clock())}.{serial:08d}",
            "root_view_id": f"V{serial:08d}",
            "app_id": "A0001",
            "bot_id": "B0001",
        }
        self._views[user_id] = published
        return {"ok": True, "view": copy.deepcopy(published)}, 200, None

    def conversations_open(self, params: JsonDict) -> SurfaceReply:
        """conversations.open with `users` (one user): that user's DM channel with the bot."""
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users and not params.get("channel"):
            return _error("users_list_not_supplied")
        if len(users) != 1:
            return _error("not_implemented_in_fake", "[GUESS] only one-user DMs are served")
        user_id = users[0]
        if not _USER_ID.match(user_id):
            return _error("user_not_found")
        if user_id == self._bot_user_id:
            return _error("cannot_dm_bot")
        channel = {"id": dm_channel(user_id)}
        return {"ok": True, "channel": channel}, 200, None

    def _take_publish(self, user_id: str) -> int | None:
        """Count a publish; the seconds to wait if the user's minute is full (the GUESS above)."""
        now = self._clock()
        recent = self._publishes[user_id]
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return max(1, int(60 - (now - recent[0])) + 1)
        recent.append(now)
        return None


def dm_channel(user_id: str) -> str:
    """The DM channel id the fake gives the bot's conversation with `user_id`."""
    return "D" + user_id[1:]


def _view_problem(view: Any) -> str | None:
    """Why Slack would refuse this Home view, or None."""
    if not isinstance(view, dict):
        return "[ERROR] missing required field: view"
    if view.get("type") != "home":
        return "[ERROR] view type must be home [json-pointer:/view/type]"
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return "[ERROR] missing required field: blocks [json-pointer:/view/blocks]"
    if len(blocks) > MAX_HOME_BLOCKS:
        return f"[ERROR] must be less than {MAX_HOME_BLOCKS + 1} items [json-pointer:/view/blocks]"
    if any(not isinstance(block, dict) or "type" not in block for block in blocks):
        return "[ERROR] every block needs a type [json-pointer:/view/blocks]"
    return None


# ----- the event Slack sends when a user opens the Home tab --------------------------------------


def app_home_opened_body(
    *,
    user_id: str,
    team_id: str = "T0001",
    api_app_id: str = "A0001",
    view: JsonDict | None = None,
    event_time: int | None = None,
) -> bytes:
    """An Events API `event_callback` envelope carrying `app_home_opened` (tab `home`), as Slack sends.

    `view` is the Home view Slack shows the user now (with its `hash`); absent before any publish.
    """
    when = int(time.time() if event_time is None else event_time)
    event: JsonDict = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": dm_channel(user_id),
        "tab": "home",
        "event_ts": f"{when}.000100",
    }
    if view is not None:
        event["view"] = view
    envelope = {
        "token": "fake-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{when:010d}{user_id[-4:]}",
        "event_time": when,
        "authorizations": [
            {
                "team_id": team_id,
                "user_id": "U0BOT0001",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def signed_event_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's signature headers for an Events API delivery (a JSON body)."""
    headers = sign(secret, body, int(time.time() if timestamp is None else timestamp))
    headers["Content-Type"] = "application/json"
    return headers


def send_app_home_opened(
    url: str, secret: str, *, user_id: str, team_id: str, view: JsonDict | None, timeout: float = 10
) -> int:
    """POST a signed app_home_opened to the bot's Request URL; returns the HTTP status it answered."""
    body = app_home_opened_body(user_id=user_id, team_id=team_id, view=view)
    request = Request(url, data=body, headers=signed_event_headers(secret, body), method="POST")
    with urlopen(request, timeout=timeout) as answer:  # noqa: S310 - loopback bot URL
        return int(answer.status)


def home_click_body(
    element: JsonDict, *, user_id: str, view: JsonDict, team_id: str = "T0001"
) -> bytes:
    """Form body of a block_actions click on a Home tab button: a `view` container, no response_url."""
    action = {
        "type": "button",
        "action_id": element["action_id"],
        "block_id": element.get("block_id", ""),
        "text": element.get("text", {"type": "plain_text", "text": ""}),
        "value": element.get("value", ""),
        "action_ts": f"{int(time.time())}.000200",
    }
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "user", "name": "user", "team_id": team_id},
        "api_app_id": "A0001",
        "token": "fake-verification-token",
        "container": {"type": "view", "view_id": view.get("id", "")},
        "trigger_id": "1700000000001.1000000001.0123456789abcdef0123456789abcdef",
        "team": {"id": team_id, "domain": "fake-team"},
        "is_enterprise_install": False,
        "view": view,
        "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
