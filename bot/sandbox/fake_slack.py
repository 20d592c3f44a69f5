"""A fake Slack Web API and response_url receiver served over real loopback HTTP, for tests and demos."""

from __future__ import annotations

import copy
import itertools
import json
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Literal, cast
from urllib.parse import parse_qs, urlsplit

from bot.core.closing import StopsOnExit
from bot.sandbox.fake_slack_links import FakeUnfurls
from bot.sandbox.fake_slack_surfaces import HomeSurfaces, SurfaceReply

logger = logging.getLogger(__name__)

RESPONSE_URL_METHOD: Final = "response_url"
"""Pseudo method name under which response_url posts are recorded and scripted."""

RESPONSE_URL_MAX_USES: Final = 5
"""Slack accepts at most five posts to one response_url."""

RESPONSE_URL_LIFETIME: Final = 30 * 60
"""...and only within 30 minutes of issuing it (docs.slack.dev/interactivity/handling-user-interaction)."""

ResponseUrlKind = Literal["command", "interaction"]
"""Who issued a response_url: a slash command, or a click (block_actions) on a message.

The two differ exactly where Slack's staff say they do (slackapi/bolt-python#1268,
slackapi/bolt-js#2287): a slash command's response_url has no message of its own to edit, so
`replace_original: true` there does NOT replace an earlier reply, it posts one more message, and
`delete_original` deletes nothing. A click's response_url belongs to the message holding the button:
`replace_original: true` replaces that message and `delete_original: true` removes it
(docs.slack.dev/messaging/modifying-messages). Without either flag both post a new message.
"""

ResponseEffect = Literal["posted", "replaced", "deleted", "ignored"]
"""What one accepted response_url post did to what the user sees."""

_TS_BASE: Final = 1_700_000_000 * 1_000_000
_TS_STEP: Final = 100
# Fields slack_sdk sends JSON-encoded inside a form body; decoded so tests see lists and dicts.
_JSON_FORM_FIELDS: Final = frozenset({"blocks", "attachments", "metadata"})
_API_PREFIX: Final = "/api/"
_RESPONSE_PREFIX: Final = "/response/"
_UNSAFE_NAME_CHARS: Final = re.compile(r"[^A-Za-z0-9_.-]+")
_NO_AUTH_METHODS: Final = frozenset({"api.test"})
# How often serve_forever checks for shutdown; small so stop() returns quickly.
_POLL_INTERVAL: Final = 0.02

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake received: Web API method (or "response_url"), decoded params, time, headers."""

    method: str
    params: dict[str, Any]
    at: float
    headers: dict[str, str] = field(repr=False)
    path: str = ""


EventKind = Literal["message_posted", "message_updated", "ephemeral_posted", "response_url"]


@dataclass(frozen=True)
class SlackEvent:
    """A change the fake accepted, pushed to listeners (e.g. the sandbox playground's live view).

    `message` is a copy of the stored message for chat.postMessage / chat.update, and the would-be
    message (with its `message_ts` as `ts`) for chat.postEphemeral; `body`, `url` and `effect` (see
    ResponseUrlKind) are set for accepted response_url posts, with `channel` and `ts` when the post
    replaced or deleted a channel message; `user` is the recipient of an ephemeral message.
    """

    kind: EventKind
    channel: str = ""
    ts: str = ""
    message: JsonDict = field(default_factory=dict)
    url: str = ""
    body: JsonDict = field(default_factory=dict)
    user: str = ""
    effect: ResponseEffect | None = None


SlackListener = Callable[[SlackEvent], None]


@dataclass
class _Fault:
    """A scripted failure answered for the next `remaining` calls of one method."""

    status: int
    retry_after: int | None
    error: str
    remaining: int


@dataclass
class _Channel:
    """Configured conversation state for conversations.info and membership checks."""

    channel_id: str
    name: str
    is_member: bool
    is_private: bool


@dataclass
class _ResponseUrl:
    """One issued response_url: its kind, when it was issued, what it accepted and left on screen.

    `original` is the message a click's URL belongs to, as the user now sees it (None until a post
    replaces it: the fake never saw an ephemeral original); `posted` are the new messages it made.
    """

    kind: ResponseUrlKind
    issued_at: float
    channel: str = ""
    message_ts: str = ""
    uses: int = 0
    bodies: list[JsonDict] = field(default_factory=list)
    effects: list[ResponseEffect] = field(default_factory=list)
    original: JsonDict | None = None
    original_deleted: bool = False
    posted: list[JsonDict] = field(default_factory=list)


@dataclass(frozen=True)
class _Reply:
    """An HTTP answer the handler writes back."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


