"""The request gate, the host rules and the second locks behind them, without a server process.

The gunicorn tests (tests/smoke/test_request_gate_gunicorn.py) cover the same points over real HTTP;
these pin the rules one by one: which timestamps, signatures, lengths and URLs pass.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.request import BoltRequest

from bot.core.url_rules import HostRuleError, allowed_url, parse_rules
from bot.sandbox.fake_slack import RESPONSE_URL_METHOD, FakeSlack
from bot.sandbox.slack_requests import sign, slash_command_body
from bot.settings import SettingsError, SlackSettings, ZuoraSettings, load_area
from bot.slack.io import Responder
from bot.slack.message import SlackMessage
from bot.slack.request_gate import Admitted, Refusal, RequestGate, SslCheck, signature_problem
from tests.support.stack_fixtures import Harness, dispatch_harness

SECRET = "gate-test-signing-secret"
NOW = 1_800_000_000
LIMIT = 4096


def environ(body: bytes, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    """A WSGI environ for POST /slack/events carrying `body` and Slack-style `headers`."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    env.update(extra)
    return env


def gate() -> RequestGate:
    return RequestGate(SECRET, max_body_bytes=LIMIT, clock=lambda: NOW)


class CountingInput(io.BytesIO):
    """wsgi.input that counts the bytes the gate read."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


# --- the gate ----------------------------------------------------------------------------------


def test_gate_admits_a_request_slack_signed_now() -> None:
    body = b"command=%2Fzuora&text=help"
    verdict = gate().check(environ(body, sign(SECRET, body, NOW)))
    assert verdict == Admitted(body)


@pytest.mark.parametrize(
    "timestamp",
    ["abc", "1e9", "", " 1800000000", "1800000000 ", "+1800000000", "１８００", "1800000000,1"],
)
def test_gate_refuses_a_malformed_timestamp_before_anything_raises(timestamp: str) -> None:
    body = b"command=%2Fzuora"
    headers = {**sign(SECRET, body, NOW), "X-Slack-Request-Timestamp": timestamp}
    verdict = gate().check(environ(body, headers))
    assert verdict == Refusal("401 Unauthorized", "missing or malformed X-Slack-Request-Timestamp")


@pytest.mark.parametrize(
    ("skew", "admitted"), [(-301, False), (-300, True), (300, True), (301, False)]
)
def test_gate_timestamp_must_be_within_five_minutes(skew: int, admitted: bool) -> None:
    body = b"command=%2Fzuora"
    verdict = gate().check(environ(body, sign(SECRET, body, NOW + skew)))
    assert isinstance(verdict, Admitted) is admitted


def test_gate_refuses_a_wrong_secret_a_tampered_body_and_a_malformed_signature() -> None:
    body = b"command=%2Fzuora"
    wrong = sign("not-the-secret", body, NOW)
    assert gate().check(environ(body, wrong)) == Refusal(
        "401 Unauthorized", "the signature does not match"
    )
    tampered = sign(SECRET, body, NOW)
    assert isinstance(gate().check(environ(body + b"&x=1", tampered)), Refusal)
    for bad in ("", "v0=", "v1=" + "0" * 64, "v0=" + "G" * 64, "V0=" + "0" * 64):
        headers = {**sign(SECRET, body, NOW), "X-Slack-Signature": bad}
        assert gate().check(environ(body, headers)) == Refusal(
            "401 Unauthorized", "missing or malformed X-Slack-Signature"
        )


def test_gate_refuses_a_large_declared_length_without_reading() -> None:
    stream = CountingInput(b"x" * 100)
    env = environ(b"", {}, CONTENT_LENGTH=str(500 * 1024 * 1024))
    env["wsgi.input"] = stream
    verdict = gate().check(env)
    assert verdict == Refusal("413 Content Too Large", f"the body is over {LIMIT} bytes")
    assert stream.taken == 0


@pytest.mark.parametrize(
    "extra",
    [
        {"CONTENT_LENGTH": ""},
        {"CONTENT_LENGTH": "12abc"},
        {"CONTENT_LENGTH": "-1"},
        {"CONTENT_LENGTH": "5", "HTTP_TRANSFER_ENCODING": "chunked"},
    ],
    ids=["missing", "garbage", "negative", "chunked"],
)
def test_gate_reads_an_unknown_length_at_most_limit_plus_one(extra: dict[str, str]) -> None:
    stream = CountingInput(b"x" * (LIMIT * 10))
    env = environ(b"", {}, **extra)
    env["wsgi.input"] = stream
    verdict = gate().check(env)
    assert isinstance(verdict, Refusal) and verdict.status.startswith("413")
    assert stream.taken == LIMIT + 1


def test_gate_refuses_a_body_that_is_not_utf8() -> None:
    body = b"text=\xff\xfe"
    assert gate().check(environ(body, sign(SECRET, body, NOW))) == Refusal(
        "400 Bad Request", "the body is not UTF-8"
    )


def test_gate_answers_slacks_unsigned_ssl_check_and_nothing_that_merely_contains_it() -> None:
    assert gate().check(environ(b"ssl_check=1&token=abc", {})) == SslCheck()
    for body in (b"ssl_check=1&response_url=http://x", b"ssl_check=0", b"ssl_check=1&command=x"):
        assert isinstance(gate().check(environ(body, {})), Refusal)


def test_signature_problem_without_a_clock_checks_the_hmac_only() -> None:
    body = b"a=1"
    headers = sign(SECRET, body, NOW - 3600)
    ts, sig = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    assert signature_problem(SECRET.encode(), body, ts, sig, now=None) is None
    assert signature_problem(SECRET.encode(), body, ts, sig, now=NOW) is not None
    assert signature_problem(SECRET.encode(), body, "x", sig, now=None) is not None


# --- host rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://hooks.slack.com/commands/T1/2/abc", True),
        ("https://HOOKS.slack.com./actions/T1/2/abc", True),
        ("https://hooks.slack.com:443/commands/T1/2/abc", True),
        ("http://hooks.slack.com/commands/T1/2/abc", False),
        ("https://hooks.slack.com.evil.example/x", False),
        ("https://evilhooks.slack.com/x", False),
        ("https://hooks.slack.com@evil.example/x", False),
        ("https://user:pw@hooks.slack.com/x", False),
        ("https://evil.example\\@hooks.slack.com/x", False),
        ("https://evil.example/\thooks.slack.com", False),
        ("https://hooks.slack.com:99999/x", False),
        ("//hooks.slack.com/x", False),
        ("file:///etc/passwd", False),
        ("", False),
        ("http://127.0.0.1:8080/response/x", False),
    ],
)
def test_url_rules_allow_only_slacks_response_url_host_by_default(url: str, allowed: bool) -> None:
    assert allowed_url(url, parse_rules("hooks.slack.com")) is allowed


def test_url_rules_wildcards_ports_and_schemes() -> None:
    s3 = parse_rules("*.amazonaws.com")
    assert allowed_url("https://b.s3.us-west-2.amazonaws.com/f.json?X-Amz-Signature=1", s3)
    assert not allowed_url("https://amazonaws.com/f", s3)
    assert not allowed_url("https://b.amazonaws.com.evil.example/f", s3)
    assert not allowed_url("http://b.s3.amazonaws.com/f", s3)
    local = parse_rules("http://127.0.0.1:8123")
    assert allowed_url("http://127.0.0.1:8123/files/x", local)
    assert not allowed_url("http://127.0.0.1:8124/files/x", local)
    assert not allowed_url("https://127.0.0.1:8123/files/x", local)
    assert allowed_url("http://127.0.0.1:9/x", parse_rules("http://127.0.0.1"))


@pytest.mark.parametrize(
    "text", ["ftp://x.example", "hooks slack com", "*.*.example", "a:b:c", "x:0"]
)
def test_url_rules_refuse_malformed_entries(text: str) -> None:
    with pytest.raises(HostRuleError):
        parse_rules(text)


def test_settings_host_lists_default_strict_and_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-abc")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "0123456789abcdef")
    slack = load_area(SlackSettings, env_file=None)
    assert slack.response_url_hosts == "hooks.slack.com" and slack.max_body_bytes == 1024 * 1024
    zuora = ZuoraSettings(_env_file=None, client_id="id-1", client_secret="secret-1")
    assert zuora.result_file_hosts == "*.amazonaws.com"
    monkeypatch.setenv("SLACK_RESPONSE_URL_HOSTS", "ftp://x")
    with pytest.raises(SettingsError, match="SLACK_RESPONSE_URL_HOSTS"):
        load_area(SlackSettings, env_file=None)
    monkeypatch.setenv("SLACK_RESPONSE_URL_HOSTS", " , ")
    with pytest.raises(SettingsError, match="SLACK_RESPONSE_URL_HOSTS is empty"):
        load_area(SlackSettings, env_file=None)


# --- the second locks: the Responder and the error handler ------------------------------------------


def test_responder_refuses_a_foreign_host_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    with FakeSlack(token="xoxb-foreign") as foreign:
        url = foreign.response_url("x", kind="command")
        responder = Responder(hosts=parse_rules("hooks.slack.com"))
        with caplog.at_level(logging.WARNING, logger="bot.slack.io"):
            sent = responder.send(url, SlackMessage(text="hi", blocks=[]), replace_original=False)
        assert sent is False
        assert foreign.calls() == []
        assert "refused to post to a response_url on 127.0.0.1" in caplog.text
        assert "/response/" not in caplog.text  # the path (a token) is never logged


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path) as started:
        yield started


def test_error_handler_posts_nothing_for_a_request_whose_signature_did_not_verify(
    harness: Harness,
) -> None:
    """Straight into Bolt (as if the gate were missing): Bolt's check raises on the timestamp."""
    url = harness.slack.response_url("attacker", kind="command")  # even an allowed host
    body = slash_command_body(text="help", response_url=url)
    headers = {**sign(harness.stack.signing_secret, body, int(time.time()))}
    headers["X-Slack-Request-Timestamp"] = "not-a-number"
    harness.app.dispatch(BoltRequest(body=body.decode(), headers=dict(headers)))
    assert harness.slack.calls(RESPONSE_URL_METHOD) == []
