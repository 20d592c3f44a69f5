"""Request verification through Bolt's dispatch: a wrong or stale signature, or a changed body, is refused
before any Zuora call.

Like every scenario test, it runs the production App (`create_app`) against the sandbox Zuora and the
fake Slack over loopback HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest
from slack_bolt import BoltRequest

from bot.sandbox.slack_requests import sign, slash_command_body
from tests.support.stack_fixtures import BIG_ACCOUNT, Harness

# --- request verification ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signing", "status"),
    [
        pytest.param({"secret": "0123456789abcdef-not-the-secret"}, 401, id="wrong-secret"),
        pytest.param({"timestamp_offset": -301}, 401, id="stale-301s"),
        pytest.param({"timestamp_offset": -290}, 200, id="control-290s-is-fresh"),
    ],
)
def test_app_verifies_signature_and_timestamp_before_any_zuora_call(
    harness: Harness, signing: dict[str, Any], status: int
) -> None:
    url = harness.slack.response_url("cmd")
    body = slash_command_body(text=f"failures {BIG_ACCOUNT}", response_url=url)
    offset = signing.get("timestamp_offset", 0)
    secret = signing.get("secret")
    response = harness.dispatch(body, timestamp=time.time() + offset, secret=secret)

    assert response.status == status
    if status == 401:
        assert harness.zuora.requests() == []
        assert harness.slack.calls() == []
    else:
        assert harness.zuora.requests(f"/v1/accounts/{BIG_ACCOUNT}")
        assert len(harness.posts(url)) == 1


def test_app_rejects_a_body_that_differs_from_the_signed_one(harness: Harness) -> None:
    url = harness.slack.response_url("cmd")
    signed = slash_command_body(text="help", response_url=url)
    tampered = slash_command_body(text=f"failures {BIG_ACCOUNT}", response_url=url)
    headers: dict[str, str | Sequence[str]] = {
        **sign(harness.stack.signing_secret, signed, int(time.time()))
    }

    response = harness.app.dispatch(BoltRequest(body=tampered.decode(), headers=headers))

    assert response.status == 401
    assert harness.zuora.requests() == []
