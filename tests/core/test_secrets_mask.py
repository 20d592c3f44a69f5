"""URL masking (bot.core.secrets_mask): the issue's examples, parameter names kept, bounded input, and the
places that show callout URLs (cards, outage causes, the CLI) using it."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.cli import EXIT_OK, main
from bot.core.secrets_mask import (
    MAX_URL_CHARS,
    looks_like_token,
    mask_database_url,
    mask_url,
    mask_urls_in_text,
)
from bot.failures.callout_card import build_callout_details
from bot.outages.causes import endpoint_of
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import build_tenant
from bot.slack.mrkdwn import redact_url
from bot.zuora.models import Account, CalloutHistory

WHSEC = "whsec_8f2a61c94be03d7751aa09e2"
SESSION = "A1B2C3D4E5F60718293A4B5C6D7E8F90"
SLACK_SECRET = "abcdefghijklMNOPqrstuvwx"  # 24 random letters, no digit
SECRET_URL = f"https://ops:hunter2@hooks.acme.example/hook/;jsessionid={SESSION}?token={WHSEC}"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        pytest.param(
            f"https://hooks.acme.example/zuora/invoice?token={WHSEC}",
            "https://hooks.acme.example/zuora/invoice?token=***",
            id="query-token-whsec",
        ),
        pytest.param(
            f"https://hooks.acme.example/hook/;jsessionid={SESSION}",
            "https://hooks.acme.example/hook/;jsessionid=***",
            id="matrix-jsessionid",
        ),
        pytest.param(
            f"https://hooks.acme.example/hook;jsessionid={SESSION}/events",
            "https://hooks.acme.example/hook;jsessionid=***/events",
            id="matrix-on-a-segment",
        ),
        pytest.param("//u:pw@h/x", "//***@h/x", id="scheme-relative-userinfo"),
        pytest.param(
            "https://u:pw@h.example:8443/x", "https://***@h.example:8443/x", id="userinfo"
        ),
        pytest.param("u:pw@h.example/x", "***@h.example/x", id="userinfo-without-scheme"),
        pytest.param(
            f"https://hooks.slack.com/services/T0123ABCD/B0123ABCD/{SLACK_SECRET}",
            "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/***",
            id="path-token-letters-only",
        ),
        pytest.param(
            "https://webhook.site/4c1a6a3e-5d2b-4c5e-9f1a-2b3c4d5e6f70",
            "https://webhook.site/***",
            id="path-token-uuid",
        ),
        pytest.param(
            f"https://api.example/hooks/{WHSEC}/events",
            "https://api.example/hooks/***/events",
            id="path-token-whsec",
        ),
        pytest.param(
            "https://api.example/v1/token=abc123/events",
            "https://api.example/v1/token=***/events",
            id="path-token-equals",
        ),
        pytest.param(
            "https://api.example/cb?page=2&sig=x1y2&wsdl#access_token=eyJhbGci",
            "https://api.example/cb?page=***&sig=***&wsdl#access_token=***",
            id="every-value-names-kept",
        ),
        pytest.param(
            "https://api.example/cb?s3cr3t", "https://api.example/cb?***", id="bare-secret"
        ),
        pytest.param(
            "https://api.example/callbacks/invoice-posted/v2",
            "https://api.example/callbacks/invoice-posted/v2",
            id="words-unchanged",
        ),
        pytest.param("https://[::1]:9000/cb?k=v", "https://[::1]:9000/cb?k=***", id="ipv6"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_url_masks_each_kind_of_secret(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_mask_url_the_issue_example_shows_no_secret_at_all() -> None:
    shown = mask_url(SECRET_URL)
    assert shown == "https://***@hooks.acme.example/hook/;jsessionid=***?token=***"
    for secret in ("hunter2", "ops:", SESSION, WHSEC, "whsec_"):
        assert secret not in shown


def test_looks_like_token_tells_words_from_secrets() -> None:
    for word in ("invoice-posted", "v2", "T0123ABCD", "callbacks", "123456", "InvoicePosted"):
        assert not looks_like_token(word), word
    for token in (WHSEC, SESSION, SLACK_SECRET, "8a8082c45e1b3c2d015e1b3c2d015e1b", "x" * 32):
        assert looks_like_token(token), token


def test_mask_url_bounds_its_input_and_never_shows_half_a_secret() -> None:
    url = "https://h.example/" + "a/" * 1000 + "tok" + "Q" * 100_000
    started = time.perf_counter()
    shown = mask_url(url)
    assert time.perf_counter() - started < 0.5
    assert len(shown) <= MAX_URL_CHARS + 1 and shown.endswith("…")
    assert "Q" not in shown and "tok" not in shown  # the cut piece is dropped, not shown in part


def test_mask_urls_in_text_is_bounded_and_linear_on_hostile_text() -> None:
    hostile = ("https://" + "a" * 50 + "@" + "x" * 50 + " ") * 20_000
    started = time.perf_counter()
    shown = mask_urls_in_text(hostile)
    assert time.perf_counter() - started < 1.0
    assert len(shown) <= 20_000 and "a" * 50 + "@" not in shown


def test_mask_urls_in_text_masks_urls_inside_an_error_message() -> None:
    text = f"POST {SECRET_URL} failed: 401"
    assert mask_urls_in_text(text) == (
        "POST https://***@hooks.acme.example/hook/;jsessionid=***?token=*** failed: 401"
    )


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (
            "postgresql+psycopg://app:hunter2@db:5432/zops?password=hunter2&sslmode=require",
            "postgresql+psycopg://app:***@db:5432/zops?password=***&sslmode=require",
        ),
        (
            "postgresql+psycopg://app@db/zops?sslpassword=hunter2&connect_timeout=5",
            "postgresql+psycopg://app@db/zops?sslpassword=***&connect_timeout=5",
        ),
        ("sqlite:////var/lib/zops/zuora-ops.db", "sqlite:////var/lib/zops/zuora-ops.db"),
    ],
)
def test_mask_database_url_hides_the_password_wherever_it_is(url: str, masked: str) -> None:
    assert mask_database_url(url) == masked


def test_endpoint_of_masks_session_and_token_segments_and_folds_them_into_one_cause() -> None:
    one = endpoint_of(f"https://hooks.acme.example/hook;jsessionid={SESSION}/events?token={WHSEC}")
    other = endpoint_of("https://hooks.acme.example/hook;jsessionid=OTHERSESSION99/events")
    assert one == other == "hooks.acme.example/hook;jsessionid=***/events"
    assert endpoint_of(f"https://hooks.slack.com/services/T01/B01/{SLACK_SECRET}") == (
        "hooks.slack.com/services/T01/B01/*"
    )


def test_redact_url_masks_path_tokens_too() -> None:
    assert redact_url(f"https://u:p@h.example/hook/{WHSEC}/x;jsessionid={SESSION}?a=1") == (
        "https://h.example/hook/***/x;jsessionid=***"
    )


def _callout(url: str) -> CalloutHistory:
    return CalloutHistory.model_validate(
        {
            "createTime": datetime(2026, 1, 5, 10, 0, tzinfo=UTC),
            "eventCategory": "Invoice Posted",
            "requestUrl": url,
            "responseCode": "401",
            "responseContent": "denied",
            "attemptedNum": 3,
        }
    )


def test_callout_details_card_shows_the_url_masked() -> None:
    account = Account(id="a" * 32, number="A1", name="Acme")
    dumped = json.dumps(build_callout_details(_callout(SECRET_URL), account=account).as_payload())
    for secret in ("hunter2", SESSION, WHSEC):
        assert secret not in dumped
    assert "hooks.acme.example/hook/;jsessionid=***?token=***" in dumped


# --- the CLI ----------------------------------------------------------------------------------


@pytest.fixture
def secret_tenant_zuora(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeZuora, str]]:
    """The sandbox Zuora whose first account's callouts all go to SECRET_URL-style webhooks."""
    tenant = build_tenant(seed=7, now=datetime.now(UTC))
    number = "A00000017"
    hits = [c for c in tenant.callouts if c.account is not None and c.account.number == number]
    assert hits
    for callout in hits:
        callout.request_url = SECRET_URL
    with FakeZuora(tenant) as server:
        monkeypatch.setenv("ZUORA_BASE_URL", server.base_url)
        monkeypatch.setenv("ZUORA_CLIENT_ID", server.client_id)
        monkeypatch.setenv("ZUORA_CLIENT_SECRET", server.client_secret)
        monkeypatch.chdir("/")  # no .env file
        yield server, number


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_cli_failures_never_prints_a_webhook_secret(
    secret_tenant_zuora: tuple[FakeZuora, str], as_json: bool
) -> None:
    _server, number = secret_tenant_zuora
    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["failures", number, "--window", "7d", *(["--json"] if as_json else [])], out=out, err=err
    )
    printed = out.getvalue() + err.getvalue()
    assert code == EXIT_OK, printed
    shown = "https://***@hooks.acme.example/hook/;jsessionid=***?token=***"
    if as_json:
        assert {c["url"] for c in json.loads(out.getvalue())["callouts"]} == {shown}
    else:
        assert shown[:30] in printed  # the table cuts long cells
    for secret in ("whsec_", "hunter2", SESSION):
        assert secret not in printed
