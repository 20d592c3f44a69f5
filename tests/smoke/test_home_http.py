"""The Home tab over real signed HTTP (wsgiref, Bolt's default mode): app_home_opened is verified by the
request gate and Bolt, acked at once, and the view is published afterwards."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.sandbox.fake_slack_surfaces import app_home_opened_body, signed_event_headers
from bot.sandbox.stack import SandboxStack
from tests.support.stack_fixtures import fresh_tenant

USER = "U0HOMEHTTP"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    with SandboxStack(tmp_path, tenant=fresh_tenant(), allowed_users="U0SOMEONE") as started:
        yield started


def _post(stack: SandboxStack, *, secret: str | None = None, age: int = 0) -> httpx.Response:
    body = app_home_opened_body(user_id=USER, team_id=stack.slack.team_id)
    headers = signed_event_headers(secret or stack.signing_secret, body, int(time.time()) - age)
    return httpx.post(stack.bot_url, content=body, headers=headers, timeout=10)


def test_smoke_app_home_opened_over_http_publishes_a_read_only_home(stack: SandboxStack) -> None:
    answer = _post(stack)

    assert answer.status_code == 200
    assert stack.slack.wait_for(lambda: stack.slack.surfaces.home_view(USER) is not None)
    view = stack.slack.surfaces.home_view(USER)
    assert view is not None and view["type"] == "home"
    assert any("Read-only" in str(block) for block in view["blocks"])


def test_smoke_a_forged_or_stale_app_home_opened_publishes_nothing(stack: SandboxStack) -> None:
    assert _post(stack, secret="not-the-secret").status_code == 401
    assert _post(stack, age=301).status_code == 401
    assert stack.slack.calls("views.publish") == []