def _json_reply(
    payload: Mapping[str, Any], status: int = 200, retry_after: int | None = None
) -> _Reply:
    headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
    return _Reply(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)


def _text_reply(text: str, status: int = 200, retry_after: int | None = None) -> _Reply:
    headers = (("Retry-After", str(retry_after)),) if retry_after is not None else ()
    return _Reply(status, text.encode(), "text/plain; charset=utf-8", headers)


def _slack_error(error: str) -> _Reply:
    # Slack answers most Web API errors with HTTP 200 and ok=false.
    return _json_reply({"ok": False, "error": error})


def _truthy(value: Any) -> bool:
    """A response_url flag as Slack reads it: JSON true or the string "true"."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_FORM_FIELDS & params.keys():
        value = params[key]
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                params[key] = json.loads(value)
            except json.JSONDecodeError:
                logger.debug("form field %s is not valid JSON; kept as text", key)
    return params


def parse_body(content_type: str, raw: bytes, query: str = "") -> dict[str, Any]:
    """Decode a Web API request's query string plus JSON or form body into one params dict."""
    params: dict[str, Any] = {}
    for source in (query, raw.decode("utf-8") if "json" not in content_type else ""):
        for key, values in parse_qs(source, keep_blank_values=True).items():
            params[key] = values[0] if len(values) == 1 else values
    if "json" in content_type and raw.strip():
        loaded = json.loads(raw)
        if not isinstance(loaded, dict):
            raise ValueError("JSON body must be an object")
        params.update(loaded)
    return _decode_json_fields(params)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows which FakeSlack it serves."""

    daemon_threads = True

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its (delayed) answer is routine; keep it out of stderr."""
        logger.debug("fake slack: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Routes /api/<method> and /response/<token> to the owning FakeSlack."""

    server_version = "FakeSlack/1.0"

    def do_POST(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._serve()

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._serve()

    def _serve(self) -> None:
        fake = cast(_Server, self.server).fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = dict(self.headers.items())
        try:
            reply = fake._dispatch(self.command, self.path, headers, raw)
        except Exception:
            # A bug in the fake must show up as a loud 500, not as a dropped connection.
            logger.exception("fake slack failed on %s %s", self.command, self.path)
            reply = _text_reply("fake_slack_internal_error", HTTPStatus.INTERNAL_SERVER_ERROR)
        finally:
            # Before answering, so a caller that got its reply knows listeners have seen the change.
            fake._deliver_events()
        latency = fake._reply_delay(self.path)
        if latency > 0:
            # State changes are visible at once; only the answer is delayed, like a slow network.
            fake._hold_reply(self.path, latency)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        logger.debug("fake slack: " + format, *args)


class FakeSlack(StopsOnExit):
    """Fake Slack on 127.0.0.1: Web API methods, response_url receiver, recording and scripted faults.

    Web API calls go to `base_url` (pass it to `WebClient(base_url=...)`); response URLs come from
    `response_url(name)`. Every request is recorded; `wait_for` blocks until a predicate holds.
    Channels that were never configured with `set_channel` behave as public channels the bot is in.
    """

    def __init__(
        self,
        *,
        token: str | None = "xoxb-fake-token",
        team_id: str = "T0001",
        team_domain: str = "fake-team",
        bot_user_id: str = "U0BOT0001",
        bot_id: str = "B0001",
        chat_write_public: bool = False,
        latency: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Configure the fake; `token=None` accepts any non-empty bearer token.

        Message timestamps follow `clock` (Unix seconds), like Slack's, and always increase; the
        same clock dates response_urls, which expire RESPONSE_URL_LIFETIME after issue.
        """
        self._expected_token = token
        self.team_id = team_id
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.chat_write_public = chat_write_public
        self.latency = latency
        self._clock = clock
        self._method_latency: dict[str, float] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._calls: list[RecordedCall] = []
        self._faults: dict[str, _Fault] = {}
        self._messages: dict[str, list[JsonDict]] = defaultdict(list)
        self._channels: dict[str, _Channel] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._users: dict[str, JsonDict] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._last_ts = _TS_BASE
        self._url_counter = itertools.count(1)
        self._listeners: list[SlackListener] = []
        self._pending_events: list[SlackEvent] = []
        # Serialises delivery so listeners see events in the order the changes happened.
        self._deliver_lock = threading.Lock()
        self._handlers: dict[str, Callable[[dict[str, Any]], _Reply]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
        }
        # Home tab and DMs (bot.sandbox.fake_slack_surfaces).
        self.surfaces = HomeSurfaces(team_id=team_id, bot_user_id=bot_user_id, clock=clock)
        for name, serve in (
            ("views.publish", self.surfaces.views_publish),
            ("conversations.open", self.surfaces.conversations_open),
        ):
            self._handlers[name] = _surface(serve)
        # Users' messages with links, and chat.unfurl on them (bot.sandbox.fake_slack_links).
        self.links = FakeUnfurls(team_id=team_id)
        self._handlers["chat.unfurl"] = lambda params: _json_reply(self.links.chat_unfurl(params))

    # ----- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread; returns self."""
        if self._server is not None:
            return self
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name="fake-slack",
            daemon=True,
        )
        self._thread.start()
        logger.debug("fake slack listening on %s", self.root_url)
        return self

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        with self._changed:
            server, thread = self._server, self._thread
            self._server, self._thread = None, None
            self._changed.notify_all()  # answers still held back go out now
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    @property
    def port(self) -> int:
        """The port the server is bound to; raises if not started."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        """`http://127.0.0.1:PORT` without a trailing slash."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """Web API base URL for `WebClient(base_url=...)`, with the trailing slash slack_sdk needs."""
        return f"{self.root_url}{_API_PREFIX}"

    @property
    def token(self) -> str | None:
        """The bearer token the fake expects (None: any non-empty token)."""
        return self._expected_token

    # ----- configuration ---------------------------------------------------------------------

    def response_url(
        self,
        name: str = "r",
        *,
        kind: ResponseUrlKind = "interaction",
        channel: str = "",
        message_ts: str = "",
    ) -> str:
        """Issue a fresh response_url (five posts within 30 minutes) labelled with `name`.

        `kind="command"` is a slash command's URL; `"interaction"` a click's, on the channel message
        `channel`/`message_ts` when given (a post that replaces or deletes it changes `messages()`),
        else on an ephemeral message. See ResponseUrlKind for how the two treat the flags.
        """
        label = _UNSAFE_NAME_CHARS.sub("-", name).strip("-") or "r"
        with self._lock:
            token = f"{label}-{next(self._url_counter)}"
            self._response_urls[token] = _ResponseUrl(
                kind, self._clock(), channel=channel, message_ts=message_ts
            )
        return f"{self.root_url}{_RESPONSE_PREFIX}{token}"

    def set_channel(
        self,
        channel_id: str,
        *,
        name: str | None = None,
        is_member: bool = True,
        is_private: bool = False,
    ) -> None:
        """Declare a channel for conversations.info and posting checks."""
        with self._lock:
            self._channels[channel_id] = _Channel(
                channel_id, name or channel_id.lower(), is_member, is_private
            )

    def set_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        """Set the members usergroups.users.list returns for `group_id`."""
        with self._lock:
            self._usergroups[group_id] = list(user_ids)

    def set_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
        is_bot: bool = False,
    ) -> None:
        """Declare a user for users.info; undeclared U/W ids get a synthetic profile."""
        with self._lock:
            self._users[user_id] = self._user_payload(user_id, name, real_name, tz, is_bot)

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        error: str = "ratelimited",
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` (or "response_url") fail with this status and error."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults[method] = _Fault(status, retry_after, error, times)

    def delay_replies(self, method: str, seconds: float) -> None:
        """Answer every call of `method` `seconds` late (0 to stop); its change is still made at once.

        Lets a test kill a client after Slack accepted its post but before the client heard back.
        Lowering the delay (or stopping the fake) releases answers already held back.
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._changed:
            if seconds:
                self._method_latency[method] = seconds
            else:
                self._method_latency.pop(method, None)
            self._changed.notify_all()

    def add_listener(self, listener: SlackListener) -> Callable[[], None]:
        """Call `listener` with a SlackEvent after each stored message, update or accepted response_url post.

        Listeners run on the request's thread, outside the fake's lock, one event at a time and in
        the order the changes happened, before the request is answered; they must be quick and must
        not raise (an exception is logged and ignored). Returns a function that removes the listener.
        """
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def reset(self) -> None:
        """Forget calls, messages, faults, response_url state and Home views; keep channels, groups, users."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._messages.clear()
            self._response_urls.clear()
            self.surfaces.reset()
            self._changed.notify_all()

    # ----- inspection ------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Every recorded request in arrival order, optionally only those of one method."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def responses(self, token_or_url: str) -> list[JsonDict]:
        """JSON bodies accepted by one response_url (given as full URL or its token)."""
        with self._lock:
            state = self._response_urls.get(self._token_of(token_or_url))
            return copy.deepcopy(state.bodies) if state is not None else []

    @staticmethod
    def _token_of(token_or_url: str) -> str:
        return token_or_url.rsplit(_RESPONSE_PREFIX, 1)[-1]

    def effects(self, token_or_url: str) -> list[ResponseEffect]:
        """What each accepted post to one response_url did, in order (see ResponseUrlKind)."""
        with self._lock:
            state = self._response_urls.get(self._token_of(token_or_url))
            return list(state.effects) if state is not None else []

    def shown(self, token_or_url: str) -> list[JsonDict]:
        """The messages one response_url's posts leave on the user's screen, as Slack shows them.

        A click's original message comes first when a post replaced it (gone if one deleted it),
        then every message a post added. A slash command's URL only ever adds messages, so its
        earlier replies stay: what the user saw there is the ack (not included) plus these.
        """
        with self._lock:
            state = self._response_urls.get(self._token_of(token_or_url))
            if state is None:
                return []
            original = (
                [state.original]
                if state.original is not None and not state.original_deleted
                else []
            )
            return copy.deepcopy(original + state.posted)

    def messages(self, channel: str) -> list[JsonDict]:
        """Current (post-update) messages the bot posted in `channel`, oldest first."""
        with self._lock:
            return copy.deepcopy(self._messages.get(channel, []))

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until `predicate()` is true (re-checked on every request), or `timeout` passes."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout=timeout)

    # ----- request handling ------------------------------------------------------------------

    def _dispatch(self, verb: str, raw_path: str, headers: dict[str, str], raw: bytes) -> _Reply:
        parts = urlsplit(raw_path)
        content_type = headers.get("Content-Type", headers.get("content-type", ""))
        if parts.path.startswith(_RESPONSE_PREFIX):
            token = parts.path[len(_RESPONSE_PREFIX) :]
            return self._serve_response_url(verb, token, parts.path, headers, raw)
        if not parts.path.startswith(_API_PREFIX):
            return _text_reply("not found", HTTPStatus.NOT_FOUND)
        method = parts.path[len(_API_PREFIX) :]
        try:
            params = parse_body(content_type, raw, parts.query)
        except (ValueError, UnicodeDecodeError):
            self._record(method, {"_raw": raw.decode("utf-8", "replace")}, headers, parts.path)
            return _slack_error("invalid_json")
        self._record(method, params, headers, parts.path)
        with self._lock:
            fault = self._take_fault(method)
            if fault is not None:
                return _json_reply(
                    {"ok": False, "error": fault.error}, fault.status, fault.retry_after
                )
            handler = self._handlers.get(method)
            if handler is None:
                return _slack_error("unknown_method")
            auth_error = None if method in _NO_AUTH_METHODS else self._check_token(headers, params)
            if auth_error is not None:
                return _slack_error(auth_error)
            reply = handler(params)
            self._changed.notify_all()
            return reply

    def _reply_delay(self, raw_path: str) -> float:
        """Seconds to hold the answer to this request: the method's own delay, else `latency`."""
        path = urlsplit(raw_path).path
        method = path[len(_API_PREFIX) :] if path.startswith(_API_PREFIX) else ""
        with self._lock:
            return self._method_latency.get(method, self.latency)

    def _hold_reply(self, raw_path: str, seconds: float) -> None:
        """Wait `seconds` before answering, less if the delay is lowered or the fake stops meanwhile."""
        deadline = time.monotonic() + seconds

        def released() -> bool:
            lowered = self._reply_delay(raw_path) < seconds
            return lowered or self._server is None or time.monotonic() >= deadline

        with self._changed:
            self._changed.wait_for(released, timeout=seconds)

    def _emit(self, event: SlackEvent) -> None:
        """Queue an event for listeners (lock held); `_deliver_events` sends it after the change."""
        if self._listeners:
            self._pending_events.append(event)

    def _deliver_events(self) -> None:
        with self._deliver_lock:
            with self._lock:
                events, self._pending_events = self._pending_events, []
                listeners = list(self._listeners)
            for event in events:
                for listener in listeners:
                    try:
                        listener(event)
                    except Exception:
                        logger.exception("fake slack listener failed on %s", event.kind)

    def _record(
        self, method: str, params: dict[str, Any], headers: dict[str, str], path: str
    ) -> None:
        with self._lock:
            self._calls.append(RecordedCall(method, params, time.monotonic(), headers, path))
            self._changed.notify_all()

    def _take_fault(self, method: str) -> _Fault | None:
        fault = self._faults.get(method)
        if fault is None:
            return None
        fault.remaining -= 1
        if fault.remaining <= 0:
            del self._faults[method]
        return fault

    def _check_token(self, headers: Mapping[str, str], params: Mapping[str, Any]) -> str | None:
        auth = headers.get("Authorization", headers.get("authorization", ""))
        presented = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        if not presented and isinstance(params.get("token"), str):
            presented = params["token"]
        if not presented:
            return "invalid_auth"
        if self._expected_token is not None and presented != self._expected_token:
            return "invalid_auth"
        return None

    def _serve_response_url(
        self, verb: str, token: str, path: str, headers: dict[str, str], raw: bytes
    ) -> _Reply:
        try:
            body: Any = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            body = None
        params = body if isinstance(body, dict) else {"_raw": raw.decode("utf-8", "replace")}
        self._record(RESPONSE_URL_METHOD, params, headers, path)
        with self._lock:
            fault = self._take_fault(RESPONSE_URL_METHOD)
            if fault is not None:
                return _text_reply(fault.error, fault.status, fault.retry_after)
            state = self._response_urls.get(token)
            if verb != "POST":
                return _text_reply("method_not_allowed", HTTPStatus.METHOD_NOT_ALLOWED)
            if state is None:
                return _text_reply("no_service", HTTPStatus.NOT_FOUND)
            if state.uses >= RESPONSE_URL_MAX_USES:
                return _text_reply("used_url", HTTPStatus.NOT_FOUND)
            if self._clock() - state.issued_at > RESPONSE_URL_LIFETIME:
                return _text_reply("expired_url", HTTPStatus.NOT_FOUND)
            if not isinstance(body, dict):
                return _text_reply("invalid_payload", HTTPStatus.BAD_REQUEST)
            if not _truthy(body.get("delete_original")) and not (
                body.get("text") or body.get("blocks") or body.get("attachments")
            ):
                return _text_reply("no_text", HTTPStatus.BAD_REQUEST)
            state.uses += 1
            state.bodies.append(copy.deepcopy(body))
            effect = self._apply_response(state, body)
            state.effects.append(effect)
            on_channel = effect in ("replaced", "deleted") and bool(state.message_ts)
            self._emit(
                SlackEvent(
                    "response_url",
                    channel=state.channel if on_channel else "",
                    ts=state.message_ts if on_channel else "",
                    url=f"{self.root_url}{path}",
                    body=copy.deepcopy(body),
                    effect=effect,
                )
            )
            self._changed.notify_all()
            return _text_reply("ok")

    def _apply_response(self, state: _ResponseUrl, body: JsonDict) -> ResponseEffect:
        """Change what the user sees for one accepted post, by the URL's kind (lock held)."""
        fields = self._message_fields(body)
        if state.kind == "command":
            # A slash command's URL has no message of its own: replace posts anew, delete does nothing.
            if _truthy(body.get("delete_original")):
                return "ignored"
            state.posted.append(fields)
            return "posted"
        target = self._channel_message(state.channel, state.message_ts)
        if _truthy(body.get("delete_original")):
            state.original_deleted = True
            if target is not None:
                self._messages[state.channel].remove(target)
            return "deleted"
        if _truthy(body.get("replace_original")):
            if state.original_deleted:
                return "ignored"
            if target is not None:
                target.pop("blocks", None)
                target.pop("attachments", None)
                target.update({"text": "", **fields})
                target["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
            state.original = fields
            return "replaced"
        state.posted.append(fields)
        return "posted"

    def _channel_message(self, channel: str, ts: str) -> JsonDict | None:
        if not channel or not ts:
            return None
        return next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    # ----- Web API methods (called with the lock held) ---------------------------------------

    def _next_ts(self) -> str:
        micros = max(int(self._clock() * 1_000_000), self._last_ts + _TS_STEP)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _posting_error(self, channel: str) -> str | None:
        if not channel:
            return "channel_not_found"
        configured = self._channels.get(channel)
        if configured is None or configured.is_member:
            return None
        if self.chat_write_public and not configured.is_private:
            return None
        return "not_in_channel"

    def _api_test(self, params: dict[str, Any]) -> _Reply:
        return _json_reply({"ok": True, "args": {k: v for k, v in params.items() if k != "token"}})

    def _auth_test(self, params: dict[str, Any]) -> _Reply:
        return _json_reply(
            {
                "ok": True,
                "url": f"https://{self.team_domain}.slack.com/",
                "team": self.team_domain,
                "user": "zuora-ops",
                "team_id": self.team_id,
                "user_id": self.bot_user_id,
                "bot_id": self.bot_id,
                "is_enterprise_install": False,
            }
        )

    def _message_fields(self, params: dict[str, Any]) -> JsonDict:
        fields: JsonDict = {k: params[k] for k in ("text", "blocks", "attachments") if k in params}
        return copy.deepcopy(fields)

    def _chat_post_message(self, params: dict[str, Any]) -> _Reply:
        channel = str(params.get("channel", ""))
        error = self._posting_error(channel)
        if error is not None:
            return _slack_error(error)
        fields = self._message_fields(params)
        if not any(fields.values()):
            return _slack_error("no_text")
        metadata, metadata_error = _message_metadata(params)
        if metadata_error is not None:
            return _slack_error(metadata_error)
        if params.get("thread_ts") and self._thread_parent(channel, params["thread_ts"]) is None:
            return _slack_error("thread_not_found")  # GUESS: see _thread_parent
        ts = self._next_ts()
        message: JsonDict = {
            "type": "message",
            "ts": ts,
            "channel": channel,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "text": "",
            **fields,
        }
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        if metadata is not None:
            message["metadata"] = metadata
        self._messages[channel].append(message)
        self._emit(SlackEvent("message_posted", channel, ts, copy.deepcopy(message)))
        answer = {k: v for k, v in message.items() if k != "metadata"}
        return _json_reply({"ok": True, "channel": channel, "ts": ts, "message": answer})

    def _chat_update(self, params: dict[str, Any]) -> _Reply:
        channel = str(params.get("channel", ""))
        ts = str(params.get("ts", ""))
        target = next((m for m in self._messages.get(channel, []) if m["ts"] == ts), None)
        if target is None:
            return _slack_error("message_not_found")
        target.update(self._message_fields(params))
        target["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self._emit(SlackEvent("message_updated", channel, ts, copy.deepcopy(target)))
        return _json_reply(
            {"ok": True, "channel": channel, "ts": ts, "text": target["text"], "message": target}
        )

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> _Reply:
        error = self._posting_error(str(params.get("channel", "")))
        if error is not None:
            return _slack_error(error)
        if not params.get("user"):
            return _slack_error("user_not_in_channel")
        fields = self._message_fields(params)
        if not any(fields.values()):
            return _slack_error("no_text")
        channel, ts, user = str(params["channel"]), self._next_ts(), str(params["user"])
        message: JsonDict = {"type": "message", "ts": ts, "user": self.bot_user_id, "text": ""}
        message.update(fields)
        self._emit(SlackEvent("ephemeral_posted", channel, ts, message, user=user))
        return _json_reply({"ok": True, "message_ts": ts})

    def _usergroups_users_list(self, params: dict[str, Any]) -> _Reply:
        users = self._usergroups.get(str(params.get("usergroup", "")))
        if users is None:
            return _slack_error("no_such_subgroup")
        return _json_reply({"ok": True, "users": list(users)})

    def _conversations_info(self, params: dict[str, Any]) -> _Reply:
        channel = self._channels.get(str(params.get("channel", "")))
        if channel is None:
            return _slack_error("channel_not_found")
        return _json_reply(
            {
                "ok": True,
                "channel": {
                    "id": channel.channel_id,
                    "name": channel.name,
                    "is_channel": True,
                    "is_group": False,
                    "is_im": False,
                    "is_private": channel.is_private,
                    "is_member": channel.is_member,
                    "is_archived": False,
                },
            }
        )

    def _conversations_history(self, params: dict[str, Any]) -> _Reply:
        """Top-level messages newest first, between `oldest` and `latest`, paged by cursor.

        As Slack documents it: `oldest` defaults to 0 and `latest` to now, both exclusive unless
        `inclusive` is true; `limit` defaults to 100 (at most 999); message metadata is returned only
        with `include_all_metadata`. A channel the bot is not in answers `not_in_channel`.
        """
        channel = str(params.get("channel", ""))
        if not channel:
            return _slack_error("channel_not_found")
        configured = self._channels.get(channel)
        if configured is not None and not configured.is_member:
            return _slack_error("not_in_channel")
        try:
            oldest = float(params.get("oldest") or 0)
            latest = float(params["latest"]) if params.get("latest") else float("inf")
            limit = min(max(int(params.get("limit") or 100), 1), 999)
            start = int(params.get("cursor") or 0)
        except (TypeError, ValueError):
            return _slack_error("invalid_arguments")
        inclusive = _api_flag(params.get("inclusive"))
        with_metadata = _api_flag(params.get("include_all_metadata"))

        def inside(message: JsonDict) -> bool:
            ts = float(message["ts"])
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        timeline = [
            m
            for m in reversed(self._messages.get(channel, []))
            if m.get("thread_ts") in (None, m["ts"]) and inside(m)
        ]
        page = timeline[start : start + limit]
        has_more = start + limit < len(timeline)
        messages = []
        for stored in page:
            message = {k: v for k, v in stored.items() if k != "channel"}
            if not with_metadata:
                message.pop("metadata", None)
            messages.append(copy.deepcopy(message))
        return _json_reply(
            {
                "ok": True,
                "messages": messages,
                "has_more": has_more,
                "pin_count": 0,
                "response_metadata": {"next_cursor": str(start + limit) if has_more else ""},
            }
        )

    def _thread_parent(self, channel: str, thread_ts: Any) -> JsonDict | None:
        """The top-level message `thread_ts` names in `channel`, or None.

        GUESS: chat.postMessage's documented errors do not say what a `thread_ts` naming no message
        of the channel gets; conversations.replies documents `thread_not_found` for it, so the sandbox
        refuses such a reply with that error (a reply's own ts is refused too: threads are one level).
        """
        parent = self._channel_message(channel, str(thread_ts))
        if parent is None or parent.get("thread_ts") not in (None, parent["ts"]):
            return None
        return parent

    def _conversations_replies(self, params: dict[str, Any]) -> _Reply:
        """A thread, oldest first: the parent named by `ts`, then its replies, paged by cursor.

        As Slack documents it: `channel` and `ts` are required and `ts` must be an existing message
        (else `thread_not_found`); `oldest`/`latest` bound the replies (exclusive unless `inclusive`);
        metadata only with `include_all_metadata`. A channel the bot is not in answers `not_in_channel`.
        """
        channel = str(params.get("channel", ""))
        configured = self._channels.get(channel)
        if not channel:
            return _slack_error("channel_not_found")
        if configured is not None and not configured.is_member:
            return _slack_error("not_in_channel")
        parent = self._thread_parent(channel, params.get("ts", ""))
        if parent is None:
            return _slack_error("thread_not_found")
        try:
            oldest = float(params.get("oldest") or 0)
            latest = float(params["latest"]) if params.get("latest") else float("inf")
            limit = min(max(int(params.get("limit") or 1000), 1), 1000)
            start = int(params.get("cursor") or 0)
        except (TypeError, ValueError):
            return _slack_error("invalid_arguments")
        inclusive = _api_flag(params.get("inclusive"))

        def inside(message: JsonDict) -> bool:
            ts = float(message["ts"])
            return oldest <= ts <= latest if inclusive else oldest < ts < latest

        thread = [parent] + [
            m
            for m in self._messages.get(channel, [])
            if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"] and inside(m)
        ]
        page = thread[start : start + limit]
        has_more = start + limit < len(thread)
        messages = []
        for stored in page:
            message = {k: v for k, v in stored.items() if k != "channel"}
            if not _api_flag(params.get("include_all_metadata")):
                message.pop("metadata", None)
            messages.append(copy.deepcopy(message))
        return _json_reply(
            {
                "ok": True,
                "messages": messages,
                "has_more": has_more,
                "response_metadata": {"next_cursor": str(start + limit) if has_more else ""},
            }
        )

    def _users_info(self, params: dict[str, Any]) -> _Reply:
        user_id = str(params.get("user", ""))
        user = self._users.get(user_id)
        if user is None:
            if user_id[:1] not in ("U", "W"):
                return _slack_error("user_not_found")
            user = self._user_payload(user_id, None, None, "UTC", False)
        return _json_reply({"ok": True, "user": user})

    def _user_payload(
        self, user_id: str, name: str | None, real_name: str | None, tz: str, is_bot: bool
    ) -> JsonDict:
        handle = name or user_id.lower()
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": handle,
            "real_name": real_name or handle,
            "deleted": False,
            "is_bot": is_bot,
            "tz": tz,
            "profile": {"display_name": handle, "real_name": real_name or handle},
        }


def _surface(serve: Callable[[dict[str, Any]], SurfaceReply]) -> Callable[[dict[str, Any]], _Reply]:
    """A surface method (bot.sandbox.fake_slack_surfaces) as one of FakeSlack's handlers."""
    return lambda params: _json_reply(*serve(params))


def _api_flag(value: Any) -> bool:
    """A Web API boolean argument: true, 1 (as text or JSON)."""
    return value is True or str(value).lower() in ("true", "1")


def _message_metadata(params: Mapping[str, Any]) -> tuple[JsonDict | None, str | None]:
    """The `metadata` argument of chat.postMessage as stored, or the error Slack answers for it."""
    raw = params.get("metadata")
    if raw in (None, ""):
        return None, None
    if not isinstance(raw, dict):
        return None, "invalid_metadata_format"
    event_type, payload = raw.get("event_type"), raw.get("event_payload")
    if not isinstance(event_type, str) or not event_type or not isinstance(payload, dict):
        return None, "invalid_metadata_schema"
    return {"event_type": event_type, "event_payload": copy.deepcopy(payload)}, None
