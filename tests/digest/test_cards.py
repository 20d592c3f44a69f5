"""Tests for the digest and subscription cards: snapshots, Slack limits at any tenant size, hostile text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.actions import ActionId, CardRef, ResendAllRef, decode_value
from bot.digest.cards import (
    RESEND_ALL_BUTTONS,
    build_all_clear,
    build_digest,
    build_digest_with_note,
    build_subscribed,
    build_subscription_list,
    build_subscription_refused,
    build_unsubscribed,
    resend_note,
)
from bot.digest.summary import DigestDelta, DigestSummary, compare, summarize
from bot.failures.results import ResendOutcome
from bot.slack.message import (
    MAX_BLOCKS,
    MAX_BLOCKS_JSON_CHARS,
    BlockLimitError,
    SlackMessage,
    blocks_size,
    check_limits,
)
from bot.slack.mrkdwn import channel_mention
from bot.store import Subscription
from bot.zuora.models import Account, CalloutHistory, EmailHistory, ResendResult, TimeWindow

NOW = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)
WINDOW = TimeWindow.ending_at(NOW, timedelta(hours=24), "24h")
UI_URL = "https://www.zuora.com"
LABEL = "Digest #3 · callouts and emails · all accounts"
HOSTILE = "<!channel> <@U024BE7LH> <https://evil.example|click> & <!here>"


def account_id(n: int) -> str:
    return f"2c92c0f8{n:024x}"


def callout(n: int, *, account: int | None, code: Any = 500, category: str = "1110", **ctx: Any):
    context: dict[str, Any] = dict(ctx)
    if account is not None:
        context.setdefault("<Account.ID>", account_id(account))
        context.setdefault("<Account.Number>", f"A{account:08d}")
        context.setdefault("<Account.Name>", f"Customer {account} Ltd")
    return CalloutHistory.model_validate(
        {
            "createTime": NOW - timedelta(minutes=n % 1000 + 1),
            "eventCategory": category,
            "eventContext": context,
            "responseCode": code,
        }
    )


def email(n: int, *, account: int | None, error: str = "550 5.1.1 User unknown", name: str = ""):
    return EmailHistory.model_validate(
        {
            "sendTime": NOW - timedelta(minutes=n % 1000 + 2),
            "accountId": account_id(account) if account is not None else None,
            "notification": name or "Invoice Posted Email",
            "errorMessage": error,
            "result": "Failed",
        }
    )


def busy_day() -> tuple[DigestSummary, DigestDelta]:
    callouts = [
        *(callout(n, account=1) for n in range(6)),
        *(callout(n, account=1, code=405, category="2110") for n in range(3)),
        *(callout(n, account=2, code="-1") for n in range(2)),
        callout(1, account=None, category="1410"),
    ]
    emails = [
        *(email(n, account=1) for n in range(4)),
        *(email(n, account=3, error="552 5.2.2 Mailbox full") for n in range(5)),
        email(9, account=3, error="Invalid email address: x@y", name="Payment Receipt"),
    ]
    today = summarize(callouts, emails, window=WINDOW)
    before_window = TimeWindow(
        start=WINDOW.start - timedelta(hours=24), end=WINDOW.start, label="24h"
    )
    yesterday = summarize(
        [
            callout(n, account=1).model_copy(
                update={"create_time": WINDOW.start - timedelta(hours=1)}
            )
            for n in range(3)
        ],
        [
            email(n, account=1).model_copy(update={"send_time": WINDOW.start - timedelta(hours=2)})
            for n in range(20)
        ],
        window=before_window,
    )
    return today, compare(today, yesterday)


def many_accounts(count: int, *, name: str | None = None) -> DigestSummary:
    def callouts() -> Iterator[CalloutHistory]:
        for a in range(count):
            for e, category in enumerate(("1110", "2110", "1210", "1220", "2120")[: 1 + a % 5]):
                extra = {"<Account.Name>": name} if name is not None else {}
                yield callout(a + e, account=a, code=500 + e, category=category, **extra)

    def emails() -> Iterator[EmailHistory]:
        for a in range(count):
            for e in range(a % 4):
                yield email(a + e, account=a, error=f"55{e} 5.1.{e} nope")

    return summarize(callouts(), emails(), window=WINDOW)


def subscription(**overrides: Any) -> Subscription:
    values: dict[str, Any] = {
        "id": 3,
        "team_id": "T1",
        "channel_id": "C0BILLING",
        "created_by": "U1",
        "created_at": NOW,
        "hour": 9,
        "minute": 0,
        "timezone": "Europe/Paris",
        "accounts": (),
        "kind": "all",
        "quiet": False,
    }
    return Subscription(**{**values, **overrides})


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def buttons(message: SlackMessage, action_id: ActionId) -> list[dict[str, Any]]:
    return [
        node
        for node in walk(message.blocks)
        if node.get("type") == "button" and node.get("action_id") == action_id.value
    ]


def mrkdwn_texts(message: SlackMessage) -> list[str]:
    return [node["text"] for node in walk(message.blocks) if node.get("type") == "mrkdwn"]


OUR_TOKENS = re.compile(
    r"<(?:!date\^\d+\^[^|<>]*\|[^<>]*|#[CGD][A-Z0-9]+|https?://[^|<>\s]+\|[^<>]*)>"
)


def assert_no_foreign_tokens(message: SlackMessage) -> None:
    for text in [message.text, *mrkdwn_texts(message)]:
        stripped = OUR_TOKENS.sub("", text)
        assert "<" not in stripped and ">" not in stripped, text
        for url in re.findall(r"<(https?://[^|<>]+)\|", text):
            assert url.startswith(UI_URL), url


# --- snapshots ---------------------------------------------------------------------------------


def test_build_digest_busy_day_snapshot(snapshot):
    today, delta = busy_day()
    message = build_digest(today, delta, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    assert message.as_payload() == snapshot


def test_build_digest_single_account_snapshot(snapshot):
    summary = summarize(
        [callout(n, account=7) for n in range(3)], [email(1, account=7)], window=WINDOW
    )
    message = build_digest(summary, None, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    assert message.as_payload() == snapshot


def test_build_digest_all_clear_snapshot(snapshot):
    summary = summarize([], [], window=WINDOW)
    message = build_digest(summary, None, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    assert message.as_payload() == snapshot
    assert message == build_all_clear(LABEL, WINDOW)
    assert len(message.blocks) == 1


def test_build_digest_200_accounts_top_n_and_more_snapshot(snapshot):
    summary = many_accounts(200)
    message = build_digest(summary, None, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    assert message.as_payload() == snapshot
    assert len(buttons(message, ActionId.OPEN_FAILURES)) == 8
    assert "…and 192 more accounts" in json.dumps(message.blocks, ensure_ascii=False)


def test_build_subscription_cards_snapshot(snapshot):
    subs = [
        subscription(),
        subscription(id=4, kind="emails", accounts=("A00000001", "A00000002"), quiet=True),
    ]
    assert build_subscription_list(subs).as_payload() == snapshot(name="list")
    assert build_subscription_list([]).as_payload() == snapshot(name="empty_list")
    assert build_subscribed(
        subs[1], first_post_at=NOW + timedelta(hours=22)
    ).as_payload() == snapshot(name="subscribed")
    assert build_unsubscribed(4).as_payload() == snapshot(name="unsubscribed")
    reason = "Digest #3 in this channel already covers emails for all accounts at 09:00 UTC; unsubscribe it first (`/zuora digest unsubscribe 3`) or subscribe a different kind or accounts."
    assert build_subscription_refused(reason).as_payload() == snapshot(name="refused")


# --- content -----------------------------------------------------------------------------------


def test_build_digest_shows_totals_and_change_against_the_day_before():
    today, delta = busy_day()
    assert (today.total_callouts, today.total_emails) == (12, 10)
    assert (delta.callouts_change, delta.emails_change) == (9, -10)
    message = build_digest(today, delta, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    totals = message.blocks[1]["text"]["text"]
    assert "*12 failed callouts* · ▲ 9 vs the day before" in totals
    assert "*10 failed emails* · ▼ 10 vs the day before" in totals
    assert message.blocks[0]["text"]["text"] == "Zuora failures · last 24h"
    assert message.text.startswith(
        "Zuora failures in the last 24h: 12 failed callouts and 10 failed emails"
    )


def test_build_digest_of_one_kind_shows_only_that_kind():
    today, _ = busy_day()
    from bot.digest.summary import restrict

    emails_only = restrict(today, kind="emails")
    message = build_digest(emails_only, None, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "failed callout" not in text and "Callout responses" not in text
    assert "10 failed emails" in text


def test_build_digest_buttons_carry_account_and_fixed_window():
    today, delta = busy_day()
    message = build_digest(today, delta, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    opens = [decode_value(b["value"], CardRef) for b in buttons(message, ActionId.OPEN_FAILURES)]
    assert [ref.a for ref in opens] == [account_id(1), account_id(3), account_id(2)]
    assert all((ref.start, ref.end) == (WINDOW.start, WINDOW.end) for ref in opens)
    assert opens[0].n == "A00000001"


def test_build_digest_resend_all_only_for_accounts_with_failed_emails():
    today, delta = busy_day()
    message = build_digest(today, delta, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    resend = buttons(message, ActionId.RESEND_ALL)
    refs = [decode_value(b["value"], ResendAllRef) for b in resend]
    # Account 2 has only callouts: no resend button for it.
    assert [(ref.card.a, ref.count) for ref in refs] == [(account_id(1), 4), (account_id(3), 6)]
    first = resend[0]
    assert first["text"]["text"] == "Resend 4 failed emails"
    assert resend[1]["text"]["text"] == "Resend 6 failed emails"
    assert first["style"] == "danger"
    assert first["confirm"]["style"] == "danger"
    assert "4 failed emails" in first["confirm"]["text"]["text"]
    assert "Customer 1 Ltd (A00000001)" in first["confirm"]["text"]["text"]


def test_build_digest_resend_all_only_for_the_top_accounts_with_emails():
    summary = many_accounts(40)  # account a has a % 4 failed emails
    message = build_digest(summary, None, subscription_label=LABEL, ui_url=UI_URL, top_n=15)
    opened = [decode_value(b["value"], CardRef).a for b in buttons(message, ActionId.OPEN_FAILURES)]
    with_emails = [a.account_id for a in summary.accounts if a.emails and a.account_id in opened]
    assert len(with_emails) > RESEND_ALL_BUTTONS  # the cap is what limits the buttons here
    resend = [decode_value(b["value"], ResendAllRef) for b in buttons(message, ActionId.RESEND_ALL)]
    assert [ref.card.a for ref in resend] == with_emails[:RESEND_ALL_BUTTONS]
    for button in buttons(message, ActionId.RESEND_ALL):
        assert re.fullmatch(r"Resend [1-3] failed emails?", button["text"]["text"])
        assert button["style"] == "danger" and button["confirm"]["style"] == "danger"


def test_build_digest_gives_event_names_room():
    """A busy day of eight accounts still shows 30-character event names whole."""
    names = ["New Subscription Created Email", "Invoice Due Reminder Email", "Payment Receipt"]
    errors = ["550 5.1.1 User unknown", "452 4.2.2 Mailbox full", "421 4.4.2 Timed out"]
    long_name = {"<Account.Name>": "Customer Holdings International"}
    summary = summarize(
        [
            callout(n, account=n % 20, code=(500, 503, "-1")[n % 3], category="1110", **long_name)
            for n in range(160)
        ],
        [email(n, account=n % 20, name=names[n % 3], error=errors[n % 3]) for n in range(160)],
        window=WINDOW,
    )
    message = build_digest(summary, None, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    text = "\n".join(mrkdwn_texts(message))
    assert "New Subscription Created Email ×" in text
    assert "Invoice Due Reminder Email ×" in text
    check_limits(message)


def test_build_digest_lists_events_codes_and_mail_error_classes():
    today, delta = busy_day()
    message = build_digest(today, delta, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    text = "\n".join(mrkdwn_texts(message))
    assert "Invoice Posted ×6" in text
    assert "Callout responses: HTTP 500 ×6 · HTTP 405 ×3" in text
    # Zuora's -1 means no HTTP answer came back (e.g. a read timeout), not an HTTP status.
    assert "Callout responses: no response (code -1) ×2" in text
    assert "HTTP -1" not in text
    assert "550 5.1.1 ×4" in text
    assert "552 5.2.2 ×5 · Invalid email address ×1" in text
    assert "*Tenant events with no account* · *1 callout*" in text
    assert "Bill Run Completion ×1" in text


def test_build_digest_escapes_hostile_account_names_and_events():
    summary = summarize(
        [
            callout(n, account=1, **{"<Account.Name>": HOSTILE}, category=HOSTILE, code=HOSTILE)
            for n in range(3)
        ],
        [email(n, account=1, error=HOSTILE, name=HOSTILE) for n in range(2)],
        window=WINDOW,
    )
    message = build_digest(summary, None, subscription_label=HOSTILE, ui_url=UI_URL, top_n=8)
    assert_no_foreign_tokens(message)
    assert "&lt;!channel&gt;" in json.dumps(message.blocks)
    check_limits(message)


@pytest.mark.parametrize("count", [1, 8, 15, 16, 200, 5000])
@pytest.mark.parametrize("top_n", [1, 8, 15])
def test_build_digest_fits_slack_limits_for_any_tenant(count, top_n):
    summary = many_accounts(count)
    message = build_digest(summary, None, subscription_label=LABEL, ui_url=UI_URL, top_n=top_n)
    check_limits(message)
    assert len(message.blocks) <= MAX_BLOCKS
    assert blocks_size(message.blocks) <= MAX_BLOCKS_JSON_CHARS
    for block in message.blocks:
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
    shown = len(buttons(message, ActionId.OPEN_FAILURES))
    assert 1 <= shown <= min(top_n, count)
    if shown < count:
        assert f"…and {count - shown} more account" in json.dumps(
            message.blocks, ensure_ascii=False
        )


def test_build_digest_fits_with_hostile_long_names_and_many_keys():
    long_name = (HOSTILE * 20)[:2000]

    def callouts() -> Iterator[CalloutHistory]:
        for a in range(40):
            for e in range(30):
                yield callout(
                    a,
                    account=a,
                    code=f"{HOSTILE}{e}",
                    category=f"{HOSTILE}{e}",
                    **{"<Account.Name>": long_name, "<Account.Number>": "N" * 64 + str(a)},
                )

    def emails() -> Iterator[EmailHistory]:
        for a in range(40):
            for e in range(30):
                yield email(a, account=a, error=f"{HOSTILE} {e}", name=f"{HOSTILE}{e}")

    summary = summarize(callouts(), emails(), window=WINDOW)
    tenant_heavy = summarize(
        [callout(e, account=None, category=f"{HOSTILE}{e}", code=e) for e in range(50)],
        [],
        window=WINDOW,
    )
    for data in (summary, tenant_heavy):
        message = build_digest(
            data, compare(data, data), subscription_label=long_name, ui_url=UI_URL, top_n=15
        )
        check_limits(message)
        assert_no_foreign_tokens(message)


def test_build_digest_account_known_only_by_number_opens_by_number_without_resend():
    summary = summarize(
        [callout(n, account=None, **{"<Account.Number>": "A00000042"}) for n in range(2)],
        [],
        window=WINDOW,
    )
    message = build_digest(summary, None, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    (open_button,) = buttons(message, ActionId.OPEN_FAILURES)
    assert decode_value(open_button["value"], CardRef).a == "A00000042"
    assert buttons(message, ActionId.RESEND_ALL) == []
    # No id: no link into Zuora's UI, just the number.
    assert "*A00000042*" in mrkdwn_texts(message)[2]


def test_build_digest_unlookupable_account_key_gets_no_buttons():
    summary = summarize(
        [callout(1, account=None, **{"<Account.Number>": "A-1 <x>"})], [], window=WINDOW
    )
    message = build_digest(summary, None, subscription_label=LABEL, ui_url=UI_URL, top_n=8)
    assert buttons(message, ActionId.OPEN_FAILURES) == []
    assert_no_foreign_tokens(message)


def test_build_all_clear_is_one_short_line():
    message = build_all_clear(LABEL, WINDOW)
    assert len(message.blocks) == 1
    assert message.text == "No failed Zuora notifications in the last 24h."
    assert len(json.dumps(message.blocks)) < 400


# --- subscription replies ----------------------------------------------------------------------


def test_build_subscription_list_of_many_fits_and_says_how_many_more():
    subs = [subscription(id=n, accounts=tuple(f"A{k:08d}" for k in range(20))) for n in range(300)]
    message = build_subscription_list(subs)
    check_limits(message)
    text = json.dumps(message.blocks, ensure_ascii=False)
    assert "300 digest subscriptions" in text
    assert "more. Remove one with" in text


def test_build_subscription_cards_escape_user_text():
    hostile = subscription(accounts=(HOSTILE,), channel_id="<!channel>")
    for message in (
        build_subscription_list([hostile]),
        build_subscribed(hostile),
        build_subscription_refused(HOSTILE),
    ):
        check_limits(message)
        assert_no_foreign_tokens(message)


def test_channel_mention_only_for_channel_ids():
    assert channel_mention("C0BILLING") == "<#C0BILLING>"
    assert channel_mention("<!here>") == "&lt;!here&gt;"


# --- the note a Resend all adds to the digest ---------------------------------------------------


def _resend_outcome(*, error: str | None = None) -> ResendOutcome:
    ids = ("e1", "e2", "e3")
    result = (
        None if error else ResendResult(kind="email", requested=ids, succeeded=ids[:2], failed={})
    )
    return ResendOutcome(
        kind="email",
        requested_by="U0ALICE",
        at=NOW,
        ids=ids,
        account=Account(id=account_id(1), number="A00000001", name=HOSTILE),
        result=result,
        error=error,
    )


def test_resend_note_names_who_and_what_with_the_account_escaped():
    note = resend_note(_resend_outcome())
    assert note.startswith(":repeat: <@U0ALICE> resent 2 of 3 failed emails of ")
    assert "&lt;!channel&gt;" in note and "<!channel>" not in note
    failed = resend_note(_resend_outcome(error="Zuora is down"))
    assert "tried to resend 3 failed emails" in failed and "did not go through" in failed


def test_build_digest_with_note_inserts_one_context_under_the_clicked_button():
    summary = summarize([], [email(n, account=n % 3) for n in range(30)], window=WINDOW)
    digest = build_digest(summary, None, subscription_label=LABEL, ui_url=UI_URL, top_n=5)
    clicked = buttons(digest, ActionId.RESEND_ALL)[-1]

    noted = build_digest_with_note(
        digest.text, digest.blocks, resend_value=clicked["value"], note="resent by <@U1>"
    )

    holder = next(i for i, b in enumerate(digest.blocks) if clicked in b.get("elements", []))
    assert noted.text == digest.text
    assert noted.blocks[: holder + 1] == digest.blocks[: holder + 1]
    assert noted.blocks[holder + 1]["type"] == "context"
    assert noted.blocks[holder + 2 :] == digest.blocks[holder + 1 :]
    elsewhere = build_digest_with_note(digest.text, digest.blocks, resend_value="?", note="x")
    assert elsewhere.blocks[:-1] == digest.blocks and elsewhere.blocks[-1]["type"] == "context"


def test_build_digest_with_note_refuses_to_break_the_block_limit():
    full = [{"type": "divider"}] * MAX_BLOCKS
    with pytest.raises(BlockLimitError):
        build_digest_with_note("digest", full, resend_value="v", note="resent")
