"""The Slack playground: a local web page that plays Slack's part against the real bot.

It serves a chat-like page on 127.0.0.1. Slash commands typed there and clicks on rendered Block Kit
cards are turned into the exact form bodies Slack sends (`bot.sandbox.slack_requests`), signed with the
bot's signing secret and POSTed to the bot's `/slack/events`. What the bot sends back (the ack body,
posts to the fake Slack's response_url receiver, chat.postMessage / chat.update into channels) is
collected through `FakeSlack.add_listener` and served to the page, which polls `GET /api/state`.

Posts to a response_url land as the fake Slack says Slack would show them (`ResponseUrlKind`): on a
slash command's URL every post is a new message, even with `replace_original: true`, and the ack
stays; on a click's URL `replace_original` / `delete_original` change the clicked message.

Only this page's server, the fake Slack, the bot and the sandbox Zuora are involved: nothing leaves
the machine. The page never loads remote resources.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Any, Final, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from bot.core.closing import StopsOnExit
from bot.sandbox import playground_links
from bot.sandbox.fake_slack import FakeSlack, SlackEvent
from bot.sandbox.playground_home import home_click, open_home_tab
from bot.sandbox.slack_requests import (
    block_actions_body,
    checkbox_action_body,
    sign,
    slash_command_body,
)

if TYPE_CHECKING:
    from bot.sandbox.stack import SandboxStack

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

TITLE: Final = "Zuora Ops playground — sandbox tenant, nothing leaves this machine"
BOT_NAME: Final = "Zuora Ops"
SLACKBOT: Final = "Slackbot"
SLASH_COMMANDS: Final = ("/zuora",)
# Slack gives up on an ack after three seconds and shows "operation_timeout".
SLACK_ACK_TIMEOUT: Final = 3.0
# Longest a GET /api/state?wait= may block before answering "nothing new".
MAX_WAIT_SECONDS: Final = 25.0
MAX_BODY_BYTES: Final = 1_000_000
_STATIC_FILES: Final = {
    "/": ("playground.html", "text/html; charset=utf-8"),
    "/static/playground.html": ("playground.html", "text/html; charset=utf-8"),
    "/static/playground.js": ("playground.js", "text/javascript; charset=utf-8"),
    "/static/playground.css": ("playground.css", "text/css; charset=utf-8"),
}
# The page runs only our own script and style, and never talks to anything but this server.
_SECURITY_HEADERS: Final = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
_POLL_INTERVAL: Final = 0.05
_INTERACTIVE_TYPES: Final = frozenset({"checkboxes", "overflow", "static_select", "radio_buttons"})


@dataclass(frozen=True)
class PlaygroundChannel:
    """A channel shown in the sidebar: Slack id and name without '#'."""

    id: str
    name: str


@dataclass(frozen=True)
class PlaygroundUser:
    """Who is typing in the playground (the Slack user the bot sees)."""

    id: str = "U0PLAYER01"
    name: str = "you"


# build_tenant gives accounts 3 to 6 names full of mrkdwn control characters.
HOSTILE_ACCOUNT: Final = "A00000003"

DEFAULT_CHANNELS: Final = (
    PlaygroundChannel("C0BILLOPS1", "billing-ops"),
    PlaygroundChannel("C0SUPPORT1", "support"),
)


class PlaygroundError(ValueError):
    """A request from the page that cannot be served (unknown message, bad body)."""


@dataclass
class _Message:
    """One message as the page shows it; `rev` is the state version of its last change."""

    id: str
    seq: int
    channel: str
    ts: str
    ephemeral: bool
    author: str
    payload: JsonDict
    rev: int
    at: float = 0.0
    thread_ts: str | None = None
    visible_to: str | None = None
    edited: bool = False
    deleted: bool = False
    # Reserved for a slash command's ack: hidden until the ack or a response_url post fills it.
    pending: bool = False
    # The raw message as Slack stores it (channel messages), sent back in block_actions payloads.
    raw: JsonDict | None = None

    def to_json(self) -> JsonDict:
        """The page's view of this message."""
        return {
            "id": self.id,
            "seq": self.seq,
            "channel": self.channel,
            "ts": self.ts,
            "ephemeral": self.ephemeral,
            "author": self.author,
            "text": self.payload.get("text") or "",
            "blocks": self.payload.get("blocks") or [],
            "attachments": self.payload.get("attachments") or [],
            "thread_ts": self.thread_ts,
            "visible_to": self.visible_to,
            "edited": self.edited,
            "deleted": self.deleted,
            "rev": self.rev,
            "at": self.at,
        }


