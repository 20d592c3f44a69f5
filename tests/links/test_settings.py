"""Link settings: ZUORA_UNFURL_DOMAINS is a comma list of host names, shown in /zuora status."""

from __future__ import annotations

import pytest

from bot.links.settings import LinkSettings
from bot.settings import Settings, SettingsError, load_area, public_config
from bot.slack.settings import SlackSettings
from bot.zuora.settings import ZuoraSettings


def test_unfurl_domains_read_a_comma_list_lowercased(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZUORA_UNFURL_DOMAINS", " ApiSandbox.Zuora.com , test.zuora.com,, ")

    settings = LinkSettings(_env_file=None)

    assert settings.zuora_unfurl_domains == {"apisandbox.zuora.com", "test.zuora.com"}
    assert settings.zuora_unfurl_max_links == 3


@pytest.mark.parametrize("bad", ["https://x.zuora.com", "zuora", "a b.com"])
def test_unfurl_domains_refuse_what_is_not_a_host_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("ZUORA_UNFURL_DOMAINS", bad)

    with pytest.raises(SettingsError) as caught:
        load_area(LinkSettings, None)

    assert "ZUORA_UNFURL_DOMAINS" in str(caught.value.problems)


def test_unfurl_max_links_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZUORA_UNFURL_MAX_LINKS", "50")

    with pytest.raises(SettingsError) as caught:
        load_area(LinkSettings, None)

    assert "ZUORA_UNFURL_MAX_LINKS" in str(caught.value.problems)


def test_status_shows_where_links_unfurl_and_what_is_guessed() -> None:
    settings = Settings(
        slack=SlackSettings(_env_file=None, bot_token="xoxb-1-2-abc", signing_secret="0123abcd"),
        zuora=ZuoraSettings(_env_file=None, client_id="4c1a6a3e-5d2b", client_secret="s3cr3t-v"),
        links=LinkSettings(_env_file=None, zuora_unfurl_domains="test.zuora.com"),
    )

    shown = dict(public_config(settings))["ZUORA_UNFURL_DOMAINS"]

    assert shown.startswith("test.zuora.com") and "a guess" in shown
