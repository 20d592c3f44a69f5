"""The bot through Bolt's dispatch: signed requests in; Zuora calls, Slack posts and audit rows out.

Every test runs the production App (`create_app`) against the sandbox Zuora and the fake Slack over
loopback HTTP. `process_before_response=True` makes dispatch return only after the listener finished,
so the effects are there to check; one test runs in the default mode that gunicorn uses.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from slack_bolt import BoltRequest
from slack_sdk.http_retry import builtin_handlers

from bot.core.actions import CalloutRef, CardRef, ResendRef, decode_row_action
from bot.sandbox.slack_requests import (
    checkbox_action_body,
    checkbox_option,
    sign,
    slash_command_body,
)
from bot.sandbox.tenant import HOSTILE_ACCOUNT_NAMES, build_tenant, parse_wire_time
from tests.support.stack_fixtures import (
    BIG_ACCOUNT,
    ORDINARY_ACCOUNT,
    Harness,
    JsonDict,
    all_text,
    button,
    buttons,
    dispatch_harness,
    ids_of,
    menu_option,
    mrkdwn_texts,
    ticked,
    value_of,
)

RESEND_EMAIL = "zuora.resend_email"
RESEND_CONFIRM = "zuora.resend_confirm"
ALREADY_HANDLED = "Already handled"
DENIED = "You are not on the resend allow-list"
STALE = "This button is from an older card"
LOADING = "Resend IDs are still loading"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path) as started:
        yield started


def failing_email(harness: Harness) -> tuple[str, str, str]:
    """An email history id Zuora refuses to resend, with the code and message it answers."""
    email_ids = {email.id for email in harness.tenant.emails}
    history_id, failure = next(
        (key, failure)
        for key, failure in sorted(harness.tenant.resend_failures.items())
        if key in email_ids
    )
    return history_id, failure.code, failure.message


def resendable_email(harness: Harness) -> str:
    """A failed email id Zuora resends without complaint."""
    return next(
        email.id
        for email in harness.tenant.emails
        if email.failed and email.id not in harness.tenant.resend_failures
    )


def confirm_card(harness: Harness, ids: list[str]) -> JsonDict:
    """`/zuora resend <ids>`: the confirm card from the ack, checking nothing was resent yet."""
    reply = harness.command("resend " + " ".join(ids))
    assert reply.status == 200
    assert harness.resends() == []
    return reply.ack


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


# --- resend clicks ----------------------------------------------------------------------------


def test_app_resend_from_an_ephemeral_card_shows_progress_then_outcome(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    row = button(card, RESEND_EMAIL)
    history_id = ids_of(row)[0]

    click = harness.click(row)

    assert click.status == 200
    progress, outcome = harness.posts(click.response_url)
    assert progress["replace_original"] is True and outcome["replace_original"] is True
    assert progress["text"].startswith("Resending 1 email") and "<@U0001>" in progress["text"]
    assert not list(buttons(progress, RESEND_EMAIL)), "no buttons while Zuora works"
    assert outcome["text"].startswith("1 of 1 email resent")
    assert harness.resends() == [("email", (history_id,))]
    call = harness.zuora.resend_calls()[0]
    assert call.idempotency_key and call.track_id
    (entry,) = harness.deps.store.list_resends()
    assert (entry.status, entry.ids, entry.user_id) == ("succeeded", (history_id,), "U0001")
    assert entry.account_key == ORDINARY_ACCOUNT and entry.outcome[history_id].ok


def test_app_double_click_resends_once(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    first_row, second_row = buttons(card, RESEND_EMAIL)[:2]

    first = harness.click(first_row)
    again = harness.click(first_row, response_url=first.response_url)

    posts = harness.posts(first.response_url)
    assert [p["text"].split(" ")[0] for p in posts[:2]] == ["Resending", "1"]
    assert ALREADY_HANDLED in posts[2]["text"] and posts[2]["replace_original"] is False
    assert again.status == 200
    assert len(harness.resends()) == 1
    harness.click(second_row)  # another row of the same card is another resend
    assert [ids for _, ids in harness.resends()] == [
        tuple(ids_of(first_row)),
        tuple(ids_of(second_row)),
    ]


def test_app_concurrent_double_click_resends_once(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    row = button(card, RESEND_EMAIL)
    url = harness.slack.response_url("click")
    harness.zuora.set_resend_delay(
        0.2
    )  # the winner is still talking to Zuora when the loser checks
    start = threading.Barrier(2)

    def click() -> int:
        start.wait(timeout=5)
        return harness.click(row, response_url=url).status

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = list(pool.map(lambda _: click(), range(2)))

    assert statuses == [200, 200]
    assert len(harness.resends()) == 1
    texts = [post["text"] for post in harness.posts(url)]
    # The loser arrives while the winner waits for Zuora: it is told who started it and when.
    assert sum("That resend is in progress, started by <@" in text for text in texts) == 1
    assert sum(ALREADY_HANDLED in text for text in texts) == 0
    assert sum(text.startswith("1 of 1 email resent") for text in texts) == 1


def test_app_two_users_clicking_the_same_card_resend_once(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    row = button(card, RESEND_EMAIL)

    alice = harness.click(row, user_id="U0ALICE")
    bob = harness.click(row, user_id="U0BOB")

    assert harness.posts(alice.response_url)[-1]["text"].startswith("1 of 1 email resent")
    (bob_post,) = harness.posts(bob.response_url)
    assert ALREADY_HANDLED in bob_post["text"]
    assert len(harness.resends()) == 1
    assert [e.user_id for e in harness.deps.store.list_resends()] == ["U0ALICE"]


def test_app_denied_user_gets_an_ephemeral_refusal_and_nothing_is_resent(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path, allowed_users="U0ALLOWED") as harness:
        card = harness.card_for(ORDINARY_ACCOUNT)
        row = button(card, RESEND_EMAIL)

        denied = harness.click(row, user_id="U0001")

        (post,) = harness.posts(denied.response_url)
        assert DENIED in post["text"] and "Nothing was resent" in post["text"]
        assert post["replace_original"] is False, "the card stays for someone who may resend"
        assert harness.resends() == []
        assert harness.deps.store.list_resends() == []
        allowed = harness.click(row, user_id="U0ALLOWED")  # a refusal does not burn the click
        assert harness.posts(allowed.response_url)[-1]["text"].startswith("1 of 1 email resent")
        assert len(harness.resends()) == 1


def test_app_user_group_on_the_allow_list_grants_resend(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path, allowed_users="S0BILLING") as harness:
        harness.slack.set_usergroup("S0BILLING", ["U0MEMBER"])
        card = harness.card_for(ORDINARY_ACCOUNT)
        first_row, second_row = buttons(card, RESEND_EMAIL)[:2]

        outsider = harness.click(first_row, user_id="U0OUTSIDER")
        member = harness.click(second_row, user_id="U0MEMBER")

        assert DENIED in harness.posts(outsider.response_url)[0]["text"]
        assert harness.posts(member.response_url)[-1]["text"].startswith("1 of 1 email resent")
        assert harness.resends() == [("email", tuple(ids_of(second_row)))]
        lookups = harness.slack.calls("usergroups.users.list")
        assert lookups and {c.params["usergroup"] for c in lookups} == {"S0BILLING"}


def test_app_partial_failure_names_the_failed_id_with_zuoras_code(harness: Harness) -> None:
    bad, code, message = failing_email(harness)
    good = resendable_email(harness)
    confirm = confirm_card(harness, [good, bad])

    click = harness.click(button(confirm, RESEND_CONFIRM))

    outcome = harness.posts(click.response_url)[-1]
    assert outcome["text"].endswith("1 of 2 emails resent; 1 failed")
    text = all_text(outcome)
    failed_line = next(line for line in text.splitlines() if bad in line)
    assert code in failed_line and message in failed_line
    assert any(good in line and "sent" in line for line in text.splitlines())
    assert harness.zuora.resent(good) == 1 and harness.zuora.resent(bad) == 0
    (entry,) = harness.deps.store.list_resends()
    assert entry.status == "partial"
    assert entry.outcome[good].ok and not entry.outcome[bad].ok
    assert (entry.outcome[bad].code, entry.outcome[bad].message) == (code, message)


def test_app_zuora_error_during_resend_is_reported_and_audited(tmp_path: Path) -> None:
    with dispatch_harness(tmp_path, zuora_overrides={"retry_max_delay": 0.05}) as harness:
        card = harness.card_for(ORDINARY_ACCOUNT)
        row = button(card, RESEND_EMAIL)
        harness.zuora.set_down(True)

        click = harness.click(row)

        progress, outcome = harness.posts(click.response_url)
        assert progress["text"].startswith("Resending")
        assert outcome["replace_original"] is True
        # Zuora hung up after the request was sent: it may have resent, so this is no failure.
        assert "waiting for Zuora's answer" in outcome["text"]
        assert "connection to Zuora broke" in all_text(outcome)
        assert "did not go through" not in all_text(outcome)
        (entry,) = harness.deps.store.list_resends()
        assert entry.status == "waiting" and "connection to Zuora broke" in (entry.error or "")


def test_app_resend_retries_zuora_429_with_retry_after(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    row = button(card, RESEND_EMAIL)
    path = "/notifications/email-histories/resend"
    harness.zuora.fail_next(path, status=429, headers={"Retry-After": "1"})

    click = harness.click(row)

    assert harness.posts(click.response_url)[-1]["text"].startswith("1 of 1 email resent")
    throttled, accepted = harness.zuora.requests(path)
    assert (throttled.status, accepted.status) == (429, 202)
    assert accepted.at - throttled.at >= 0.9, "waited for Retry-After"
    assert throttled.headers["idempotency-key"] == accepted.headers["idempotency-key"]
    assert len(harness.zuora.resend_calls()) == 1


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("not json at all", id="garbage"),
        pytest.param(
            '{"v":0,"k":"email","ids":["8a2b8260da5a55fdf13838a874f1d7fc"]}', id="old-version"
        ),
        pytest.param('{"v":1,"k":"email","ids":["../../v1/accounts"]}', id="forged-id"),
        pytest.param('{"v":1,"k":"email","ids":[]}', id="no-ids"),
    ],
)
def test_app_stale_or_forged_button_value_is_refused_politely(harness: Harness, value: str) -> None:
    click = harness.click({"action_id": RESEND_EMAIL, "value": value})

    assert click.status == 200
    (post,) = harness.posts(click.response_url)
    assert STALE in post["text"] and post["replace_original"] is False
    assert harness.zuora.requests() == []


def test_app_checkbox_ticks_are_acked_and_do_nothing(harness: Harness) -> None:
    card = harness.card_for()
    box = button(card, "zuora.select_emails")
    harness.zuora.reset_log()
    calls_before = len(harness.slack.calls())
    url = harness.slack.response_url("tick")
    body = checkbox_action_body(
        action_id=box["action_id"],
        block_id=box["block_id"],
        response_url=url,
        selected_options=[checkbox_option(o["value"]) for o in box["options"][:2]],
    )

    response = harness.dispatch(body)

    assert response.status == 200
    assert harness.zuora.requests() == []
    assert len(harness.slack.calls()) == calls_before
    assert harness.posts(url) == []


def test_app_resend_selected_resends_exactly_the_ticked_emails(harness: Harness) -> None:
    card = harness.card_for()
    state, chosen = ticked(card, 3)

    click = harness.click(button(card, "zuora.resend_selected"), state_values=state)

    assert harness.posts(click.response_url)[-1]["text"].startswith("3 of 3 emails resent")
    ((kind, ids),) = harness.resends()
    assert kind == "email" and sorted(ids) == sorted(chosen)


def tick_both(card: JsonDict, emails: int, callouts: int) -> tuple[JsonDict, list[str], list[str]]:
    """`state.values` ticking the first emails and callouts of a card, and the ids ticked."""
    state: JsonDict = {}
    chosen: dict[str, list[str]] = {}
    for action_id, count in (("zuora.select_emails", emails), ("zuora.select_callouts", callouts)):
        box = buttons(card, action_id)[0]
        options = box["options"][:count]
        state[box["block_id"]] = {action_id: {"type": "checkboxes", "selected_options": options}}
        chosen[action_id] = [o["value"].split(":", 1)[1] for o in options]
    return state, chosen["zuora.select_emails"], chosen["zuora.select_callouts"]


def test_app_resend_selected_with_both_kinds_shows_both_outcomes_on_one_card(
    harness: Harness,
) -> None:
    card = harness.card_for()
    state, emails, callouts = tick_both(card, emails=2, callouts=1)
    selected = button(card, "zuora.resend_selected")

    click = harness.click(selected, state_values=state)

    progress, outcome = harness.posts(click.response_url)
    assert progress["text"].startswith("Resending 2 emails and 1 callout for ")
    assert progress["replace_original"] is True and outcome["replace_original"] is True
    assert outcome["text"].startswith("2 of 2 emails and 1 of 1 callout resent for ")
    summary = outcome["blocks"][0]["text"]["text"]
    assert "• *Emails*: 2 sent · 0 refused · 0 already in progress" in summary
    assert "• *Callouts*: 1 sent · 0 refused · 0 already in progress" in summary
    assert sorted(harness.resends()) == [
        ("callout", tuple(callouts)),
        ("email", tuple(sorted(emails))),
    ]
    assert sorted(e.kind for e in harness.deps.store.list_resends()) == ["callout", "email"]
    assert button(outcome, "zuora.refresh"), "back to the card from the one outcome"

    again = harness.click(selected, state_values=state, response_url=click.response_url)

    assert ALREADY_HANDLED in harness.posts(again.response_url)[-1]["text"]
    assert len(harness.resends()) == 2, "each kind once per click"


def test_app_resend_selected_says_which_kind_an_earlier_click_already_resent(
    harness: Harness,
) -> None:
    card = harness.card_for()
    selected = button(card, "zuora.resend_selected")
    emails_only, emails, _ = tick_both(card, emails=2, callouts=0)
    both, _, callouts = tick_both(card, emails=2, callouts=1)
    first = harness.click(selected, state_values=emails_only)

    again = harness.click(selected, state_values=both, response_url=first.response_url)

    outcome = harness.posts(again.response_url)[-1]
    assert outcome["text"].startswith("1 of 1 callout resent for ")
    assert outcome["text"].endswith("; the emails were already handled")
    assert (
        "• *Emails*: already handled by an earlier click; not resent twice"
        in (outcome["blocks"][0]["text"]["text"])
    )
    assert sorted(harness.resends()) == [("callout", tuple(callouts)), ("email", tuple(emails))]


def test_app_buttons_of_older_cards_still_work(harness: Harness) -> None:
    """Cards posted before the compact row values carry JSON values; they keep working."""
    card = harness.card_for(ORDINARY_ACCOUNT)
    (history_id,) = ids_of(button(card, RESEND_EMAIL))
    old_card = CardRef.model_validate(
        {**value_of(button(card, "zuora.resend_all"))["card"], "p": 0}
    )
    old_resend = {
        "action_id": RESEND_EMAIL,
        "value": ResendRef(k="email", ids=[history_id], card=old_card, lb="old label").encode(),
    }
    shown_row = decode_row_action(menu_option(card, "Details")["selected_option"]["value"])
    assert shown_row.created is not None
    old_details = {
        "action_id": "zuora.callout_details",
        "value": CalloutRef(card=old_card, t=shown_row.created, ev=shown_row.event_id).encode(),
    }

    resent = harness.click(old_resend)
    details = harness.click(old_details)

    assert harness.posts(resent.response_url)[-1]["text"].startswith("1 of 1 email resent")
    assert harness.resends() == [("email", (history_id,))]
    assert "old label" in all_text(harness.posts(resent.response_url)[-1])
    (shown,) = harness.posts(details.response_url)
    assert shown["replace_original"] is False and shown["text"].startswith("Callout ")


def test_app_callout_row_menu_resends_once_and_shows_details(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    resend = menu_option(card, "Resend")
    (history_id,) = ids_of(resend)

    first = harness.click(resend)
    again = harness.click(resend, response_url=first.response_url)

    progress, outcome = harness.posts(first.response_url)[:2]
    assert progress["text"].startswith("Resending 1 callout")
    assert outcome["text"].startswith("1 of 1 callout resent for ")
    assert ALREADY_HANDLED in harness.posts(again.response_url)[-1]["text"]
    assert harness.resends() == [("callout", (history_id,))]
    (entry,) = harness.deps.store.list_resends()
    assert entry.account_key == ORDINARY_ACCOUNT

    details = harness.click(menu_option(card, "Details"))

    (shown,) = harness.posts(details.response_url)
    assert shown["replace_original"] is False and shown["text"].startswith("Callout ")
    assert len(harness.resends()) == 1


def test_app_full_page_offers_callout_details_from_one_menu(harness: Harness) -> None:
    card = harness.card_for()
    (menu,) = buttons(card, "zuora.row_menu")
    assert menu["type"] == "static_select" and len(menu["options"]) == 10
    pick = {"action_id": menu["action_id"], "block_id": menu["block_id"]}

    details = harness.click({**pick, "selected_option": menu["options"][3]})

    (shown,) = harness.posts(details.response_url)
    assert shown["text"].startswith("Callout ") and shown["replace_original"] is False
    assert harness.resends() == []


def test_app_open_in_zuora_pick_is_acked_and_changes_nothing(harness: Harness) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    menu = buttons(card, "zuora.row_menu")[0]
    link = {
        "action_id": menu["action_id"],
        "block_id": menu["block_id"],
        "selected_option": {
            "text": {"type": "plain_text", "text": "Open in Zuora"},
            "value": "z1.o",
        },
    }
    harness.zuora.reset_log()

    click = harness.click(link)

    assert click.status == 200
    assert harness.posts(click.response_url) == []
    assert harness.zuora.requests() == []


@pytest.mark.parametrize(
    ("control", "value", "block_id"),
    [
        pytest.param("button", "z1.r.e.../../v1/x", None, id="forged-id"),
        pytest.param("button", "z9.r.e.e1", None, id="unknown-version"),
        pytest.param("button", "z1.r.c.e1", None, id="callout-value-on-an-email-button"),
        pytest.param("confirm", "z1.r.e.e1", None, id="row-value-on-the-confirm-button"),
        pytest.param("button", None, "b", id="no-card-in-block-id"),
        pytest.param("button", None, "z1.e1.../../x.1.2.0.24h", id="forged-block-id"),
        pytest.param("menu", "z1.r.e.", None, id="menu-without-id"),
        pytest.param("menu", "z1.d.NOPE!", None, id="menu-bad-details"),
        pytest.param("menu", None, "emails_0_0_abc", id="menu-foreign-block-id"),
    ],
)
def test_app_stale_or_forged_row_value_is_refused_and_changes_nothing(
    harness: Harness, control: str, value: str | None, block_id: str | None
) -> None:
    card = harness.card_for(ORDINARY_ACCOUNT)
    if control in ("button", "confirm"):
        element = dict(button(card, RESEND_EMAIL))
        element["value"] = value or element["value"]
        if control == "confirm":
            element["action_id"] = RESEND_CONFIRM
    else:
        element = menu_option(card, "Resend")
        element["selected_option"] = {**element["selected_option"]}
        element["selected_option"]["value"] = value or element["selected_option"]["value"]
    element["block_id"] = block_id or element["block_id"]
    harness.zuora.reset_log()

    click = harness.click(element)

    assert click.status == 200
    (post,) = harness.posts(click.response_url)
    assert STALE in post["text"] and post["replace_original"] is False
    assert harness.zuora.requests() == []
    assert harness.deps.store.list_resends() == []


def test_app_resend_all_confirms_then_resends_every_email_of_the_window(
    harness: Harness,
) -> None:
    card = harness.card_for()
    resend_all = button(card, "zuora.resend_all")
    ref = value_of(resend_all)
    account = harness.tenant.account(BIG_ACCOUNT)
    assert account is not None
    expected = {
        email.id
        for email in harness.tenant.emails_for(account.id)
        if email.failed and ref["card"]["s"] <= email.send_time.timestamp() < ref["card"]["e"]
    }
    assert resend_all["style"] == "danger"
    assert resend_all["confirm"]["style"] == "danger"
    assert f"Resend all {ref['count']} failed emails for {harness.account_name()}" in all_text(
        {"blocks": [{"type": "section", "text": resend_all["confirm"]["text"]}]}
    )
    assert ref["count"] == len(expected)

    click = harness.click(resend_all)

    ((kind, ids),) = harness.resends()
    assert kind == "email" and set(ids) == expected and len(ids) == len(expected)
    outcome = harness.posts(click.response_url)[-1]
    name = harness.account_name()
    assert f"of {len(expected)} emails resent for {name} ({BIG_ACCOUNT})" in outcome["text"]


def test_app_resend_command_resends_only_on_the_confirm_button(harness: Harness) -> None:
    history_id = resendable_email(harness)
    confirm = confirm_card(harness, [history_id])
    assert history_id in all_text(confirm)

    cancel = harness.click(button(confirm, "zuora.resend_cancel"))
    assert "Nothing was resent" in harness.posts(cancel.response_url)[0]["text"]
    assert harness.resends() == []

    click = harness.click(button(confirm, RESEND_CONFIRM))

    assert harness.posts(click.response_url)[-1]["text"].startswith("1 of 1 email resent")
    assert harness.resends() == [("email", (history_id,))]


def test_app_audit_channel_gets_one_message_and_the_outcome_in_its_thread(
    tmp_path: Path,
) -> None:
    with dispatch_harness(tmp_path, audit_channel="C0AUDIT") as harness:
        bad, code, _ = failing_email(harness)
        good = resendable_email(harness)
        confirm = confirm_card(harness, [good, bad])

        harness.click(button(confirm, RESEND_CONFIRM), user_id="U0ALICE")

        announcement, reply = harness.slack.messages("C0AUDIT")
        assert "thread_ts" not in announcement
        assert "<@U0ALICE> asked Zuora to resend 2 emails" in announcement["text"]
        assert reply["thread_ts"] == announcement["ts"]
        assert "1 of 2 resent" in reply["text"] and bad in reply["text"] and code in reply["text"]
        (entry,) = harness.deps.store.list_resends()
        assert (entry.audit_channel, entry.audit_ts) == ("C0AUDIT", announcement["ts"])


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
