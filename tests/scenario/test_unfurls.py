"""Link unfurls over real HTTP: a signed link_shared reaches the bot through the signature gate, the
bot calls chat.unfurl on the fake Slack, and the unfurl's button opens the card for the clicker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from bot.sandbox.fake_slack_links import link_shared_body, sign_json
from bot.sandbox.stack import SandboxStack
from tests.support.links import account_link, share, ui_url, wait_unfurls
from tests.support.signed_stack import click, elements, wait_posts
from tests.support.stack_fixtures import (
    BIG_ACCOUNT,
    ORDINARY_ACCOUNT,
    all_text,
    dispatch_harness,
    fresh_tenant,
)

UNKNOWN = "A09999999"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    with SandboxStack(tmp_path, tenant=fresh_tenant()) as running:
        yield running


def account_requests(stack: SandboxStack) -> list[str]:
    """Paths of the account look-ups Zuora served (one per scanned account)."""
    return [r.path for r in stack.zuora.requests("/v1/accounts/")]


def test_unfurl_summarises_the_account_and_its_button_opens_the_card_for_the_clicker(
    stack: SandboxStack,
) -> None:
    url = account_link(stack, ORDINARY_ACCOUNT)
    shared = share(stack, f"what happened here? {url}")

    unfurl = wait_unfurls(stack, shared, 1)[url]

    text = all_text(unfurl)
    assert stack.tenant is not None
    account = stack.tenant.account(ORDINARY_ACCOUNT)
    assert account is not None
    assert ORDINARY_ACCOUNT in text
    assert "3 failed callouts and 6 failed emails in the last 24h" in text
    assert "Newest:" in text
    (button,) = elements(unfurl, "zuora.open_failures")
    card_url = click(stack, button)
    (card,) = wait_posts(stack, card_url, 1)
    assert card.get("replace_original") is not True, "the channel's unfurl stays as it is"
    assert card.get("response_type", "ephemeral") == "ephemeral", "the card is the clicker's"
    assert "callout" in all_text(card).lower() and ORDINARY_ACCOUNT in all_text(card)


def test_unfurl_of_an_unknown_account_is_one_clear_line(stack: SandboxStack) -> None:
    url = f"{ui_url(stack)}/apps/CustomerAccount.do?method=view&accountNumber={UNKNOWN}"
    shared = share(stack, url)

    unfurl = wait_unfurls(stack, shared, 1)[url]

    assert f"Zuora has no account `{UNKNOWN}`" in all_text(unfurl)
    assert not elements(unfurl, "zuora.open_failures")
    assert "Traceback" not in all_text(unfurl)


def test_unfurl_from_the_composer_uses_unfurl_id_and_source(stack: SandboxStack) -> None:
    url = account_link(stack, BIG_ACCOUNT)
    shared = share(stack, url, source="composer")

    wait_unfurls(stack, shared, 1)

    (call,) = stack.slack.calls("chat.unfurl")
    assert call.params["unfurl_id"] == shared.unfurl_id
    assert call.params["source"] == "composer"
    assert "channel" not in call.params and "ts" not in call.params


def test_unfurl_is_bounded_per_event_and_scans_each_account_once(stack: SandboxStack) -> None:
    by_id = account_link(stack, BIG_ACCOUNT)
    by_number = f"{ui_url(stack)}/apps/CustomerAccount.do?method=view&accountNumber={BIG_ACCOUNT}"
    search = (
        f"{ui_url(stack)}/platform/apps/search?searchTerm={BIG_ACCOUNT}&searchObjectType=account"
    )
    other = account_link(stack, ORDINARY_ACCOUNT)
    foreign = "https://example.com/apps/CustomerAccount.do?method=view&id=x"
    shared = share(stack, f"{by_number} {by_number}#again {search} {foreign} {other}")

    unfurls = wait_unfurls(stack, shared, 3)

    assert set(unfurls) == {by_number, f"{by_number}#again", search}, "the first 3 links only"
    assert account_requests(stack) == [f"/v1/accounts/{BIG_ACCOUNT}"], "one scan for 3 links"
    again = share(stack, by_id)
    wait_unfurls(stack, again, 1)
    assert len(account_requests(stack)) == 1, "the id's summary came from the short cache"


def test_unfurl_is_skipped_while_zuora_is_down(tmp_path: Path) -> None:
    # process_before_response: the listener has finished when dispatch returns.
    with dispatch_harness(tmp_path, zuora_overrides={"max_retries": 0}) as harness:
        harness.zuora.set_down(True)
        host = urlsplit(harness.deps.settings.zuora.ui_url).hostname or ""
        shared = harness.slack.links.share(
            account_link(harness.stack, BIG_ACCOUNT), domains=(host,)
        )

        reply = harness.dispatch(link_shared_body(shared))

        assert reply.status == 200
        assert harness.slack.calls("chat.unfurl") == [], "no stale 'Zuora is down' in the channel"
        assert harness.slack.links.unfurls(shared) == {}
        harness.zuora.set_down(False)
        harness.dispatch(link_shared_body(shared))  # Slack's retry once Zuora is back
        assert set(harness.slack.links.unfurls(shared)) == {shared.links[0]["url"]}


def test_link_shared_with_a_bad_signature_never_reaches_zuora(stack: SandboxStack) -> None:
    shared = stack.slack.links.share(account_link(stack, BIG_ACCOUNT), domains=("127.0.0.1",))
    body = link_shared_body(shared)
    headers = sign_json("not-the-secret", body, int(time.time()))

    reply = httpx.post(stack.bot_url, content=body, headers=headers, timeout=3.0)

    assert reply.status_code == 401
    assert stack.slack.calls("chat.unfurl") == []
    assert account_requests(stack) == []


def test_events_url_verification_passes_the_gate_and_is_answered(stack: SandboxStack) -> None:
    # Slack's one-time check of the Events Request URL (manifest event_subscriptions), signed.
    body = json.dumps(
        {"token": "fake-verification-token", "challenge": "3eZbrw1aB", "type": "url_verification"}
    ).encode()
    headers = sign_json(stack.signing_secret, body, int(time.time()))

    reply = httpx.post(stack.bot_url, content=body, headers=headers, timeout=3.0)

    assert reply.status_code == 200
    assert "3eZbrw1aB" in reply.text
