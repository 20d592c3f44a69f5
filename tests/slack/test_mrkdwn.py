"""Tests for bot.slack.mrkdwn: escaping, entity-safe truncation, links, date tokens, mentions, code."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.slack.mrkdwn import (
    ELLIPSIS,
    code,
    code_block,
    date_token,
    escape,
    escape_truncated,
    link,
    mention_or_text,
    redact_url,
    truncate,
    truncate_mrkdwn,
    user,
)

ENTITY_OR_TEXT = re.compile(r"&(?!amp;|lt;|gt;)")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<https://evil|x>", "&lt;https://evil|x&gt;"),
        ("Smith & Sons", "Smith &amp; Sons"),
        ("&amp;", "&amp;amp;"),
        ("*bold* _it_ ~s~ `c`", "*bold* _it_ ~s~ `c`"),
        ("<@U024BE7LH>", "&lt;@U024BE7LH&gt;"),
        ("", ""),
    ],
)
def test_escape_replaces_only_the_three_control_characters(raw, expected):
    assert escape(raw) == expected


def test_truncate_leaves_short_text_alone():
    assert truncate("hello", 5) == "hello"


def test_truncate_cuts_with_ellipsis_within_limit():
    result = truncate("abcdefghij", 5)
    assert result == "abcd" + ELLIPSIS
    assert len(result) == 5


@pytest.mark.parametrize("limit", range(1, 40))
def test_truncate_never_splits_an_entity(limit):
    text = escape("a&b<c>d&&<<>>" * 3)
    result = truncate(text, limit)
    assert len(result) <= limit
    body = result.removesuffix(ELLIPSIS)
    # every & left in the body starts a whole entity
    assert not ENTITY_OR_TEXT.search(body)
    assert "<" not in body and ">" not in body


def test_truncate_rejects_a_zero_limit():
    with pytest.raises(ValueError):
        truncate("abc", 0)


def test_escape_truncated_bounds_the_escaped_length():
    text = "<" * 5000
    result = escape_truncated(text, 100)
    assert len(result) <= 100
    assert result.endswith(ELLIPSIS)
    assert "<" not in result


def test_truncate_mrkdwn_drops_a_token_it_would_split():
    text = "Refreshed by " + "x" * 20 + " <!date^1714564800^{time}|2024-05-01 12:00 UTC>"
    result = truncate_mrkdwn(text, 50)
    assert len(result) <= 50
    assert "<" not in result


def test_truncate_mrkdwn_keeps_a_whole_token():
    text = "<@U123> " + "y" * 100
    assert truncate_mrkdwn(text, 20).startswith("<@U123>")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://user:pw@hooks.example.com:8443/a/b?token=s3cr3t#frag",
            "https://hooks.example.com:8443/a/b",
        ),
        ("HTTP://Hooks.Example.com/x?y=1", "http://hooks.example.com/x"),
        ("https://[::1]:9000/cb?k=v", "https://[::1]:9000/cb"),
        ("hooks.example.com/path?token=1", "hooks.example.com/path"),
        ("admin:pw@hooks.example.com/x#f", "hooks.example.com/x"),
        ("https://example.com:bad/x?q=1", "https://example.com:bad/x"),
        ("https://u:p@example.com:bad/x?q=1", "https://example.com:bad/x"),
    ],
)
def test_redact_url_drops_credentials_and_query(url, expected):
    assert redact_url(url) == expected


def test_link_escapes_the_label_and_keeps_the_url_inside_the_token():
    result = link("https://zuora.example.com/apps/A.do?method=view&id=1|x>y<z", "<!here> & co")
    assert result.startswith(
        "<https://zuora.example.com/apps/A.do?method=view&amp;id=1%7Cx%3Ey%3Cz|"
    )
    assert result.endswith("|&lt;!here&gt; &amp; co>")
    assert result.count("<") == 1 and result.count(">") == 1 and result.count("|") == 1


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "ftp://example.com/x", "/relative/path", "https://", "mailto:x@y.z"],
)
def test_link_rejects_what_is_not_an_absolute_http_url(url):
    with pytest.raises(ValueError):
        link(url, "x")


def test_date_token_has_epoch_format_and_utc_fallback():
    dt = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert date_token(dt) == "<!date^1714566600^{date_short_pretty} {time}|2024-05-01 12:30 UTC>"


def test_date_token_converts_other_zones_to_utc_for_the_fallback():
    dt = datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    assert date_token(dt, "{time}") == "<!date^1714566600^{time}|2024-05-01 12:30 UTC>"


def test_date_token_escapes_a_custom_fallback():
    dt = datetime(2024, 5, 1, tzinfo=UTC)
    token = date_token(dt, "{date}", fallback="May <1> | 2024")
    assert token == "<!date^1714521600^{date}|May &lt;1&gt; / 2024>"


def test_date_token_rejects_naive_datetimes_and_bad_formats():
    with pytest.raises(ValueError):
        date_token(datetime(2024, 5, 1))
    with pytest.raises(ValueError):
        date_token(datetime(2024, 5, 1, tzinfo=UTC), "{date}|evil")


@pytest.mark.parametrize("user_id", ["U024BE7LH", "W012A3CDE", "U0ALLOWED"])
def test_user_mentions_valid_ids(user_id):
    assert user(user_id) == f"<@{user_id}>"


@pytest.mark.parametrize("user_id", ["", "u123", "U1", "U123>|<!channel", "C024BE7LH", "<@U123>"])
def test_user_rejects_anything_else(user_id):
    with pytest.raises(ValueError):
        user(user_id)


def test_code_escapes_and_replaces_backticks_and_newlines():
    assert code("a`b\n<c>&") == "`aˋb &lt;c&gt;&amp;`"


def test_code_of_empty_text_is_readable():
    assert code("   ") == "(empty)"


def test_code_truncates_inside_the_backticks():
    result = code("x" * 500, 20)
    assert result.startswith("`") and result.endswith("`")
    assert len(result) == 22


def test_code_block_fences_escapes_and_fits():
    result = code_block("```<script>```\n" + "z" * 5000, 300)
    assert result.startswith("```\n") and result.endswith("\n```")
    assert len(result) <= 300
    assert "<" not in result
    assert result.count("```") == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<#C0BILLING|billing-ops>", "<#C0BILLING|billing-ops>"),
        (" <@U024BE7LH> ", "<@U024BE7LH>"),
        ("<!subteam^S0BILLING>", "<!subteam^S0BILLING>"),
        ("#billing-ops", "#billing-ops"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("ask <@U024BE7LH>", "ask &lt;@U024BE7LH&gt;"),
        ("<#C0BILLING|x> <!here>", "&lt;#C0BILLING|x&gt; &lt;!here&gt;"),
    ],
)
def test_mention_or_text_keeps_only_a_whole_mention(raw, expected):
    assert mention_or_text(raw) == expected
