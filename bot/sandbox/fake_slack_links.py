"""The fake Slack's link side: users' messages that share links, `chat.unfurl`, and the signed
`link_shared` event and `message_action` shortcut bodies Slack sends about them.

Follows docs.slack.dev: reference/methods/chat.unfurl (arguments and errors), reference/events/
link_shared (the event), reference/interaction-payloads/shortcuts-interaction-payload (the
shortcut). Where those pages are silent the behaviour is a GUESS, named where it is decided.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from bot.sandbox.slack_requests import DEFAULT_TRIGGER_ID, VERIFICATION_TOKEN, sign

JsonDict = dict[str, Any]
JSON_CONTENT_TYPE: Final = "application/json"
SOURCES: Final = ("composer", "conversations_history")
_URL_IN_TEXT = re.compile(r"https?://[^\s<>]+")
_UNFURL_PART_KEYS: Final = frozenset({"blocks", "text", "title", "title_link", "fallback", "color"})


@dataclass
class SharedMessage:
    """A user's message (or composer draft) with links: what Slack keeps to check chat.unfurl."""

    channel: str
    ts: str
    user: str
    text: str
    links: list[JsonDict]
    unfurl_id: str
    source: str
    unfurls: dict[str, JsonDict] = field(default_factory=dict)


def slack_text(typed: str) -> str:
    """A message's `text` as Slack stores it: `&`, `<`, `>` escaped and each URL as `<url>`."""
    pieces: list[str] = []
    last = 0
    for match in _URL_IN_TEXT.finditer(typed):
        pieces.append(_escape(typed[last : match.start()]))
        pieces.append(f"<{_escape(match.group(0))}>")
        last = match.end()
    pieces.append(_escape(typed[last:]))
    return "".join(pieces)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _registered(host: str, domains: tuple[str, ...]) -> str | None:
    """The registered unfurl domain a host falls under (the domain or one of its subdomains)."""
    return next((d for d in domains if host == d or host.endswith("." + d)), None)


