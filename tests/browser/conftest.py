"""Browser-test fixtures: Debian's Chromium through Playwright, a fake Slack, a scripted bot, the playground."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.playground import Playground
from bot.sandbox.tenant import build_tenant

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SIGNING_SECRET = "playground-test-signing-secret"
BOT_TOKEN = "xoxb-playground-test"

JsonDict = dict[str, Any]
# What the scripted bot does with one request: the ack body (None: empty 200) and response_url posts.
Script = Callable[["BotRequest"], tuple[JsonDict | None, list[JsonDict]]]


@dataclass
class BotRequest:
    """One signed request the scripted bot accepted: slash command fields or a block_actions payload."""

    kind: str
    form: dict[str, str]
    payload: JsonDict = field(default_factory=dict)

    @property
    def response_url(self) -> str:
        return self.payload["response_url"] if self.payload else self.form["response_url"]


class ScriptedBot:
    """A stand-in for the bot on 127.0.0.1: verifies Slack signatures, records, answers from a script.

    Lets the page be tested without the real handlers; the end-to-end test uses the real bot.
    """

    def __init__(self, secret: str) -> None:
        self.verifier = SignatureVerifier(secret)
        self.requests: list[BotRequest] = []
        self.rejected = 0
        self.script: Script = lambda request: (None, [])
        # True: post the response_url messages before answering the ack (a fast bot racing its ack).
        self.respond_before_ack = False
        self._changed = threading.Condition()
        self._posters: list[threading.Thread] = []
        self._in_flight = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/slack/events"

    def start(self) -> ScriptedBot:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Finish pending response_url posts (while the fake Slack still runs), then stop."""
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight == 0, timeout=5)
            posters = list(self._posters)
        for poster in posters:
            poster.join(timeout=5)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def wait_for(self, predicate: Callable[[list[BotRequest]], bool], timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.requests), timeout=timeout)

    def of_kind(self, kind: str) -> list[BotRequest]:
        with self._changed:
            return [r for r in self.requests if r.kind == kind]

    def _accept(self, raw: bytes, headers: dict[str, str]) -> BotRequest | None:
        if not self.verifier.is_valid_request(raw, headers):
            with self._changed:
                self.rejected += 1
            return None
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        if "payload" in form:
            payload = json.loads(form["payload"])
            kind = str(payload.get("type"))
            if payload.get("actions"):
                kind = f"{kind}:{payload['actions'][0].get('type')}"
            request = BotRequest(kind, form, payload)
        else:
            request = BotRequest("command", form)
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()
        return request

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        bot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                with bot._changed:
                    bot._in_flight += 1
                try:
                    self._serve()
                finally:
                    with bot._changed:
                        bot._in_flight -= 1
                        bot._changed.notify_all()

            def _serve(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = bot._accept(raw, {k: v for k, v in self.headers.items()})
                if request is None:
                    self._answer(401, b"")
                    return
                ack, posts = bot.script(request)
                if bot.respond_before_ack:
                    _post_all(request.response_url, posts)
                self._answer(200, json.dumps(ack).encode() if ack is not None else b"")
                if not bot.respond_before_ack and posts:
                    poster = threading.Thread(
                        target=_post_all, args=(request.response_url, posts), daemon=True
                    )
                    poster.start()
                    with bot._changed:
                        bot._posters.append(poster)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if body else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        return Handler


def _post_all(url: str, posts: list[JsonDict]) -> None:
    with httpx.Client(trust_env=False, timeout=5) as client:
        for body in posts:
            client.post(url, json=body).raise_for_status()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(token=BOT_TOKEN) as fake:
        yield fake


@pytest.fixture
def scripted_bot(fake_slack: FakeSlack) -> Iterator[ScriptedBot]:
    """Depends on fake_slack so it stops first, after its last response_url post landed."""
    bot = ScriptedBot(SIGNING_SECRET).start()
    yield bot
    bot.stop()


@pytest.fixture
def playground(fake_slack: FakeSlack, scripted_bot: ScriptedBot) -> Iterator[Playground]:
    with Playground(
        slack=fake_slack,
        bot_url=scripted_bot.url,
        signing_secret=SIGNING_SECRET,
        hints=["Scripted bot for the page's own tests."],
        suggestions=["/zuora help"],
    ) as running:
        yield running


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright; a missing browser fails the run, it is never skipped."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install it with `apt-get install -y chromium chromium-driver` "
            "(scripts/setup does); never `playwright install`."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh page in a fixed time zone and locale, so rendered dates are predictable."""
    context = chromium.new_context(
        timezone_id="America/New_York", locale="en-US", viewport={"width": 1280, "height": 1000}
    )
    context.set_default_timeout(15_000)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"the page raised: {errors}"


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def outage_sandbox(tmp_path: Path) -> Iterator[Any]:
    """The real bot behind the playground, on the demo tenant with the sandbox outage switched on."""
    from bot.sandbox.stack import SandboxStack

    tenant = build_tenant(seed=7, now=datetime.now(UTC), outage=True)
    with SandboxStack(tmp_path, tenant=tenant) as stack:
        with Playground.for_stack(stack) as pg:
            yield stack, pg
