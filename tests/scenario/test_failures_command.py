"""`/zuora failures` through Bolt's dispatch: signed requests in; Zuora calls and Slack posts out.

Every test runs the production App (`create_app`) against the sandbox Zuora and the fake Slack over
loopback HTTP. `process_before_response=True` makes dispatch return only after the listener finished,
so the effects are there to check; one test runs in the default mode that gunicorn uses.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from slack_sdk.http_retry import builtin_handlers

from bot.sandbox.tenant import HOSTILE_ACCOUNT_NAMES, build_tenant, parse_wire_time
from tests.support.scenario import LOADING, RESEND_EMAIL
from tests.support.stack_fixtures import (
    BIG_ACCOUNT,
    ORDINARY_ACCOUNT,
    Harness,
    all_text,
    button,
    buttons,
    dispatch_harness,
    mrkdwn_texts,
    value_of,
)

# --- /zuora failures --------------------------------------------------------------------------


def test_app_failures_command_acks_a_receipt_then_posts_one_card(harness: Harness) -> None:
    reply = harness.command(f"failures {BIG_ACCOUNT}")

    assert reply.status == 200
    assert reply.ack["text"] == (
        f"Asked Zuora for the failures of {BIG_ACCOUNT} in the last 24h; the answer follows below."
    )
    posts = harness.posts(reply.response_url)
    assert len(posts) == 1
    card = posts[0]
    # Slack would not replace the ack through a command's response_url: the card says so plainly.
    assert card["replace_original"] is False
    assert card["response_type"] == "ephemeral"
    account = harness.tenant.account(BIG_ACCOUNT)
    assert account is not None
    assert card["text"].startswith(f"{account.name} ({BIG_ACCOUNT}): ")
    assert "in the last 24h" in card["text"]
    # 32 rows: the first page shows 20 and says so; ticking and Resend selected resend any of them.
    assert card["blocks"][0]["text"]["text"].endswith(" · 20 of 32")
    assert buttons(card, "zuora.select_emails") and buttons(card, "zuora.select_callouts")
    assert buttons(card, "zuora.resend_selected")


def test_app_ordinary_account_fits_one_page_with_a_resend_on_every_row(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)

    assert card["text"].endswith("3 failed callouts, 6 failed emails in the last 24h")
    assert not buttons(card, "zuora.page"), "no paging for 9 rows"
    assert len(buttons(card, RESEND_EMAIL)) == 6
    menus = buttons(card, "zuora.row_menu")
    assert len(menus) == 3
    assert all(
        [o["text"]["text"] for o in m["options"]][:2] == ["Resend", "Details"] for m in menus
    )


def test_app_failures_command_leaves_exactly_one_card_and_no_placeholder(
    harness: Harness,
) -> None:
    reply = harness.command(f"failures {BIG_ACCOUNT}")

    seen = harness.seen(reply)
    cards = [m for m in seen if buttons(m, "zuora.refresh")]
    assert len(cards) == 1, [m["text"] for m in seen]
    (receipt,) = [m for m in seen if m is not cards[0]]
    assert not buttons(receipt, "zuora.refresh") and "the answer follows below" in receipt["text"]
    assert not any(":hourglass_flowing_sand:" in all_text(m) for m in seen), "a placeholder stayed"


def test_app_failures_card_with_late_ids_is_posted_once_and_a_refresh_click_redraws_it(
    tmp_path: Path,
) -> None:
    tenant = build_tenant(seed=7, now=datetime.now(UTC), rest_ids=False)
    with dispatch_harness(
        tmp_path, process_before_response=True, tenant=tenant, zuora_overrides={"id_wait": 0.2}
    ) as harness:
        harness.zuora.set_query_delay(1.0)

        reply = harness.command(f"failures {ORDINARY_ACCOUNT}")
        (card,) = harness.posts(reply.response_url)
        assert LOADING in all_text(card) and "press *Refresh*" in all_text(card)
        assert not buttons(card, RESEND_EMAIL)

        refresh = harness.click(button(card, "zuora.refresh"))
        redrawn = harness.wait_posts(refresh.response_url, 2)

        assert all(post["replace_original"] is True for post in redrawn)
        (shown,) = harness.slack.shown(refresh.response_url)
        assert buttons(shown, RESEND_EMAIL) and LOADING not in all_text(shown)
        # The lookup has ended by now: the command's card was still never sent a second time.
        assert len(harness.posts(reply.response_url)) == 1
        assert len([m for m in harness.seen(reply) if buttons(m, "zuora.refresh")]) == 1


@pytest.mark.parametrize("number", ["A00000003", "A00000004", "A00000005", "A00000006"])
def test_app_failures_card_escapes_hostile_account_names(harness: Harness, number: str) -> None:
    account = harness.tenant.account(number)
    assert account is not None and account.name in HOSTILE_ACCOUNT_NAMES

    card = harness.card_for(number)

    escaped = account.name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    parsed = "\n".join(mrkdwn_texts(card))
    assert account.name not in parsed
    assert escaped in card["text"]
    for token in ("<!channel>", "<https://evil.example", "<@U024BE7LH>", "<Holdings>"):
        assert token not in parsed


def test_app_failures_command_splits_a_seven_day_window(harness: Harness) -> None:
    card = harness.card_for(window="7d")

    ref = value_of(button(card, "zuora.resend_all"))["card"]
    assert ref["w"] == "7d" and ref["e"] - ref["s"] == 7 * 86400
    zone = harness.tenant.zone
    windows = sorted(
        {
            (
                parse_wire_time(request.query["startTime"][0], zone),
                parse_wire_time(request.query["endTime"][0], zone),
            )
            for request in harness.zuora.requests("/v1/notification-history/email")
        }
    )
    assert len(windows) == 3, windows
    assert all(end - start <= timedelta(days=3) for start, end in windows)
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    start, end = windows[0][0], windows[-1][1]
    assert end - start == timedelta(days=7)
    assert abs(start.timestamp() - ref["s"]) <= 1
    account = harness.tenant.account(BIG_ACCOUNT)
    assert account is not None
    expected = sum(
        1
        for email in harness.tenant.emails_for(account.id)
        if email.failed and start <= email.send_time < end
    )
    assert expected > 100, "the big account has more failures than one page"
    assert f", {expected} failed emails in the last 7d" in card["text"]


def test_app_failures_command_for_an_unknown_account_says_so(harness: Harness) -> None:
    reply = harness.command("failures A99999999")

    # The ack (the receipt) still reaches Slack: an error after ack must not turn it into a 500.
    assert reply.status == 200
    assert "failures of *A99999999*" in all_text(reply.ack)
    posts = harness.posts(reply.response_url)
    assert len(posts) == 1
    assert posts[0]["replace_original"] is False
    assert "Zuora has no account `A99999999`." in posts[0]["text"]
    assert "Check the account number" in all_text(posts[0])


@pytest.mark.parametrize(
    ("account", "said"),
    [
        ("../../v1/x", "doesn't look like an account number"),
        ("A%2f1", "doesn't look like an account number"),
        ("A/1", "doesn't look like an account number"),
        ("..", "doesn't look like an account number"),
        ("A00000001/../../v1/accounts", "doesn't look like an account number"),
        (".", "Nothing was sent to Zuora"),
    ],
)
def test_app_malformed_account_never_reaches_a_zuora_url(
    harness: Harness, account: str, said: str
) -> None:
    reply = harness.command(f"failures {account}")

    answers = [reply.ack, *harness.posts(reply.response_url)]
    assert any(said in all_text(answer) for answer in answers), answers
    assert "Traceback" not in json.dumps(answers)
    assert harness.zuora.requests() == []


def test_app_zuora_5xx_then_success_still_delivers_the_card(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path) as harness:
        harness.zuora.fail_next(f"/v1/accounts/{BIG_ACCOUNT}", status=503)

        card = harness.card_for()

        assert card["text"].startswith(f"{harness.account_name()} ({BIG_ACCOUNT}): ")
        assert buttons(card, "zuora.resend_selected")
        statuses = [r.status for r in harness.zuora.requests(f"/v1/accounts/{BIG_ACCOUNT}")]
        assert statuses == [503, 200]


def test_app_zuora_unreachable_gives_an_actionable_message(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path, zuora_overrides={"retry_max_delay": 0.05}) as harness:
        harness.zuora.set_down(True)
        reply = harness.command(f"failures {BIG_ACCOUNT}")

        posts = harness.posts(reply.response_url)
        assert len(posts) == 1
        text = all_text(posts[0])
        assert "The bot could not reach Zuora." in text
        assert "Try again in a minute" in text
        assert "Traceback" not in text and "ZuoraConnectionError" not in text


def test_app_unexpected_error_gets_an_incident_id_not_a_traceback(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(harness.deps.service, "failures_for", explode)

    reply = harness.command(f"failures {BIG_ACCOUNT}")

    posts = harness.posts(reply.response_url)
    assert len(posts) == 1
    text = all_text(posts[0])
    assert "Something went wrong inside the bot." in text
    assert "Quote incident" in text
    assert "secret internal detail" not in text and "Traceback" not in text


def test_app_retries_a_rate_limited_response_url(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(builtin_handlers, "time", SimpleNamespace(sleep=sleeps.append))
    harness.slack.fail_next("response_url", status=429, retry_after=1)

    reply = harness.command(f"failures {BIG_ACCOUNT}")

    posts = harness.posts(reply.response_url)
    assert len(posts) == 1 and posts[0]["replace_original"] is False
    attempts = [
        c
        for c in harness.slack.calls("response_url")
        if c.path.endswith(reply.response_url.rsplit("/", 1)[1])
    ]
    assert len(attempts) == 2
    assert len(sleeps) == 1 and 1 <= sleeps[0] < 2, "slept for Retry-After"


# --- the default (gunicorn) mode --------------------------------------------------------------


def test_app_default_mode_acks_at_once_and_delivers_the_card_after(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path, process_before_response=False) as harness:
        harness.zuora.set_latency(0.2)  # every Zuora request is slow; the ack must not wait
        started = time.monotonic()

        reply = harness.command(f"failures {BIG_ACCOUNT}")

        acked_in = time.monotonic() - started
        assert reply.status == 200
        assert reply.ack["text"].startswith(f"Asked Zuora for the failures of {BIG_ACCOUNT}")
        assert acked_in < 1.0
        (card,) = harness.wait_posts(reply.response_url, 1)
        assert time.monotonic() - started > acked_in + 0.2
        assert card["replace_original"] is False
        assert card["text"].startswith(f"{harness.account_name()} ({BIG_ACCOUNT})")
