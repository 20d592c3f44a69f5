"""End to end over real HTTP: a tenant whose history lists carry no `id`, resend IDs from Data Query.

Each test starts a SandboxStack (sandbox Zuora with its result-file server, fake Slack, the real bot
behind its WSGI server), sends Slack-signed requests to the bot and reads what the bot posted to the
fake Slack's response_urls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.stack import SandboxStack
from bot.sandbox.tenant import Tenant, build_tenant
from tests.support.signed_stack import click, command, elements, wait_posts
from tests.support.stack_fixtures import ids_of

JsonDict = dict[str, Any]
ACCOUNT = "A00000017"  # 3 failed callouts and 6 failed emails in 24h: one page, a Resend per row
RESEND_EMAIL = "zuora.resend_email"
ROW_MENU = "zuora.row_menu"
RESEND_ALL = "zuora.resend_all"
REFRESH = "zuora.refresh"
LOADING = "Resend IDs are still loading"


def tenant_without_ids() -> Tenant:
    return build_tenant(seed=7, now=datetime.now(UTC), rest_ids=False)


@pytest.fixture
def stack_for(tmp_path: Path) -> Iterator[Any]:
    stacks: list[SandboxStack] = []

    def start(**zuora_overrides: Any) -> SandboxStack:
        stack = SandboxStack(
            tmp_path / f"stack{len(stacks)}",
            tenant=tenant_without_ids(),
            zuora_overrides=zuora_overrides,
        )
        (tmp_path / f"stack{len(stacks)}").mkdir()
        stacks.append(stack)
        return stack.start()

    yield start
    for stack in stacks:
        stack.stop()


def text_of(message: JsonDict) -> str:
    return json.dumps(message, ensure_ascii=False)


def resend_ids(stack: SandboxStack, kind: str) -> list[tuple[str, ...]]:
    return [call.ids for call in stack.zuora.resend_calls(kind)]  # type: ignore[arg-type]


def truth(stack: SandboxStack) -> tuple[set[str], set[str]]:
    """The tenant's own ids of the account's emails and callouts (REST never shows them)."""
    tenant = stack.tenant
    assert tenant is not None
    account = tenant.account(ACCOUNT)
    assert account is not None
    return {e.id for e in tenant.emails_for(account.id)}, {
        c.id for c in tenant.callouts_for(account.id)
    }


def resend_picks(message: JsonDict) -> list[JsonDict]:
    """The "Resend" pick of every callout row menu, as a click on the menu."""
    return [
        {**menu, "selected_option": option}
        for menu in elements(message, ROW_MENU)
        for option in menu["options"]
        if option["text"]["text"] == "Resend"
    ]


def test_resend_from_a_card_on_a_tenant_without_rest_ids(stack_for: Any) -> None:
    stack = stack_for()
    stack.zuora.set_query_delay(0.3)
    email_truth, callout_truth = truth(stack)

    url = command(stack, f"failures {ACCOUNT}")
    card = wait_posts(stack, url, 1)[0]

    assert card["replace_original"] is False
    assert LOADING not in text_of(card)
    email_buttons = elements(card, RESEND_EMAIL)
    callout_buttons = resend_picks(card)
    assert email_buttons and callout_buttons
    assert all(set(ids_of(b)) <= email_truth for b in email_buttons)
    assert all(set(ids_of(b)) <= callout_truth for b in callout_buttons)
    assert stack.zuora.requests("/v1/notification-history/email")[0].query.get("accountId")
    assert stack.zuora.data_file_auth_headers_seen() == []

    email_click = click(stack, email_buttons[0])
    callout_click = click(stack, callout_buttons[0])
    email_outcome = wait_posts(stack, email_click, 2)[-1]
    callout_outcome = wait_posts(stack, callout_click, 2)[-1]

    assert resend_ids(stack, "email") == [tuple(ids_of(email_buttons[0]))]
    assert resend_ids(stack, "callout") == [tuple(ids_of(callout_buttons[0]))]
    assert "Resending" not in email_outcome["text"] and "Resending" not in callout_outcome["text"]

    jobs_before = len(stack.zuora.requests("/query/jobs"))
    resend_all = click(stack, elements(card, RESEND_ALL)[0])
    wait_posts(stack, resend_all, 2)

    all_ids = resend_ids(stack, "email")[-1]
    shown = {i for b in email_buttons for i in ids_of(b)}
    # Once per notification (issue 16): the email the row button just resent is left out.
    first = set(ids_of(email_buttons[0]))
    assert set(all_ids) >= shown - first and set(all_ids) <= email_truth
    assert not set(all_ids) & first
    assert len(stack.zuora.requests("/query/jobs")) == jobs_before, "resend-all reused the lookup"


def test_slow_ids_post_one_card_and_a_refresh_click_brings_the_buttons(stack_for: Any) -> None:
    stack = stack_for(id_wait=0.3)
    stack.zuora.set_query_delay(1.5)
    email_truth, _ = truth(stack)

    started = time.monotonic()
    url = command(stack, f"failures {ACCOUNT}")
    first = wait_posts(stack, url, 1)[0]
    first_at = time.monotonic() - started

    assert first_at < 1.5, "the card did not wait for the Data Query job"
    assert LOADING in text_of(first) and "press *Refresh*" in text_of(first)
    assert not elements(first, RESEND_EMAIL) and not resend_picks(first)
    assert not elements(first, RESEND_ALL)
    # Refresh is a click: its own response_url may replace the card, once now and once with IDs.
    refreshed = click(stack, elements(first, REFRESH)[0])
    posts = wait_posts(stack, refreshed, 2)
    assert all(post["replace_original"] is True for post in posts)
    (updated,) = stack.slack.shown(refreshed)
    assert LOADING not in text_of(updated)
    buttons = elements(updated, RESEND_EMAIL)
    assert buttons and resend_picks(updated) and elements(updated, RESEND_ALL)
    assert updated["text"] == first["text"], "same rows, now with resend controls"
    # The IDs arrived long ago: the command's response_url still carried the card once.
    assert len(stack.slack.responses(url)) == 1

    resent = click(stack, buttons[0])
    wait_posts(stack, resent, 2)
    assert resend_ids(stack, "email") == [tuple(ids_of(buttons[0]))]
    assert set(ids_of(buttons[0])) <= email_truth

    jobs = len(stack.zuora.requests("/query/jobs"))
    again = click(stack, elements(updated, REFRESH)[0])
    redrawn = wait_posts(stack, again, 1)[0]
    assert elements(redrawn, RESEND_EMAIL) and LOADING not in text_of(redrawn)
    assert len(stack.zuora.requests("/query/jobs")) == jobs, "refresh reused the lookup"


def test_failed_resolution_says_so_and_links_to_the_account_in_zuora(stack_for: Any) -> None:
    stack = stack_for()
    for _ in range(4):  # SHOW COLUMNS and the one-row fallback, for both tables
        stack.zuora.fail_next_query("Data Query is not enabled for this tenant")
    tenant = stack.tenant
    assert tenant is not None
    account = tenant.account(ACCOUNT)
    assert account is not None

    url = command(stack, f"failures {ACCOUNT} 2d")
    card = wait_posts(stack, url, 1)[0]
    time.sleep(0.3)  # no second post follows an error

    shown = text_of(card)
    assert "Couldn't load resend IDs" in shown
    assert "Data Query is not enabled for this tenant" in shown
    link = f"{stack.zuora.base_url}/apps/CustomerAccount.do?method=view&amp;id={account.id}|Zuora>"
    assert link in shown
    assert not elements(card, RESEND_EMAIL) and not elements(card, RESEND_ALL)
    assert len(stack.slack.responses(url)) == 1
