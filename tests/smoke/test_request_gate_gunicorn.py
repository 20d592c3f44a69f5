"""Nothing for strangers, through gunicorn (2 workers) as Procfile runs it, on SQLite and PostgreSQL.

Unsigned, stale, oversized and undecodable requests are answered at the WSGI gate and reach no
listener and no error handler (which would post to the body's response_url); a response_url on a
host other than the configured Slack one gets nothing; a replayed signed `/zuora alerts subscribe`
adds one subscription. The "listener" that must receive nothing is a FakeSlack whose response_urls
the bot is allowed to post to, so only the gate can be what keeps it silent.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bot.sandbox.fake_slack import RESPONSE_URL_METHOD, FakeSlack
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.slack_requests import FORM_CONTENT_TYPE, sign, slash_command_body
from bot.store.database import Store
from tests.support.db_urls import database
from tests.support.gunicorn import (
    FRESH,
    SIGNING_SECRET,
    bot_env,
    gunicorn,
    wait_for_workers,
)
from tests.support.stack_fixtures import fresh_tenant

pytestmark = pytest.mark.slow

CHANNEL = "C0001"  # the channel slash_command_body sends from
QUIET_WAIT = 1.0  # seconds a listener that must stay silent is watched after the answer


@dataclass
class Bot:
    """A running gunicorn bot, its fakes, and where to reach it."""

    events: str
    port: int
    slack: FakeSlack
    zuora: FakeZuora
    log_path: Path
    database_url: str
    http: httpx.Client


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def bot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    workdir = tmp_path_factory.mktemp("gate")
    with (
        database(request.param, workdir) as database_url,
        FakeZuora(fresh_tenant()) as zuora,
        FakeSlack(token="xoxb-gate-" + secrets.token_hex(6)) as slack,
        gunicorn(bot_env(zuora, slack, database_url), workdir) as (base, log_path),
        httpx.Client(timeout=15, headers=FRESH) as http,
    ):
        slack.set_channel(CHANNEL, name="billing-ops", is_member=True)
        wait_for_workers(http, base, log_path)
        port = int(urlsplit(base).port or 0)
        yield Bot(f"{base}/slack/events", port, slack, zuora, log_path, database_url, http)


def team() -> str:
    """A workspace of its own per test, so tests sharing one bot do not see each other's rows."""
    return "T" + secrets.token_hex(4).upper()


def logged(bot: Bot) -> str:
    """gunicorn's output so far (the bot logs at WARNING)."""
    return bot.log_path.read_text(errors="replace")


def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `predicate` every 50 ms until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stays_silent(slack: FakeSlack) -> bool:
    """No response_url post reaches `slack` within QUIET_WAIT seconds."""
    return not slack.wait_for(lambda: bool(slack.calls(RESPONSE_URL_METHOD)), timeout=QUIET_WAIT)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Slack-Request-Timestamp": "not-a-number", "X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "1e9", "X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": "v0=abc"},
        {},
    ],
    ids=["words", "exponent", "empty", "no-headers"],
)
def test_gate_unsigned_request_reaches_no_listener_and_no_error_handler(
    bot: Bot, headers: dict[str, str]
) -> None:
    listener = FakeSlack(token="xoxb-listener").start()
    try:
        url = listener.response_url("attacker", kind="command")
        body = slash_command_body(text="alerts list", response_url=url, team_id=team())
        sent = {"Content-Type": FORM_CONTENT_TYPE, **headers}
        reply = bot.http.post(bot.events, content=body, headers=sent)
        assert stays_silent(listener), listener.calls()  # main posted its error card here (SSRF)
        assert reply.status_code == 401, reply.text
        assert reply.json()["ok"] is False
        # Even on the allowed Slack host nothing arrives: the gate, not the host rule, stopped it.
        allowed = bot.slack.response_url("unsigned", kind="command")
        body = slash_command_body(text="alerts list", response_url=allowed, team_id=team())
        assert bot.http.post(bot.events, content=body, headers=sent).status_code == 401
        assert bot.slack.responses(allowed) == []
    finally:
        listener.stop()


def test_gate_wrong_or_stale_signature_is_401(bot: Bot) -> None:
    url = bot.slack.response_url("stale", kind="command")
    body = slash_command_body(text="alerts list", response_url=url, team_id=team())
    stale = sign(SIGNING_SECRET, body, int(time.time()) - 301)
    assert bot.http.post(bot.events, content=body, headers=stale).status_code == 401
    wrong = sign("another-secret-entirely-0000", body, int(time.time()))
    assert bot.http.post(bot.events, content=body, headers=wrong).status_code == 401
    tampered = sign(SIGNING_SECRET, body, int(time.time()))
    reply = bot.http.post(bot.events, content=body + b"&x=1", headers=tampered)
    assert reply.status_code == 401
    time.sleep(QUIET_WAIT)
    assert bot.slack.responses(url) == []