class FakeUnfurls:
    """Shared messages and the `chat.unfurl` method; FakeSlack routes the method here."""

    def __init__(
        self,
        *,
        team_id: str = "T0001",
        app_id: str = "A0001",
        registered_domains: tuple[str, ...] = ("zuora.com",),
    ) -> None:
        """`registered_domains`: the app's `unfurl_domains` (manifest.json's, unless told)."""
        self.team_id = team_id
        self.app_id = app_id
        self.registered_domains = registered_domains
        self._lock = threading.Lock()
        self._messages: list[SharedMessage] = []
        self._ids = itertools.count(1)
        self._listeners: list[Callable[[SharedMessage], None]] = []

    def add_listener(self, listener: Callable[[SharedMessage], None]) -> Callable[[], None]:
        """Call `listener(message)` (on a thread of its own) after each accepted chat.unfurl."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def share(
        self,
        typed: str,
        *,
        domains: tuple[str, ...] | None = None,
        channel: str = "C0001",
        user: str = "U0001",
        source: str = "conversations_history",
    ) -> SharedMessage:
        """A user posts (or types, `source="composer"`) `typed`; its links on `domains` are kept.

        `domains` defaults to `registered_domains`.

        GUESS: a composer draft's channel reads `COMPOSER` and its message_ts is the unfurl_id's
        form, as the link_shared page's composer example shows.
        """
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        with self._lock:
            serial = next(self._ids)
        ts = f"1700000100.{serial:06d}"
        unfurl_id = f"{channel}.{ts}.{serial:064x}"
        domains = self.registered_domains if domains is None else domains
        links = []
        for url in dict.fromkeys(_URL_IN_TEXT.findall(typed)):
            domain = _registered((urlsplit(url).hostname or "").lower(), domains)
            if domain is not None:
                links.append({"domain": domain, "url": url})
        composer = source == "composer"
        shared = SharedMessage(
            channel="COMPOSER" if composer else channel,
            ts=unfurl_id if composer else ts,
            user=user,
            text=slack_text(typed),
            links=links,
            unfurl_id=unfurl_id,
            source=source,
        )
        with self._lock:
            self._messages.append(shared)
        return shared

    def unfurls(self, shared: SharedMessage) -> dict[str, JsonDict]:
        """The unfurls attached to a shared message so far, by URL."""
        with self._lock:
            return copy.deepcopy(shared.unfurls)

    def chat_unfurl(self, params: dict[str, Any]) -> JsonDict:
        """`chat.unfurl`: find the message, check each URL is one of its links, attach.

        Repeated calls for one message replace the same unfurls (the method's documented
        behaviour). GUESS: a request with neither pair (channel+ts, unfurl_id+source) gets
        `missing_channel`, and an unknown unfurl_id gets `cannot_unfurl_url`.
        """
        with self._lock:
            target = self._target(params)
            if isinstance(target, str):
                return {"ok": False, "error": target}
            unfurls = _decode_unfurls(params.get("unfurls"))
            if isinstance(unfurls, str):
                return {"ok": False, "error": unfurls}
            shared_urls = {link["url"] for link in target.links}
            if any(url not in shared_urls for url in unfurls):
                return {"ok": False, "error": "cannot_unfurl_message"}
            target.unfurls.update(copy.deepcopy(unfurls))
            listeners = list(self._listeners)
        for listener in listeners:  # the caller may hold FakeSlack's lock: never call back here
            threading.Thread(target=listener, args=(target,), daemon=True).start()
        return {"ok": True}

    def _target(self, params: dict[str, Any]) -> SharedMessage | str:
        unfurl_id, source = params.get("unfurl_id"), params.get("source")
        if unfurl_id or source:
            if not unfurl_id or source not in SOURCES:
                return "invalid_arguments"
            found = next((m for m in self._messages if m.unfurl_id == unfurl_id), None)
            return found if found is not None else "cannot_unfurl_url"
        channel, ts = params.get("channel"), params.get("ts")
        if not channel:
            return "missing_channel"
        if not ts:
            return "missing_ts"
        if not any(m.channel == channel for m in self._messages):
            return "cannot_find_channel"
        found = next((m for m in self._messages if m.channel == channel and m.ts == ts), None)
        return found if found is not None else "cannot_find_message"


def _decode_unfurls(raw: object) -> dict[str, JsonDict] | str:
    """`unfurls` as a URL → attachment map (JSON text in a form, an object in a JSON body)."""
    if raw is None or raw == "":
        return "missing_unfurls"
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return "invalid_unfurls_format"
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        return "invalid_unfurls_format"
    if any(not _UNFURL_PART_KEYS & set(value) for value in raw.values()):
        return "cannot_parse_attachment"
    return raw


def link_shared_body(shared: SharedMessage, *, team_id: str = "T0001", event_id: int = 1) -> bytes:
    """The JSON `event_callback` envelope of a link_shared event, as the Events API posts it."""
    event: JsonDict = {
        "type": "link_shared",
        "channel": shared.channel,
        "is_bot_user_member": True,
        "user": shared.user,
        "message_ts": shared.ts,
        "unfurl_id": shared.unfurl_id,
        "source": shared.source,
        "links": copy.deepcopy(shared.links),
        "event_ts": shared.ts if shared.source != "composer" else "1700000100.000000",
    }
    envelope = {
        "token": VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "authed_users": [shared.user],
        "event_id": f"Ev{event_id:010d}",
        "event_time": 1700000100,
    }
    return json.dumps(envelope).encode()


def sign_json(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The signed headers of an Events API post: like a form's, with the JSON content type."""
    return {**sign(secret, body, timestamp), "Content-Type": JSON_CONTENT_TYPE}


def message_action_body(
    message: JsonDict,
    *,
    callback_id: str,
    response_url: str,
    channel_id: str = "C0001",
    user_id: str = "U0001",
    team_id: str = "T0001",
    trigger_id: str = DEFAULT_TRIGGER_ID,
) -> bytes:
    """Form body (`payload=` JSON) of a message shortcut run on `message` (which has its `ts`)."""
    if "ts" not in message:
        raise ValueError("message must carry its 'ts'")
    payload: JsonDict = {
        "type": "message_action",
        "token": VERIFICATION_TOKEN,
        "action_ts": "1700000200.000001",
        "team": {"id": team_id, "domain": "fake-team"},
        "user": {"id": user_id, "username": "alice", "name": "alice", "team_id": team_id},
        "channel": {"id": channel_id, "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "response_url": response_url,
        "message_ts": message["ts"],
        "message": {"type": "message", **message},
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def user_message(shared: SharedMessage) -> JsonDict:
    """The message as a shortcut payload carries it."""
    return {"type": "message", "user": shared.user, "ts": shared.ts, "text": shared.text}
