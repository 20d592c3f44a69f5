"""The message shortcut over real HTTP: a signed message_action on a user's message, answered to the
person who ran it through the shortcut's response_url."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.sandbox.fake_slack_links import message_action_body, user_message
from bot.sandbox.slack_requests import sign
from bot.sandbox.stack import SandboxStack
from handlers.shortcuts import FAILURES_FOR_MESSAGE
from tests.support.links import account_link, shortcut_on
from tests.support.signed_stack import click, elements, wait_posts
from tests.support.stack_fixtures import BIG_ACCOUNT, ORDINARY_ACCOUNT, all_text, fresh_tenant

PICK = "zuora.shortcut_pick"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    with SandboxStack(tmp_path, tenant=fresh_tenant()) as running:
        yield running


def test_shortcut_on_a_message_without_an_account_says_what_it_looks_for(
    stack: SandboxStack,
) -> None:
    url = shortcut_on(stack, "the invoice run is late again, can someone look?")

    (answer,) = wait_posts(stack, url, 1)

    assert "names no Zuora account" in all_text(answer)
    assert "A00000001" in all_text(answer), "an example of what it looks for"
    assert stack.zuora.requests("/v1/accounts/") == []


def test_shortcut_on_one_account_opens_its_failures_card(stack: SandboxStack) -> None:
    url = shortcut_on(stack, f"customer {ORDINARY_ACCOUNT} says they got no invoice email")

    (card,) = wait_posts(stack, url, 1)

    assert card.get("replace_original") is not True, "the user's message is not ours to replace"
    assert ORDINARY_ACCOUNT in all_text(card)
    assert elements(card, "zuora.refresh"), "the full failures card, with its own controls"


def test_shortcut_finds_the_account_behind_a_pasted_zuora_link(stack: SandboxStack) -> None:
    url = shortcut_on(stack, f"see {account_link(stack, BIG_ACCOUNT)}")

    (card,) = wait_posts(stack, url, 1)

    assert BIG_ACCOUNT in all_text(card)


def test_shortcut_on_several_accounts_asks_which_then_opens_the_chosen_one(
    stack: SandboxStack,
) -> None:
    url = shortcut_on(stack, f"{BIG_ACCOUNT} and {ORDINARY_ACCOUNT} both failed overnight")

    (choice,) = wait_posts(stack, url, 1)
    (menu,) = elements(choice, PICK)
    assert [o["value"] for o in menu["options"]] == [BIG_ACCOUNT, ORDINARY_ACCOUNT]
    assert stack.zuora.requests("/v1/accounts/") == [], "nothing is read before the choice"

    picked = {**menu, "selected_option": menu["options"][1]}
    pick_url = click(stack, picked)
    (card,) = wait_posts(stack, pick_url, 1)
    assert card.get("replace_original") is True, "the card replaces the question"
    assert ORDINARY_ACCOUNT in all_text(card) and elements(card, "zuora.refresh")


def test_shortcut_on_an_unknown_account_explains_without_a_traceback(stack: SandboxStack) -> None:
    url = shortcut_on(stack, "is A09999999 one of ours?")

    (answer,) = wait_posts(stack, url, 1)

    text = all_text(answer)
    assert "Zuora has no account `A09999999`" in text
    assert "Traceback" not in text


def test_shortcut_with_a_bad_signature_is_refused_by_the_gate(stack: SandboxStack) -> None:
    url = stack.slack.response_url("shortcut")
    shared = stack.slack.links.share(f"about {ORDINARY_ACCOUNT}", domains=())
    body = message_action_body(
        user_message(shared), callback_id=FAILURES_FOR_MESSAGE, response_url=url
    )

    reply = httpx.post(
        stack.bot_url, content=body, headers=sign("wrong", body, int(time.time())), timeout=3.0
    )

    assert reply.status_code == 401
    assert stack.slack.responses(url) == []
    assert stack.zuora.requests("/v1/accounts/") == []