@dataclass
class _Route:
    """Where posts to one response_url we issued land: its channel and the message it belongs to.

    A slash command's URL belongs to no message (`original` None): the fake Slack reports every post
    there as a new message, as Slack shows it. A click's URL belongs to the clicked message.
    """

    channel: str
    original: str | None


@dataclass
class _Outcome:
    """What the bot answered to one signed request."""

    status: int
    body: bytes = b""
    content_type: str = ""
    error: str | None = None


@dataclass
class _State:
    """Everything the page shows, guarded by the Playground's condition."""

    # Starts at 1 so that `since=0` always means "everything" (the page's first request).
    version: int = 1
    messages: dict[str, _Message] = field(default_factory=dict)
    by_ts: dict[tuple[str, str], str] = field(default_factory=dict)
    routes: dict[str, _Route] = field(default_factory=dict)
    channels: dict[str, PlaygroundChannel] = field(default_factory=dict)


def _message_fields(body: Mapping[str, Any]) -> JsonDict:
    return {k: copy.deepcopy(body[k]) for k in ("text", "blocks", "attachments") if k in body}


class Playground(StopsOnExit):
    """Serve the Slack playground page and relay its commands and clicks to the bot as Slack would."""

    def __init__(
        self,
        *,
        slack: FakeSlack,
        bot_url: str,
        signing_secret: str,
        channels: Sequence[PlaygroundChannel] = DEFAULT_CHANNELS,
        user: PlaygroundUser | None = None,
        hints: Sequence[str] = (),
        suggestions: Sequence[str] = (),
        run_digests: Callable[[], object] | None = None,
        ack_timeout: float = SLACK_ACK_TIMEOUT,
        clock: Callable[[], float] = time.time,
        port: int = 0,
    ) -> None:
        """Configure; nothing is bound or registered until `start()`."""
        if not channels:
            raise ValueError("the playground needs at least one channel")
        self._slack = slack
        self._bot_url = bot_url
        self._signing_secret = signing_secret
        self.user = user or PlaygroundUser()
        self._hints = tuple(hints)
        self._suggestions = tuple(suggestions)
        self._run_digests = run_digests
        self._ack_timeout = ack_timeout
        self._clock = clock
        self._port = port
        self._first_channel = channels[0].id
        self._state = _State(channels={c.id: c for c in channels})
        self._changed = threading.Condition(threading.RLock())
        self._ids = itertools.count(1)
        self._ts_counter = itertools.count(1)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self._remove_listener: Callable[[], None] | None = None
        self._remove_unfurls: Callable[[], None] | None = None
        self._stopping = False

    def __repr__(self) -> str:
        url = self.url if self._server is not None else "not started"
        return f"Playground(url={url!r}, bot_url={self._bot_url!r})"

    @classmethod
    def for_stack(cls, stack: SandboxStack, **options: Any) -> Playground:
        """A playground wired to a started SandboxStack's fake Slack, bot and signing secret."""
        channels: list[PlaygroundChannel] = list(options.pop("channels", DEFAULT_CHANNELS))
        audit = stack.audit_channel
        if audit and all(c.id != audit for c in channels):
            channels.append(PlaygroundChannel(audit, "zuora-audit"))
        big = stack.tenant.big_account if stack.tenant is not None else None
        account = big.number if big is not None else "A00000001"
        client_id = str(stack.zuora.client_id)
        hints = (
            f"Sandbox Zuora at {stack.zuora.base_url} (client id {client_id[:8]}…; the client "
            "secret is new each run: `zuora-ops demo` prints both, with `export` lines for the "
            "CLI).",
            f"Bot at {stack.bot_url}, signed with this run's signing secret; "
            f"fake Slack at {stack.slack.root_url}.",
            f"Try the big sandbox account {account}, and {HOSTILE_ACCOUNT}, whose name tries to "
            "break Slack formatting.",
        )
        suggestions: tuple[str, ...] = (
            f"/zuora failures {account}",
            f"/zuora failures {account} 7d",
            f"/zuora failures {HOSTILE_ACCOUNT}",
            "/zuora outages",
            "/zuora digest preview",
            "/zuora status",
            "/zuora help",
        )
        # The sandbox's Zuora UI is on 127.0.0.1: the installed app "registers" that host.
        ui_url = stack.settings().zuora.ui_url
        stack.slack.links.registered_domains = (urlsplit(ui_url).hostname or "127.0.0.1",)
        if big is not None:
            link = f"{ui_url}/apps/CustomerAccount.do?method=view&id={big.id}"
            suggestions = (*suggestions, f"Any idea what broke here? {link}")
        options.setdefault("hints", hints)
        options.setdefault("suggestions", suggestions)
        options.setdefault("run_digests", _digest_job(stack))
        return cls(
            slack=stack.slack,
            bot_url=stack.bot_url,
            signing_secret=stack.signing_secret,
            channels=channels,
            **options,
        )

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> Playground:
        """Declare the channels in the fake Slack, listen to it, and serve the page; returns self."""
        if self._server is not None:
            return self
        for channel in list(self._state.channels.values()):
            self._slack.set_channel(channel.id, name=channel.name)
        self._http = httpx.Client(trust_env=False, timeout=self._ack_timeout)
        self._remove_listener = self._slack.add_listener(self._on_slack_event)
        self._remove_unfurls = self._slack.links.add_listener(
            lambda shared: playground_links.show_unfurls(self, shared)
        )
        self._stopping = False
        self._server = _Server(self, self._port)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name="slack-playground",
            daemon=True,
        )
        self._thread.start()
        logger.info("slack playground at %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, release waiting pollers, stop listening; safe to call twice."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._remove_unfurls is not None:
            self._remove_unfurls()
            self._remove_unfurls = None
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Playground:
        return self.start()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT/`, the page's address."""
        if self._server is None:
            raise RuntimeError("Playground is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    # ----- what the page asks for ------------------------------------------------------------

    def snapshot(self, since: int = 0, wait: float = 0.0) -> JsonDict:
        """Messages changed after version `since` (waiting up to `wait` s for one), and the channels."""
        deadline = time.monotonic() + min(max(wait, 0.0), MAX_WAIT_SECONDS)
        with self._changed:
            while self._state.version <= since and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            state = self._state
            full = since <= 0 or since > state.version
            changed = [
                m.to_json()
                for m in state.messages.values()
                if not m.pending and (full or m.rev > since)
            ]
            return {
                "version": state.version,
                "full": full,
                "messages": sorted(changed, key=lambda m: int(m["seq"])),
                "channels": [{"id": c.id, "name": c.name} for c in state.channels.values()],
            }

    def config(self) -> JsonDict:
        """Static facts the page shows in its header and composer."""
        return {
            "title": TITLE,
            "hints": list(self._hints),
            "suggestions": list(self._suggestions),
            "me": {"id": self.user.id, "name": self.user.name},
            "bot": {"id": self._slack.bot_user_id, "name": BOT_NAME},
            "team": {"id": self._slack.team_id, "domain": self._slack.team_domain},
            "commands": list(SLASH_COMMANDS),
            "default_channel": self._first_channel,
            "can_run_digests": self._run_digests is not None,
        }

    def messages(self, channel: str | None = None) -> list[JsonDict]:
        """Visible messages (optionally of one channel) in the order shown; for tests and debugging."""
        with self._changed:
            shown = [
                m.to_json()
                for m in self._state.messages.values()
                if not m.pending and not m.deleted and (channel is None or m.channel == channel)
            ]
        return sorted(shown, key=lambda m: int(m["seq"]))

    def run_command(self, channel: str, line: str) -> JsonDict:
        """Handle a composer line: a slash command goes to the bot signed; plain text is just shown."""
        line = line.strip()
        channel = self._known_channel(channel)
        if not line:
            raise PlaygroundError("empty message")
        if not line.startswith("/"):
            playground_links.post_user_message(self, channel, line)  # and its Zuora links, if any
            return {"ok": True, "sent": "message"}
        command, _, text = line.partition(" ")
        if command not in SLASH_COMMANDS:
            self._add_message(
                channel,
                {"text": f"`{_escape(command)}` is not a valid command in this sandbox."},
                author=SLACKBOT,
                ephemeral=True,
            )
            return {"ok": False, "error": "unknown_command"}
        self._add_message(channel, {"text": f"`{_escape(line)}`"}, author="you", ephemeral=True)
        response_url = self._slack.response_url("cmd", kind="command")
        # Holds the ack's place above later replies; no response_url post can fill or replace it.
        reserved = self._add_message(channel, {}, author=BOT_NAME, ephemeral=True, pending=True)
        with self._changed:
            self._state.routes[response_url] = _Route(channel, None)
        body = slash_command_body(
            text=text.strip(),
            response_url=response_url,
            command=command,
            user_id=self.user.id,
            user_name=self.user.name,
            team_id=self._slack.team_id,
            team_domain=self._slack.team_domain,
            channel_id=channel,
            channel_name=self._state.channels[channel].name,
            trigger_id=self._trigger_id(),
        )
        outcome = self._post_to_bot(body)
        self._apply_command_ack(reserved.id, command, outcome)
        return {"ok": outcome.error is None, "status": outcome.status, "error": outcome.error}

    def click(
        self, message_id: str, action: Mapping[str, Any], state: Mapping[str, Any]
    ) -> JsonDict:
        """Send a block_actions payload for a click (or tick) on one message's element."""
        with self._changed:
            message = self._state.messages.get(message_id)
            if message is None or message.deleted or message.pending:
                raise PlaygroundError("no such message")
            channel, ts, ephemeral = message.channel, message.ts, message.ephemeral
            raw = copy.deepcopy(message.raw) if message.raw is not None else None
            if raw is None and not ephemeral:
                raw = {
                    "type": "message",
                    "ts": ts,
                    "user": self._slack.bot_user_id,
                    **copy.deepcopy(message.payload),
                }
        response_url = self._slack.response_url(
            "action", kind="interaction", channel=channel, message_ts="" if ephemeral else ts
        )
        with self._changed:
            self._state.routes[response_url] = _Route(channel, message_id)
        body = self._block_actions(
            action, state, response_url, channel, ts, None if ephemeral else raw
        )
        outcome = self._post_to_bot(body)
        if outcome.error is not None:
            self._add_message(
                channel,
                {
                    "text": f":warning: {BOT_NAME} did not accept that action "
                    f'(error "{_escape(outcome.error)}").'
                },
                author=SLACKBOT,
                ephemeral=True,
            )
        return {"ok": outcome.error is None, "status": outcome.status, "error": outcome.error}

    def dismiss(self, message_id: str) -> None:
        """Remove an ephemeral message from view, as Slack's 'Dismiss message' does."""
        with self._changed:
            message = self._state.messages.get(message_id)
            if message is None or not message.ephemeral:
                raise PlaygroundError("only ephemeral messages can be dismissed")
            self._touch(message, deleted=True)

    def open_home(self) -> JsonDict:
        """Open the App Home tab as the playground user (bot.sandbox.playground_home)."""
        if self._http is None:
            raise RuntimeError("Playground is not started")
        return open_home_tab(
            self._slack,
            self._http,
            bot_url=self._bot_url,
            secret=self._signing_secret,
            user_id=self.user.id,
            now=self._clock,
        )

    def click_home(self, action: Mapping[str, Any]) -> JsonDict:
        """A click on a Home tab button, sent to the bot as Slack sends it (no response_url)."""
        try:
            body = home_click(self._slack, self.user.id, action)
        except ValueError as exc:
            raise PlaygroundError(str(exc)) from exc
        outcome = self._post_to_bot(body)
        return {"ok": outcome.error is None, "status": outcome.status, "error": outcome.error}

    def run_digests(self, channel: str) -> JsonDict:
        """Run the configured digest job once (the clock process's work) and say so in `channel`."""
        if self._run_digests is None:
            raise PlaygroundError("no digest runner configured")
        channel = self._known_channel(channel)
        result = self._run_digests()
        handled = len(result) if isinstance(result, Sized) else None
        if handled == 0:
            note = (
                "Ran the digest job: nothing to post (no subscription, or today's digests were "
                "already posted). Subscribe a channel with `/zuora digest subscribe`."
            )
        else:
            count = "" if handled is None else f" {handled} subscription(s) handled;"
            note = f"Ran the digest job:{count} digests appear in their channels."
        self._add_message(channel, {"text": note}, author=SLACKBOT, ephemeral=True)
        return {"ok": True, "handled": handled}

    # ----- talking to the bot ----------------------------------------------------------------

    def _block_actions(
        self,
        action: Mapping[str, Any],
        state: Mapping[str, Any],
        response_url: str,
        channel: str,
        ts: str,
        message: JsonDict | None,
    ) -> bytes:
        kind = str(action.get("type") or "button")
        action_id = str(action.get("action_id") or "")
        block_id = str(action.get("block_id") or "")
        if not action_id or not block_id:
            raise PlaygroundError("action_id and block_id are required")
        state_values = _state_values(state)
        common: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id,
            "response_url": response_url,
            "user_id": self.user.id,
            "team_id": self._slack.team_id,
            "channel_id": channel,
            "message": message,
            "message_ts": ts,
            "trigger_id": self._trigger_id(),
            "action_ts": self._next_ts(),
        }
        if kind == "checkboxes":
            selected = action.get("selected_options")
            if not isinstance(selected, list):
                raise PlaygroundError("checkboxes need selected_options")
            return checkbox_action_body(
                selected_options=[dict(o) for o in selected],
                state_values=state_values,
                **common,
            )
        value = action.get("value")
        body = block_actions_body(
            value=str(value) if value is not None else None,
            state_values=state_values,
            action_type=kind,
            action_text=str(action.get("text") or "Button"),
            **common,
        )
        if kind != "button":
            body = _with_selected_option(body, action.get("selected_option"))
        elif action.get("url"):
            body = _with_action_field(body, "url", str(action["url"]))
        if kind == "button" and action.get("style") in ("primary", "danger"):
            body = _with_action_field(body, "style", str(action["style"]))
        return body

    def _post_to_bot(self, body: bytes) -> _Outcome:
        http = self._http
        if http is None:
            raise RuntimeError("Playground is not started")
        headers = sign(self._signing_secret, body, int(self._clock()))
        try:
            response = http.post(self._bot_url, content=body, headers=headers)
        except httpx.TimeoutException:
            return _Outcome(0, error="operation_timeout")
        except httpx.HTTPError as exc:
            logger.warning("the bot at %s is unreachable: %s", self._bot_url, exc)
            return _Outcome(0, error="dispatch_failed")
        error = None if response.status_code == 200 else f"http_status_{response.status_code}"
        return _Outcome(
            response.status_code,
            response.content,
            response.headers.get("content-type", ""),
            error,
        )

    def _apply_command_ack(self, reserved_id: str, command: str, outcome: _Outcome) -> None:
        payload: JsonDict = {}
        in_channel = False
        if outcome.error is not None:
            payload = {
                "text": f'`{_escape(command)}` failed with the error "{_escape(outcome.error)}"'
            }
        elif outcome.body.strip():
            parsed: Any = None
            if "json" in outcome.content_type:
                try:
                    parsed = json.loads(outcome.body)
                except ValueError:
                    parsed = None
            if isinstance(parsed, dict):
                payload = _message_fields(parsed)
                in_channel = parsed.get("response_type") == "in_channel"
            else:
                payload = {"text": outcome.body.decode("utf-8", "replace")}
        with self._changed:
            reserved = self._state.messages.get(reserved_id)
            if reserved is None or not reserved.pending:
                return
            if not any(payload.values()):
                del self._state.messages[reserved_id]
                return
            reserved.payload = payload
            reserved.pending = False
            reserved.ephemeral = not in_channel
            if outcome.error is not None:
                reserved.author = SLACKBOT
            self._touch(reserved)

    # ----- what the bot sent to the fake Slack -----------------------------------------------

    def _on_slack_event(self, event: SlackEvent) -> None:
        if event.kind == "response_url":
            self._on_response(event.url, event.body, event.effect)
        elif event.kind == "ephemeral_posted":
            self._add_message(
                event.channel,
                _message_fields(event.message),
                author=BOT_NAME,
                ephemeral=True,
                ts=event.ts,
                visible_to=event.user,
            )
        elif event.kind in ("message_posted", "message_updated"):
            self._on_channel_message(event)

    def _on_channel_message(self, event: SlackEvent) -> None:
        with self._changed:
            state = self._state
            self._ensure_channel(event.channel)
            known = state.by_ts.get((event.channel, event.ts))
            existing = state.messages.get(known) if known else None
            if existing is not None:
                existing.payload = _message_fields(event.message)
                existing.raw = copy.deepcopy(event.message)
                existing.edited = event.kind == "message_updated"
                self._touch(existing)
                return
        thread_ts = event.message.get("thread_ts")
        self._add_message(
            event.channel,
            _message_fields(event.message),
            author=BOT_NAME,
            ephemeral=False,
            ts=event.ts,
            thread_ts=str(thread_ts) if thread_ts else None,
            raw=copy.deepcopy(event.message),
        )

    def _on_response(self, url: str, body: JsonDict, effect: str | None) -> None:
        """Show a response_url post the way the fake Slack says it landed (see ResponseUrlKind)."""
        with self._changed:
            route = self._state.routes.get(url)
            if route is None or effect == "ignored":
                return  # not a URL we issued (a test's), or a post Slack does nothing with
            target = self._state.messages.get(route.original) if route.original else None
            if target is not None and target.deleted:
                target = None
            if effect == "deleted":
                if target is not None:
                    self._touch(target, deleted=True)
                return
            if effect == "replaced":
                if target is not None:
                    target.payload = _message_fields(body)
                    target.edited = target.raw is not None
                    if target.raw is not None:
                        kept = {
                            k: v
                            for k, v in target.raw.items()
                            if k not in ("text", "blocks", "attachments")
                        }
                        target.raw = {**kept, "text": "", **_message_fields(body)}
                    self._touch(target)
                return
            in_channel = body.get("response_type") == "in_channel"
            self._add_message(
                route.channel, _message_fields(body), author=BOT_NAME, ephemeral=not in_channel
            )

    # ----- state helpers (the condition is re-entrant) ---------------------------------------

    def _add_message(
        self,
        channel: str,
        payload: JsonDict,
        *,
        author: str,
        ephemeral: bool,
        ts: str | None = None,
        thread_ts: str | None = None,
        visible_to: str | None = None,
        pending: bool = False,
        raw: JsonDict | None = None,
    ) -> _Message:
        with self._changed:
            state = self._state
            self._ensure_channel(channel)
            seq = next(self._ids)
            state.version += 1
            message = _Message(
                id=f"m{seq}",
                seq=seq,
                channel=channel,
                ts=ts or self._next_ts(),
                ephemeral=ephemeral,
                author=author,
                payload=payload,
                rev=state.version,
                at=self._clock(),
                thread_ts=thread_ts,
                visible_to=visible_to or (self.user.id if ephemeral else None),
                pending=pending,
                raw=raw,
            )
            state.messages[message.id] = message
            if not ephemeral:
                state.by_ts[(channel, message.ts)] = message.id
            self._changed.notify_all()
            return message

    def _touch(self, message: _Message, *, deleted: bool = False) -> None:
        with self._changed:
            self._state.version += 1
            message.rev = self._state.version
            if deleted:
                message.deleted = True
            self._changed.notify_all()

    def _ensure_channel(self, channel: str) -> None:
        if channel not in self._state.channels:
            self._state.channels[channel] = PlaygroundChannel(channel, channel.lower())

    def _known_channel(self, channel: str) -> str:
        with self._changed:
            if channel in self._state.channels:
                return channel
        raise PlaygroundError(f"unknown channel {channel!r}")

    def _next_ts(self) -> str:
        return f"{int(self._clock())}.{next(self._ts_counter):06d}"

    def _route(self, response_url: str, channel: str) -> None:
        """Posts to a response_url we issued that belongs to no message land in `channel`."""
        with self._changed:
            self._state.routes[response_url] = _Route(channel, None)

    def _trigger_id(self) -> str:
        return f"{int(self._clock())}.{next(self._ts_counter)}.playground"


def _digest_job(stack: SandboxStack) -> Callable[[], object] | None:
    """The clock process's digest tick against the stack's bot, forced so subscriptions post now."""
    deps = stack.deps
    if deps is None:
        return None
    from bot.digest.service import run_due_digests

    def run() -> object:
        # force: due now whatever the subscribed time; the store still allows one post a day each.
        return run_due_digests(deps, deps.now(), force=True, owner="playground")

    return run


def _escape(text: str) -> str:
    """Escape Slack's three control characters, as the bot must for anything it interpolates."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _state_values(state: Mapping[str, Any]) -> JsonDict:
    """Validate the page's `state.values` (block -> action -> element state) loosely."""
    values: JsonDict = {}
    for block_id, elements in state.items():
        if not isinstance(elements, Mapping):
            raise PlaygroundError("state.values must map block ids to elements")
        block: JsonDict = {}
        for action_id, element in elements.items():
            if not isinstance(element, Mapping) or element.get("type") not in _INTERACTIVE_TYPES:
                raise PlaygroundError("unsupported element state")
            block[str(action_id)] = copy.deepcopy(dict(element))
        values[str(block_id)] = block
    return values


def _rewrite_action(body: bytes, change: Callable[[JsonDict], None]) -> bytes:
    payload = json.loads(parse_qs(body.decode())["payload"][0])
    change(payload["actions"][0])
    return urlencode({"payload": json.dumps(payload)}).encode()


def _with_selected_option(body: bytes, option: Any) -> bytes:
    """Overflow and select actions carry `selected_option` instead of a button's text and value."""
    if not isinstance(option, Mapping):
        raise PlaygroundError("this element needs a selected_option")

    def change(action: JsonDict) -> None:
        action.pop("text", None)
        action.pop("value", None)
        action["selected_option"] = copy.deepcopy(dict(option))

    return _rewrite_action(body, change)


def _with_action_field(body: bytes, key: str, value: str) -> bytes:
    def change(action: JsonDict) -> None:
        action[key] = value

    return _rewrite_action(body, change)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows which Playground it serves."""

    daemon_threads = True

    def __init__(self, playground: Playground, port: int) -> None:
        self.playground = playground
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    """The page, its static files, and the small JSON API the page calls."""

    server_version = "SlackPlayground/1.0"

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._guarded(self._get)

    def do_POST(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._guarded(self._post)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        logger.debug("playground http: " + format, *args)

    @property
    def playground(self) -> Playground:
        return cast(_Server, self.server).playground

    def _guarded(self, serve: Callable[[], None]) -> None:
        if not self._host_ok():
            # Another site's page reaching us through DNS rebinding names itself in Host.
            self._send_json({"ok": False, "error": "bad_host"}, HTTPStatus.FORBIDDEN)
            return
        try:
            serve()
        except ConnectionError:
            # The page went away mid-answer (a closed tab ends its long poll): nothing to tell.
            logger.debug("playground client left during %s %s", self.command, self.path)
        except PlaygroundError as exc:
            self._send_json({"ok": False, "error": str(exc)}, HTTPStatus.BAD_REQUEST)
        except Exception:
            logger.exception("playground failed on %s %s", self.command, self.path)
            self._send_json(
                {"ok": False, "error": "internal_error"}, HTTPStatus.INTERNAL_SERVER_ERROR
            )

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        return host in ("127.0.0.1", "localhost")

    def _get(self) -> None:
        parts = urlsplit(self.path)
        static = _STATIC_FILES.get(parts.path)
        if static is not None:
            name, content_type = static
            data = resources.files("bot.sandbox").joinpath("static", name).read_bytes()
            self._send(HTTPStatus.OK, data, content_type)
        elif parts.path == "/api/config":
            self._send_json(self.playground.config())
        elif parts.path == "/api/state":
            query = parse_qs(parts.query)
            try:
                since = int(query.get("since", ["0"])[0])
                wait = float(query.get("wait", ["0"])[0])
            except ValueError as exc:
                raise PlaygroundError("since and wait must be numbers") from exc
            self._send_json(self.playground.snapshot(since, wait))
        elif parts.path == "/healthz":
            self._send_json({"ok": True})
        else:
            self._send_json({"ok": False, "error": "not_found"}, HTTPStatus.NOT_FOUND)

    def _post(self) -> None:
        # A JSON content type forces a CORS preflight, which we never grant: only our page can post.
        if "application/json" not in (self.headers.get("Content-Type") or ""):
            self._send_json({"ok": False, "error": "json_only"}, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_json(
                {"ok": False, "error": "too_large"}, HTTPStatus.REQUEST_ENTITY_TOO_LARGE
            )
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            raise PlaygroundError("body is not JSON") from exc
        if not isinstance(body, dict):
            raise PlaygroundError("body must be a JSON object")
        path = urlsplit(self.path).path
        playground = self.playground
        if path == "/api/command":
            result = playground.run_command(str(body.get("channel", "")), str(body.get("text", "")))
        elif path == "/api/action":
            action, state = body.get("action"), body.get("state") or {}
            if not isinstance(action, dict) or not isinstance(state, dict):
                raise PlaygroundError("action and state must be objects")
            result = playground.click(str(body.get("message_id", "")), action, state)
        elif path == "/api/dismiss":
            playground.dismiss(str(body.get("message_id", "")))
            result = {"ok": True}
        elif path == "/api/home":
            result = playground.open_home()
        elif path == "/api/home-action":
            action = body.get("action")
            if not isinstance(action, dict):
                raise PlaygroundError("action must be an object")
            result = playground.click_home(action)
        elif path == "/api/digests":
            result = playground.run_digests(str(body.get("channel", "")))
        elif path == "/api/shortcut":
            result = playground_links.run_shortcut(playground, str(body.get("message_id", "")))
        else:
            self._send_json({"ok": False, "error": "not_found"}, HTTPStatus.NOT_FOUND)
            return
        self._send_json(result)

    def _send_json(self, payload: Mapping[str, Any], status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in _SECURITY_HEADERS:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