def test_gate_refuses_a_500_mb_content_length_without_reading_it(bot: Bot) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", bot.port), timeout=5) as conn:
        conn.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 524288000\r\n\r\n" + b"x" * 1024
        )
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 3.0
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["ok"] is False and "over" in body["error"]


def test_gate_reads_a_chunked_body_only_up_to_the_limit(bot: Bot) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(64):  # 4 MiB offered, 1 MiB + 1 byte is all the gate reads
            sent += 1
            yield b"a" * 65536

    reply = bot.http.post(bot.events, content=chunks(), headers={"Content-Type": FORM_CONTENT_TYPE})
    assert reply.status_code == 413
    assert reply.json()["ok"] is False


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_gate_non_utf8_body_is_400_without_a_traceback(bot: Bot, signed: bool) -> None:
    body = b"command=%2Fzuora&text=\xff\xfe\xfd"
    headers = (
        sign(SIGNING_SECRET, body, int(time.time()))
        if signed
        else {"Content-Type": FORM_CONTENT_TYPE}
    )
    reply = bot.http.post(bot.events, content=body, headers=headers)
    assert reply.status_code == 400
    assert reply.json() == {"ok": False, "error": "the body is not UTF-8"}
    assert "Traceback" not in logged(bot)


def test_gate_ssl_check_is_answered_without_a_signature(bot: Bot) -> None:
    reply = bot.http.post(
        bot.events, content=b"ssl_check=1&token=x", headers={"Content-Type": FORM_CONTENT_TYPE}
    )
    assert reply.status_code == 200


def test_response_url_on_a_foreign_host_gets_nothing(bot: Bot) -> None:
    foreign = FakeSlack(
        token="xoxb-foreign"
    ).start()  # another origin than SLACK_RESPONSE_URL_HOSTS
    try:
        url = foreign.response_url("foreign", kind="command")
        body = slash_command_body(text="alerts list", response_url=url, team_id=team())
        reply = bot.http.post(
            bot.events, content=body, headers=sign(SIGNING_SECRET, body, int(time.time()))
        )
        assert reply.status_code == 200  # signed: acked as usual
        assert stays_silent(foreign), foreign.calls()
        assert eventually(lambda: "refused to post to a response_url" in logged(bot)), logged(bot)
        # The same command with Slack's own response_url is answered there.
        allowed = bot.slack.response_url("allowed", kind="command")
        body = slash_command_body(text="alerts list", response_url=allowed, team_id=team())
        reply = bot.http.post(
            bot.events, content=body, headers=sign(SIGNING_SECRET, body, int(time.time()))
        )
        assert reply.status_code == 200
        assert bot.slack.wait_for(lambda: len(bot.slack.responses(allowed)) == 1, timeout=10)
    finally:
        foreign.stop()


def test_replayed_alerts_subscribe_adds_one_subscription(bot: Bot) -> None:
    workspace = team()
    url = bot.slack.response_url("subscribe", kind="command")
    body = slash_command_body(
        text="alerts subscribe threshold 4 per 20 minutes kind emails",
        response_url=url,
        team_id=workspace,
    )
    headers = sign(SIGNING_SECRET, body, int(time.time()))  # one signed request, sent three times

    def deliver(_: int) -> int:
        return bot.http.post(bot.events, content=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=2) as pool:  # two at once, on either worker
        assert list(pool.map(deliver, range(2))) == [200, 200]
    assert bot.slack.wait_for(lambda: len(bot.slack.responses(url)) == 2, timeout=15)
    assert deliver(3) == 200  # and once more, later
    assert bot.slack.wait_for(lambda: len(bot.slack.responses(url)) == 3, timeout=15)

    store = Store.from_url(bot.database_url)
    try:
        (sub,) = store.list_alert_subscriptions(team_id=workspace)
    finally:
        store.close()
    texts = [post["text"] for post in bot.slack.responses(url)]
    assert sum(text.startswith(f"Subscribed: spike alert #{sub.id}") for text in texts) == 1
    assert sum(text.startswith(f"Already subscribed (id {sub.id})") for text in texts) == 2
