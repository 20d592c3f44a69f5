"""`zuora-ops`: local validation is a usage error (exit 2), one window rule per command stated in its
help, ids for both kinds in the failures table, plurals, and plain text from `digest --dry-run`."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import (
    EXIT_OK,
    EXIT_USAGE,
    WINDOW_LIMITS,
    build_parser,
    cli_window,
    main,
    plural,
)
from bot.core.command_text import UsageError
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import build_tenant
from bot.slack.plain_text import mrkdwn_to_plain


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeZuora]:
    tenant = build_tenant(seed=7, now=datetime.now(UTC))
    with FakeZuora(tenant) as server:
        monkeypatch.setenv("ZUORA_BASE_URL", server.base_url)
        monkeypatch.setenv("ZUORA_CLIENT_ID", server.client_id)
        monkeypatch.setenv("ZUORA_CLIENT_SECRET", server.client_secret)
        monkeypatch.chdir("/")  # no .env file
        yield server


@pytest.mark.parametrize("bad", ["../etc", "a/b%2f", "abc"])
def test_cli_resend_bad_id_is_a_usage_error_about_history_ids(fake: FakeZuora, bad: str) -> None:
    code, out, err = run("resend", bad, "--yes")
    assert code == EXIT_USAGE
    assert "is not a notification history ID" in err
    assert "account number" not in err.lower()
    assert "Nothing was resent" in err
    assert out == ""


def test_cli_resend_bad_id_needs_no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    for name in ("ZUORA_CLIENT_ID", "ZUORA_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run("resend", "../etc", "--yes")
    assert code == EXIT_USAGE
    assert "is not a notification history ID" in err


def test_cli_failures_table_shows_ids_of_callouts_and_emails(fake: FakeZuora) -> None:
    code, out, err = run("failures", "A00000001", "--window", "7d")
    assert code == EXIT_OK, err
    callouts, emails = out.split("Failed emails")
    header = next(line for line in callouts.splitlines() if "time (UTC)" in line)
    assert header.split()[-1] == "id"
    rows = [line for line in callouts.splitlines() if re.match(r"\s+\d{4}-\d\d-\d\d ", line)]
    assert rows
    assert all(re.search(r"\s[0-9a-f]{32}$", row) for row in rows), rows[:3]
    assert re.search(r"\s[0-9a-f]{32}\n", emails)


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    choices: dict[str, object] = sub.choices  # type: ignore[assignment]
    return choices[command].format_help()  # type: ignore[attr-defined,no-any-return]


def _length(text: str) -> timedelta:
    amount, unit = int(text[:-1]), text[-1]
    return timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: amount})


@pytest.mark.parametrize("command", sorted(WINDOW_LIMITS))
def test_cli_window_help_states_the_limits_the_command_enforces(command: str) -> None:
    text = " ".join(_help(command).split())
    match = re.search(r"--window WINDOW (\d+[mhd]) … (\d+[mhd])", text)
    assert match, text
    low, high = match.group(1), match.group(2)
    assert (_length(low), _length(high)) == WINDOW_LIMITS[command]
    assert cli_window(command, low)[1] == low
    assert cli_window(command, high)[1] == high
    for outside in (_length(low) - timedelta(minutes=1), _length(high) + timedelta(minutes=1)):
        with pytest.raises(UsageError, match="out of range"):
            cli_window(command, f"{int(outside.total_seconds() // 60)}m")


def test_cli_windows_of_the_issue(fake: FakeZuora) -> None:
    # 30m is inside failures' stated 5m … 30d; replay refuses 30d like outages does.
    assert run("failures", "A00000001", "--window", "30m")[0] == EXIT_OK
    code, _, err = run("replay", "abcdefghij", "--window", "30d", "--yes")
    assert code == EXIT_USAGE
    assert "out of range for `replay`: use 5m … 7d" in err
    code, _, err = run("outages", "--window", "8d")
    assert (code, "out of range for `outages`: use 5m … 7d" in err) == (EXIT_USAGE, True)


def test_plural() -> None:
    assert plural(1, "failed email") == "1 failed email"
    assert plural(0, "failed email") == "0 failed emails"
    assert plural(1200, "callout") == "1,200 callouts"


def test_cli_failures_header_uses_plurals(fake: FakeZuora) -> None:
    code, out, _ = run("failures", "A00000001", "--window", "7d")
    assert code == EXIT_OK
    assert re.search(r"— last 7d: \d[\d,]* failed callouts?, \d[\d,]* failed emails?\n", out)
    assert not re.search(r"\b1 failed (callouts|emails)\b", out)


def test_mrkdwn_to_plain_keeps_a_link_label_literal() -> None:
    text = "*<http://z.example/a?m=v&amp;id=1|Smith &amp; Sons &lt;Holdings&gt; *Inc*>* · A00000005"
    assert mrkdwn_to_plain(text) == (
        "Smith & Sons <Holdings> *Inc* (http://z.example/a?m=v&id=1) · A00000005"
    )


def test_mrkdwn_to_plain_shows_what_slack_shows() -> None:
    text = (
        "*Daily digest* for <!date^1700000000^{date}|2023-11-14 22:13 UTC>: "
        "<https://z.example/a|Acme &amp; Co> `A00000001` _3 failed_ <#C1|ops> <@U1> "
        "snake_case_name 2*3*4 &lt;!channel&gt;"
    )
    assert mrkdwn_to_plain(text) == (
        "Daily digest for 2023-11-14 22:13 UTC: Acme & Co (https://z.example/a) A00000001 "
        "3 failed #ops <@U1> snake_case_name 2*3*4 <!channel>".replace("<@U1>", "@U1")
    )
