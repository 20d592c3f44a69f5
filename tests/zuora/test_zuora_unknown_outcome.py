"""How the client classifies a resend that got no definite answer, over real HTTP to the fake Zuora:
a timeout, a connection dropped after the request was sent, or a 5xx is an unknown outcome (Zuora
may have resent); a refusal (4xx), or a connection that was never made, is not. The client's own
retries keep the same Idempotency-Key, and a refused retry after a try that may have reached Zuora
leaves the outcome unknown.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import Tenant
from bot.zuora.client import ZuoraClient, build_http_client
from bot.zuora.errors import (
    ZuoraConnectionError,
    ZuoraServerError,
    ZuoraStatusError,
    ZuoraTimeoutError,
    is_unknown_outcome,
)
from tests.support.zuora_fakes import settings_for

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
RESEND = "/notifications/email-histories/resend"


def an_email(tenant: Tenant) -> str:
    return next(e.id for e in tenant.emails if e.failed and e.id not in tenant.resend_failures)


def client_for(fake: FakeZuora, **overrides: object) -> ZuoraClient:
    return ZuoraClient.from_settings(settings_for(fake, **overrides))


def test_unknown_outcome_timeout_is_unknown(fake: FakeZuora, tenant: Tenant) -> None:
    fake.set_resend_delay(1.0)
    with client_for(fake, read_timeout=0.3, max_retries=0) as zuora:
        with pytest.raises(ZuoraTimeoutError) as caught:
            zuora.resend_emails([an_email(tenant)], idempotency_key="k-1", track_id="zops-t")
    assert is_unknown_outcome(caught.value)


@pytest.mark.parametrize("status", [None, 502], ids=["dropped", "502"])
def test_unknown_outcome_lost_answer_is_unknown(
    fake: FakeZuora, tenant: Tenant, status: int | None
) -> None:
    fake.lose_next_resend_answers(status=status)
    history_id = an_email(tenant)
    with client_for(fake, max_retries=0) as zuora:
        with pytest.raises((ZuoraConnectionError, ZuoraServerError)) as caught:
            zuora.resend_emails([history_id], idempotency_key="k-2", track_id="zops-t")
    assert is_unknown_outcome(caught.value)
    assert fake.resent(history_id) == 1, "Zuora did resend: that is why it is not a failure"


def test_unknown_outcome_client_retry_keeps_the_key_and_gets_the_stored_answer(
    fake: FakeZuora, tenant: Tenant
) -> None:
    fake.lose_next_resend_answers(status=None)
    history_id = an_email(tenant)
    with client_for(fake, max_retries=2) as zuora:
        result = zuora.resend_emails([history_id], idempotency_key="k-3", track_id="zops-t")
    assert result.succeeded == (history_id,)
    calls = fake.resend_calls("email")
    assert [c.replayed for c in calls] == [False, True]
    assert len({c.idempotency_key for c in calls}) == 1
    assert fake.resent(history_id) == 1


@pytest.mark.parametrize("status", [400, 404, 403])
def test_unknown_outcome_a_refusal_is_definite(
    fake: FakeZuora, tenant: Tenant, status: int
) -> None:
    fake.fail_next(RESEND, status=status)
    with client_for(fake, max_retries=2) as zuora:
        with pytest.raises(ZuoraStatusError) as caught:
            zuora.resend_emails([an_email(tenant)], idempotency_key="k-4", track_id="zops-t")
    assert not is_unknown_outcome(caught.value)


def test_unknown_outcome_a_refused_retry_after_a_5xx_stays_unknown(
    fake: FakeZuora, tenant: Tenant
) -> None:
    # The first try got a 502 after Zuora resent; the retry is refused for auth (403), which
    # says nothing about the first try.
    fake.lose_next_resend_answers(status=502)
    settings = settings_for(fake, max_retries=1)
    http = build_http_client(settings)

    def before_the_retry(_delay: float) -> None:
        fake.fail_next(RESEND, status=403)

    try:
        with ZuoraClient(http, settings, sleep=before_the_retry) as zuora:
            with pytest.raises(ZuoraStatusError) as caught:
                zuora.resend_emails([an_email(tenant)], idempotency_key="k-5", track_id="zops-t")
    finally:
        http.close()
    assert caught.value.status_code == 403
    assert is_unknown_outcome(caught.value)


def test_unknown_outcome_a_connection_never_made_is_definite(
    fake: FakeZuora, tenant: Tenant
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(fake, base_url=f"http://127.0.0.1:{port}", max_retries=0)
    with ZuoraClient.from_settings(settings) as zuora:
        with pytest.raises(ZuoraConnectionError) as caught:
            zuora.resend_emails([an_email(tenant)], idempotency_key="k-6", track_id="zops-t")
    assert not caught.value.request_sent
    assert not is_unknown_outcome(caught.value)


def test_unknown_outcome_reads_are_never_marked(fake: FakeZuora) -> None:
    fake.fail_next("/v1/accounts", status=503, times=3)
    with client_for(fake, max_retries=0) as zuora:
        with pytest.raises(ZuoraServerError) as caught:
            zuora.get_account("A00000001", track_id="zops-t")
    assert not is_unknown_outcome(caught.value), "a GET changes nothing at Zuora"
