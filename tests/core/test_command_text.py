"""Tests for bot.core.command_text: every subcommand, every usage error, and did-you-mean suggestions."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.command_text import (
    AuditCommand,
    DigestListCommand,
    DigestPreviewCommand,
    DigestSubscribeCommand,
    DigestUnsubscribeCommand,
    FailuresCommand,
    HelpCommand,
    ResendCommand,
    StatusCommand,
    UsageError,
    parse_zuora_command,
)

HEX1 = "2c92c0f87a3b4e21017a3c5d6e7f8091"
HEX2 = "2c92c0f87a3b4e21017a3c5d6e7f8092"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", HelpCommand()),
        ("   ", HelpCommand()),
        ("help", HelpCommand()),
        ("HELP", HelpCommand()),
        ("help failures", HelpCommand()),
        ("failures A00000001", FailuresCommand("A00000001", timedelta(hours=24), "24h")),
        ("  FAILURES   A00000001   7D ", FailuresCommand("A00000001", timedelta(days=7), "7d")),
        ("failures A00000001 1h", FailuresCommand("A00000001", timedelta(hours=1), "1h")),
        ("failures A00000001 720h", FailuresCommand("A00000001", timedelta(hours=720), "720h")),
        ("failures A00000001 30d", FailuresCommand("A00000001", timedelta(days=30), "30d")),
        ("failures A00000001 90m", FailuresCommand("A00000001", timedelta(minutes=90), "90m")),
        ("failures A00000001 5m", FailuresCommand("A00000001", timedelta(minutes=5), "5m")),
        ("failures 7d A00000001", FailuresCommand("A00000001", timedelta(days=7), "7d")),
        (f"failures {HEX1}", FailuresCommand(HEX1, timedelta(hours=24), "24h")),
        ("failures acme-corp_1.eu", FailuresCommand("acme-corp_1.eu", timedelta(hours=24), "24h")),
        (f"resend {HEX1}", ResendCommand("email", (HEX1,))),
        (f"resend {HEX1} {HEX2} {HEX1}", ResendCommand("email", (HEX1, HEX2))),
        (f"resend {HEX1},{HEX2}", ResendCommand("email", (HEX1, HEX2))),
        (f"resend email {HEX1}", ResendCommand("email", (HEX1,))),
        (f"Resend Callout {HEX1}", ResendCommand("callout", (HEX1,))),
        (f"resend callouts {HEX2}", ResendCommand("callout", (HEX2,))),
        ("status", StatusCommand()),
        ("Status", StatusCommand()),
        ("audit", AuditCommand(account=None, offset=0)),
        ("audit A00000001", AuditCommand(account="A00000001")),
        ("digest list", DigestListCommand()),
        ("DIGEST LIST", DigestListCommand()),
        ("digest preview", DigestPreviewCommand()),
        ("digest unsubscribe 3", DigestUnsubscribeCommand(3)),
        ("digest unsubscribe #12", DigestUnsubscribeCommand(12)),
        ("digest subscribe", DigestSubscribeCommand()),
        (
            "digest subscribe <#C0123ABCD|billing-ops> at 07:45 tz Europe/Paris "
            "account A00000001 A00000002,A00000003 kind emails quiet",
            DigestSubscribeCommand(
                channel_id="C0123ABCD",
                hour=7,
                minute=45,
                timezone="Europe/Paris",
                accounts=("A00000001", "A00000002", "A00000003"),
                kind="emails",
                quiet=True,
            ),
        ),
        (
            "digest subscribe quiet kind CALLOUT tz europe/paris at 9:05 <#G0123ABCD>",
            DigestSubscribeCommand(
                channel_id="G0123ABCD",
                hour=9,
                minute=5,
                timezone="Europe/Paris",
                kind="callouts",
                quiet=True,
            ),
        ),
        ("digest subscribe at 00:00 tz utc", DigestSubscribeCommand(hour=0, minute=0)),
        ("digest subscribe at 23:59", DigestSubscribeCommand(hour=23, minute=59)),
        (
            "digest subscribe account A1 A1 kind all",
            DigestSubscribeCommand(accounts=("A1",), kind="all"),
        ),
    ],
)
def test_parse_zuora_command_reads_every_subcommand(text, expected):
    assert parse_zuora_command(text) == expected


def test_parse_zuora_command_default_subscription_is_here_at_nine_utc():
    command = parse_zuora_command("digest subscribe")
    assert command == DigestSubscribeCommand(
        channel_id=None,
        hour=9,
        minute=0,
        timezone="UTC",
        accounts=(),
        kind="all",
        quiet=False,
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("failures", "Which account?"),
        ("failures A00000001 7d extra", "Too many words"),
        ("failures A00000001 31d", "maximum is 30 days"),
        ("failures A00000001 721h", "maximum is 30 days"),
        ("failures A00000001 43201m", "maximum is 30 days"),
        ("failures A00000001 4m", "minimum is 5 minutes"),
        ("failures A00000001 0h", "minimum is 5 minutes"),
        ("failures A00000001 7w", "is not a time window"),
        ("failures A00000001 -1d", "is not a time window"),
        ("failures A00000001 1.5h", "is not a time window"),
        ("failures A..1", "doesn't look like an account number or ID"),
        ("failures " + "A" * 65, "doesn't look like an account number or ID"),
        ("failures acct/../x", "doesn't look like an account number or ID"),
        ("resend", "Which history IDs?"),
        ("resend callout", "Which history IDs?"),
        ("resend " + "a" * 65, "is not a notification history ID"),
        ("resend sh_ort", "is not a notification history ID"),
        ("resend short", "is not a notification history ID"),
        (f"resend {HEX1} not-hex!", "is not a notification history ID"),
        ("resend " + " ".join(f"{i:032x}" for i in range(41)), "at most 40"),
        ("resend " + " ".join(f"{i:064x}" for i in range(40)), "at most 40"),
        ("status now", "takes nothing after it"),
        ("audit A1 A2", "Too many words"),
        ("audit <!channel>", "doesn't look like an account number or ID"),
        ("digest", "What should the digest do?"),
        ("digest list all", "takes nothing after it"),
        ("digest preview x", "takes nothing after it"),
        ("digest unsubscribe", "Which subscription?"),
        ("digest unsubscribe 1 2", "Which subscription?"),
        ("digest unsubscribe x", "is not a subscription id"),
        ("digest unsubscribe 0", "is not a subscription id"),
        ("digest subscribe #general", "Couldn't read the channel"),
        ("digest subscribe <#C0AAAAAAA|a> <#C0BBBBBBB|b>", "is given twice"),
        ("digest subscribe at 24:00", "is not a time of day"),
        ("digest subscribe at 9:60", "is not a time of day"),
        ("digest subscribe at noon", "is not a time of day"),
        ("digest subscribe at", "needs a value"),
        ("digest subscribe at tz UTC", "needs a value"),
        ("digest subscribe at 09:00 at 10:00", "is given twice"),
        ("digest subscribe tz Mars/Olympus", "is not a time zone"),
        ("digest subscribe tz ../../etc/passwd", "is not a time zone"),
        ("digest subscribe kind sms", "is not a kind"),
        ("digest subscribe account", "Which accounts?"),
        ("digest subscribe account quiet", "Which accounts?"),
        ("digest subscribe account A..B", "doesn't look like an account number or ID"),
        ("digest subscribe " + "account " + " ".join(f"A{i}" for i in range(21)), "at most 20"),
        ("digest subscribe loudly", "does not understand"),
    ],
)
def test_parse_zuora_command_explains_each_usage_error(text, needle):
    with pytest.raises(UsageError) as caught:
        parse_zuora_command(text)
    assert needle in caught.value.message
    assert str(caught.value) == caught.value.message


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [
        ("failure A00000001 7d", "failures A00000001 7d"),
        ("falures A00000001", "failures A00000001"),
        ("resnd abc", "resend abc"),
        ("stauts", "status"),
        ("audti", "audit"),
        ("digets list", "digest list"),
        ("hlep", "help"),
        ("A00000001", "failures A00000001"),
        ("digest lsit", "digest list"),
        ("digest unsubscibe 3", "digest unsubscribe 3"),
        ("digest subscribe qiet", "digest subscribe quiet"),
        ("digest subscribe at 09:00 knid emails", "digest subscribe at 09:00 kind emails"),
    ],
)
def test_parse_zuora_command_suggests_the_closest_command(text, suggestion):
    with pytest.raises(UsageError) as caught:
        parse_zuora_command(text)
    assert caught.value.did_you_mean == suggestion


@pytest.mark.parametrize("text", ["frobnicate", "xyzzy 1 2", "<!channel>"])
def test_parse_zuora_command_makes_no_wild_guesses(text):
    with pytest.raises(UsageError) as caught:
        parse_zuora_command(text)
    assert caught.value.did_you_mean is None
    assert "`failures`" in caught.value.message


def test_parse_zuora_command_suggests_the_nearest_time_zone():
    with pytest.raises(UsageError) as caught:
        parse_zuora_command("digest subscribe tz Europe/Pariss")
    assert "`Europe/Paris`" in caught.value.message


@pytest.mark.parametrize(
    ("text", "hostile", "shown"),
    [
        ("<!channel>", "<!channel>", "‹!channel›"),
        ("failures <!channel>", "<!channel>", "‹!channel›"),
        ("failures A00000001 <https://evil|x>", "<https://evil|x>", "‹https://evil|x›"),
        ("resend <@U123>abcdefgh", "<@U123>", "‹@U123›"),
        ("audit a&b", "a&b", "a＆b"),
        ("digest subscribe <#C0AAAAAAA|x> tz <!here>", "<!here>", "‹!here›"),
        ("digest unsubscribe <!everyone>", "<!everyone>", "‹!everyone›"),
        ("digest subscribe `boom`", "`boom`", "ˋboomˋ"),
    ],
)
def test_usage_errors_echo_input_without_control_characters(text, hostile, shown):
    with pytest.raises(UsageError) as caught:
        parse_zuora_command(text)
    message = caught.value.message
    assert hostile not in message
    assert shown in message
    # backticks stay balanced, so echoed input cannot break out of its code span
    assert message.count("`") % 2 == 0


def test_usage_error_echo_is_cut_short():
    with pytest.raises(UsageError) as caught:
        parse_zuora_command("failures " + "x" * 30 + "!" * 300)
    assert len(caught.value.message) < 250


def test_resend_accepts_exactly_forty_ids():
    ids = [f"{i:032x}" for i in range(40)]
    command = parse_zuora_command("resend " + " ".join(ids))
    assert isinstance(command, ResendCommand)
    assert command.ids == tuple(ids)


def test_digest_subscribe_without_a_time_uses_the_configured_default() -> None:
    parsed = parse_zuora_command("digest subscribe", default_time=(7, 15))
    assert isinstance(parsed, DigestSubscribeCommand)
    assert (parsed.hour, parsed.minute) == (7, 15)
    typed = parse_zuora_command("digest subscribe at 08:30", default_time=(7, 15))
    assert isinstance(typed, DigestSubscribeCommand)
    assert (typed.hour, typed.minute) == (8, 30)
