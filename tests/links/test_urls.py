"""Zuora account links and account keys in text: what is recognised, and what is left alone."""

from __future__ import annotations

import pytest

from bot.failures.cards import account_url
from bot.links.urls import (
    MAX_KEYS_IN_TEXT,
    AccountLink,
    account_keys_in_text,
    link_hosts,
    parse_account_link,
)
from bot.zuora.models import Account

UI = "https://www.zuora.com"
HEX = "2c92c0f87a3b4e21017a3c5d6e7f8091"
HOSTS = link_hosts(UI, ["apisandbox.zuora.com"])


def test_link_hosts_are_the_ui_host_and_the_extra_domains_lowercased() -> None:
    assert link_hosts("http://127.0.0.1:8123", [" Test.Zuora.com ", ""]) == {
        "127.0.0.1:8123",
        "test.zuora.com",
    }


def test_parse_account_link_reads_the_bots_own_account_page_link_by_id() -> None:
    url = account_url(UI, Account(id=HEX, number="A00000001", name="Acme"))

    assert parse_account_link(url, HOSTS) == AccountLink(url, HEX, "id")


def test_parse_account_link_reads_an_account_number_query() -> None:
    url = f"{UI}/apps/CustomerAccount.do?method=view&accountNumber=A00000017"

    assert parse_account_link(url, HOSTS) == AccountLink(url, "A00000017", "number")


def test_parse_account_link_reads_the_account_search_page() -> None:
    url = f"{UI}/platform/apps/search?searchTerm=A00000001&searchObjectType=account"

    assert parse_account_link(url, HOSTS) == AccountLink(url, "A00000001", "search")


def test_parse_account_link_accepts_an_extra_domain_and_slack_escaped_ampersands() -> None:
    url = f"https://apisandbox.zuora.com/apps/CustomerAccount.do?method=view&amp;id={HEX}"

    link = parse_account_link(url, HOSTS)

    assert link is not None and link.key == HEX and link.url == url


@pytest.mark.parametrize(
    "url",
    [
        f"https://evil.example/apps/CustomerAccount.do?method=view&id={HEX}",  # foreign host
        f"https://www.zuora.com.evil.example/apps/CustomerAccount.do?id={HEX}",  # look-alike
        f"https://apisandbox.zuora.com/apps/CustomerAccount.do?method=view&id={HEX}x/../x",
        f"{UI}/apps/CustomerAccount.do?method=edit&id={HEX}",  # not the view page
        f"{UI}/apps/Subscription.do?method=view&id={HEX}",  # another object
        f"{UI}/platform/apps/search?searchTerm=A00000001&searchObjectType=invoice",
        f"{UI}/platform/apps/search?searchTerm=two+words&searchObjectType=account",
        f"ftp://www.zuora.com/apps/CustomerAccount.do?method=view&id={HEX}",
        f"{UI}/apps/CustomerAccount.do?method=view&id={'a' * 2100}",  # longer than any link
    ],
)
def test_parse_account_link_ignores_everything_else(url: str) -> None:
    assert parse_account_link(url, HOSTS) is None


def test_parse_account_link_ignores_the_extra_domain_when_it_is_not_configured() -> None:
    url = f"https://apisandbox.zuora.com/apps/CustomerAccount.do?method=view&id={HEX}"

    assert parse_account_link(url, link_hosts(UI, [])) is None


def test_account_keys_in_text_finds_numbers_ids_and_links_once_each_in_order() -> None:
    text = (
        f"A00000017 is failing, see <{UI}/apps/CustomerAccount.do?method=view&amp;id={HEX}> "
        f"and A00000001 (again A00000017); not XA00000002 nor A000000031 nor {HEX}ff"
    )

    assert account_keys_in_text(text, HOSTS) == [HEX, "A00000017", "A00000001"]


def test_account_keys_in_text_finds_nothing_in_plain_chatter() -> None:
    assert account_keys_in_text("the billing run failed again <@U0001>", HOSTS) == []


def test_account_keys_in_text_stops_at_its_bound() -> None:
    text = " ".join(f"A{n:08d}" for n in range(MAX_KEYS_IN_TEXT + 10))

    assert len(account_keys_in_text(text, HOSTS)) == MAX_KEYS_IN_TEXT
