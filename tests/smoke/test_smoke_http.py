"""The bot served by wsgiref on 127.0.0.1 (`SandboxStack`), driven with real signed HTTP requests.

This is the production request path short of gunicorn: `bot.wsgi.create_wsgi_app` in front of Bolt in
its default mode, so acks return before the work and the effects are polled for.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot.sandbox.slack_requests import slash_command_body
from bot.sandbox.stack import SandboxStack
from tests.support.stack_fixtures import (
    BIG_ACCOUNT,
    ORDINARY_ACCOUNT,
    button,
    click_body_for,
    fresh_tenant,
    post_signed,
    told_not_twice,
)

CLICKS = 10


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    with SandboxStack(tmp_path, tenant=fresh_tenant()) as started:
        yield started


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    with SandboxStack(tmp_path_factory.mktemp("stack"), tenant=fresh_tenant()) as started:
        yield started


@pytest.fixture
def quiet_stack(module_stack: SandboxStack) -> SandboxStack:
    """The module's stack with its fakes' logs cleared, for tests that check for no traffic."""
    module_stack.slack.reset()
    module_stack.zuora.reset_log()
    return module_stack


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def root(stack: SandboxStack) -> str:
    """The bot's base URL (without /slack/events)."""
    return stack.bot_url.removesuffix("/slack/events")


def test_smoke_healthz_answers_json_without_slack_or_zuora(
    quiet_stack: SandboxStack, http: httpx.Client
) -> None:
    stack = quiet_stack
    response = http.get(f"{root(stack)}/healthz")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["ok"] is True
    assert stack.slack.calls() == []
    assert stack.zuora.requests() == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("POST", "/slack/events/", 404), ("GET", "/slack/events", 405)],
)
def test_smoke_other_paths_are_refused(
    quiet_stack: SandboxStack, http: httpx.Client, method: str, path: str, status: int
) -> None:
    stack = quiet_stack
    response = http.request(method, f"{root(stack)}{path}")

    assert response.status_code == status
    assert response.json()["ok"] is False
    assert stack.zuora.requests() == []


@pytest.mark.parametrize(
    ("secret", "age", "status"),
    [(None, 301, 401), ("wrong-secret-0123456789abcdef", 0, 401), (None, 0, 200)],
    ids=["stale-301s", "bad-signature", "control"],
)
def test_smoke_unverified_requests_get_401_and_no_zuora_traffic(
    quiet_stack: SandboxStack, http: httpx.Client, secret: str | None, age: int, status: int
) -> None:
    stack = quiet_stack
    url = stack.slack.response_url("cmd", kind="command")
    body = slash_command_body(text=f"failures {BIG_ACCOUNT}", response_url=url)

    response = post_signed(
        http,
        stack.bot_url,
        body,
        secret=secret or stack.signing_secret,
        timestamp=time.time() - age,
    )

    assert response.status_code == status
    if status == 401:
        assert stack.zuora.requests() == []
        assert stack.slack.calls() == []
    else:
        assert stack.slack.wait_for(lambda: len(stack.slack.responses(url)) == 1, timeout=10)


def test_smoke_failures_command_acks_fast_then_the_card_arrives(
    stack: SandboxStack, http: httpx.Client
) -> None:
    stack.zuora.set_latency(0.3)  # each Zuora call is slow: the ack must not wait for them
    url = stack.slack.response_url("cmd", kind="command")
    body = slash_command_body(text=f"failures {BIG_ACCOUNT}", response_url=url)
    started = time.monotonic()

    response = post_signed(http, stack.bot_url, body, secret=stack.signing_secret)

    acked_in = time.monotonic() - started
    assert response.status_code == 200 and acked_in < 1.0
    assert response.json()["text"].startswith(f"Asked Zuora for the failures of {BIG_ACCOUNT}")
    assert stack.slack.wait_for(lambda: len(stack.slack.responses(url)) == 1, timeout=15)
    (card,) = stack.slack.responses(url)
    assert card["replace_original"] is False
    assert BIG_ACCOUNT in card["text"] and button(card, "zuora.resend_selected")
    assert time.monotonic() - started > acked_in + 0.3


def test_smoke_ten_concurrent_identical_clicks_resend_once(
    stack: SandboxStack, http: httpx.Client
) -> None:
    command_url = stack.slack.response_url("cmd", kind="command")
    body = slash_command_body(text=f"failures {ORDINARY_ACCOUNT}", response_url=command_url)
    assert post_signed(http, stack.bot_url, body, secret=stack.signing_secret).status_code == 200
    assert stack.slack.wait_for(lambda: len(stack.slack.responses(command_url)) == 1, timeout=10)
    row = button(stack.slack.responses(command_url)[0], "zuora.resend_email")
    stack.zuora.set_resend_delay(0.2)  # the winner is still in Zuora while the others arrive
    # Slack gives every delivery of a click its own response_url; the click itself is the same.
    urls = [stack.slack.response_url(f"click{n}") for n in range(CLICKS)]

    def click(url: str) -> int:
        body = click_body_for(row, response_url=url)
        return post_signed(http, stack.bot_url, body, secret=stack.signing_secret).status_code

    with ThreadPoolExecutor(max_workers=CLICKS) as pool:
        statuses = list(pool.map(click, urls))

    assert statuses == [200] * CLICKS

    def settled() -> bool:
        finals = [stack.slack.responses(url)[-1:] for url in urls]
        return all(finals) and not any("Resending" in f[0]["text"] for f in finals)

    assert stack.slack.wait_for(settled, timeout=15)
    finals = [stack.slack.responses(url)[-1]["text"] for url in urls]
    assert sum(text.startswith("1 of 1 email resent") for text in finals) == 1
    assert sum(told_not_twice(text) for text in finals) == CLICKS - 1
    assert len(stack.zuora.resend_calls()) == 1
    assert stack.deps is not None and len(stack.deps.store.list_resends()) == 1
