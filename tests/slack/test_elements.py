"""Tests for the shared elements: a response code reads as an HTTP code or as no response."""

from __future__ import annotations

import pytest

from bot.failures.callout_card import build_callout_details
from bot.failures.cards import build_failures_card
from bot.failures.results import AccountFailures
from bot.slack.elements import response_code_text
from tests.support.cards import UI_URL, make_account, make_callout, make_window, mrkdwn_texts


@pytest.mark.parametrize(
    ("response_code", "shown"),
    [
        ("503", "HTTP 503"),
        ("-1", "no response (code -1)"),
        ("0", "no response (code 0)"),
        (None, "no response"),
        ("no response", "no response"),
        ("<x>", "code &lt;x&gt;"),
    ],
)
def test_response_code_text_tells_http_codes_from_no_response(response_code, shown):
    assert response_code_text(response_code) == shown
    callout = make_callout(0, responseCode=response_code)
    row = "\n".join(
        mrkdwn_texts(
            build_failures_card(
                AccountFailures(
                    account=make_account(), window=make_window(), callouts=[callout], emails=[]
                ),
                ui_url=UI_URL,
            )
        )
    )
    assert f"→ {shown} · 3 attempts" in row
    details = build_callout_details(callout, account=make_account())
    assert f"*Response*\n{shown}" in "\n".join(mrkdwn_texts(details))
    assert details.text.endswith(f": {shown} after 3 attempts")
    assert "HTTP -" not in details.text and "HTTP 0" not in details.text
