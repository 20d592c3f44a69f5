"""The resend buttons, checkboxes and row menus of a failures card through Bolt's dispatch: signed clicks
in; Zuora resends, Slack posts and audit rows out.

Every test runs the production App (`create_app`) against the sandbox Zuora and the fake Slack over
loopback HTTP. `process_before_response=True` makes dispatch return only after the listener finished,
so the effects are there to check.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.core.actions import CalloutRef, CardRef, ResendRef, decode_row_action
from bot.sandbox.slack_requests import checkbox_action_body, checkbox_option
from tests.support.scenario import (
    ALREADY_HANDLED,
    DENIED,
    RESEND_CONFIRM,
    RESEND_EMAIL,
    STALE,
    confirm_card,
    failing_email,
    resendable_email,
)
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
    ticked,
    value_of,
)

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
