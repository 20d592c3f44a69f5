"""OAuth: the token is fetched once, reused until near expiry, refreshed once on a 401."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from bot.zuora.auth import ZuoraOAuth
from bot.zuora.client import ZuoraClient
from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraConnectionError,
    ZuoraRateLimitError,
    ZuoraResponseValidationError,
)
from tests.support.zuora_fakes import (
    ACCOUNT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    TRACK,
    ManualTimer,
    Router,
    Sleeps,
    zuora_settings,
)

ACCOUNT_BODY = {
    "basicInfo": {
        "id": ACCOUNT_ID,
        "accountNumber": "A00000001",
        "name": "Acme",
        "status": "Active",
    },
    "success": True,
}


def account_route(router: Router) -> list[str]:
    """Serve the account; remember each call's Authorization header."""
    seen: list[str] = []

    @router.route("GET", "/v1/accounts/A00000001")
    def _(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization", ""))
        return httpx.Response(200, json=ACCOUNT_BODY)

    return seen


def test_token_request_shape(client: ZuoraClient, router: Router) -> None:
    account_route(router)
    client.get_account("A00000001", track_id=TRACK)
    (token_request,) = router.token_requests()
    assert token_request.method == "POST"
    assert str(token_request.url) == "https://rest.test.zuora.example/oauth/token"
    form = parse_qs(token_request.content.decode())
    assert form == {
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "grant_type": ["client_credentials"],
    }
    assert "Authorization" not in token_request.headers
    assert token_request.headers["Zuora-Track-Id"] == TRACK


def test_token_reused_across_calls(client: ZuoraClient, router: Router) -> None:
    seen = account_route(router)
    for _ in range(5):
        client.get_account("A00000001", track_id=TRACK)
    assert len(router.token_requests()) == 1
    assert seen == ["Bearer token-1"] * 5


def test_token_refreshed_five_minutes_before_expiry(
    client: ZuoraClient, router: Router, timer: ManualTimer
) -> None:
    seen = account_route(router)
    client.get_account("A00000001", track_id=TRACK)
    timer.advance(3599 - 301)
    client.get_account("A00000001", track_id=TRACK)
    assert len(router.token_requests()) == 1
    timer.advance(2)  # now inside the 5-minute margin
    client.get_account("A00000001", track_id=TRACK)
    assert len(router.token_requests()) == 2
    assert seen == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


def test_short_lived_token_refreshed_at_ten_percent(
    client: ZuoraClient, router: Router, timer: ManualTimer
) -> None:
    router.token_responses.append(
        httpx.Response(200, json={"access_token": "short", "expires_in": 100})
    )
    seen = account_route(router)
    client.get_account("A00000001", track_id=TRACK)
    timer.advance(89)
    client.get_account("A00000001", track_id=TRACK)
    timer.advance(2)
    client.get_account("A00000001", track_id=TRACK)
    assert seen == ["Bearer short", "Bearer short", "Bearer token-1"]


def test_401_refreshes_once_and_replays(client: ZuoraClient, router: Router) -> None:
    seen: list[str] = []

    @router.route("GET", "/v1/accounts/A00000001")
    def _(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer token-1":
            return httpx.Response(401, json={"message": "Authentication error"})
        return httpx.Response(200, json=ACCOUNT_BODY)

    account = client.get_account("A00000001", track_id=TRACK)
    assert account.id == ACCOUNT_ID
    assert seen == ["Bearer token-1", "Bearer token-2"]
    assert len(router.token_requests()) == 2


def test_second_401_raises_auth_error(client: ZuoraClient, router: Router) -> None:
    @router.route("GET", "/v1/accounts/A00000001")
    def _(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "Authentication error"})

    with pytest.raises(ZuoraAuthError) as caught:
        client.get_account("A00000001", track_id=TRACK)
    assert caught.value.status_code == 401
    assert caught.value.track_id == TRACK
    assert len(router.api_requests()) == 2  # the call and one replay, no retries
    assert len(router.token_requests()) == 2


def test_401_on_post_replays_same_body(client: ZuoraClient, router: Router) -> None:
    bodies: list[bytes] = []

    @router.route("POST", "/notifications/email-histories/resend")
    def _(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if request.headers["Authorization"] == "Bearer token-1":
            return httpx.Response(401, json={"message": "Authentication error"})
        return httpx.Response(202)

    result = client.resend_emails(["abc1"], idempotency_key="k", track_id=TRACK)
    assert result.succeeded == ("abc1",)
    assert bodies == [b'["abc1"]', b'["abc1"]']


def test_concurrent_first_calls_fetch_one_token(
    make_client: Callable[..., ZuoraClient], router: Router
) -> None:
    router.token_delay = 0.05
    account_route(router)
    client = make_client(max_concurrency=20)
    barrier = threading.Barrier(20)
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            client.get_account("A00000001", track_id=TRACK)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == []
    assert len(router.token_requests()) == 1
    assert len(router.api_requests()) == 20


def test_rejected_credentials_raise_auth_error_naming_settings(
    client: ZuoraClient, router: Router
) -> None:
    account_route(router)
    router.token_responses.append(httpx.Response(401, json={"message": "Authentication error"}))
    with pytest.raises(ZuoraAuthError) as caught:
        client.get_account("A00000001", track_id=TRACK)
    assert "ZUORA_CLIENT_ID / ZUORA_CLIENT_SECRET" in str(caught.value)
    assert router.api_requests() == []


def test_token_endpoint_400_is_auth_error(client: ZuoraClient, router: Router) -> None:
    router.token_responses.append(httpx.Response(400, json={"error": "invalid_client"}))
    with pytest.raises(ZuoraAuthError):
        client.check_credentials(TRACK)


def test_token_endpoint_429_is_retried(client: ZuoraClient, router: Router, sleeps: Sleeps) -> None:
    account_route(router)
    router.token_responses.append(httpx.Response(429, headers={"Retry-After": "2"}))
    assert client.get_account("A00000001", track_id=TRACK).id == ACCOUNT_ID
    assert sleeps.calls == [2.0]


def test_token_endpoint_429_exhausts_to_rate_limit_error(
    make_client: Callable[..., ZuoraClient], router: Router
) -> None:
    client = make_client(max_retries=0)
    router.token_responses.append(httpx.Response(429))
    with pytest.raises(ZuoraRateLimitError):
        client.check_credentials(TRACK)


def test_token_response_without_token_is_validation_error(
    client: ZuoraClient, router: Router
) -> None:
    router.token_responses.append(httpx.Response(200, json={"expires_in": 3599}))
    with pytest.raises(ZuoraResponseValidationError):
        client.check_credentials(TRACK)


def test_token_endpoint_unreachable_is_connection_error(
    make_client: Callable[..., ZuoraClient],
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = make_client(handler=down, max_retries=0)
    with pytest.raises(ZuoraConnectionError) as caught:
        client.check_credentials(TRACK)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_check_credentials_fetches_once_and_reports_status(
    client: ZuoraClient, router: Router, timer: ManualTimer
) -> None:
    assert client.token_status().has_token is False
    assert client.token_status().expires_in is None
    status = client.check_credentials(TRACK)
    assert status.has_token is True
    assert status.expires_in == pytest.approx(3599)
    timer.advance(100)
    again = client.check_credentials(TRACK)
    assert again.expires_in == pytest.approx(3499)
    assert len(router.token_requests()) == 1


def test_secrets_never_logged_or_in_repr(
    client: ZuoraClient, router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    account_route(router)
    router.token_responses.append(
        httpx.Response(200, json={"access_token": "tok-SECRET-VALUE", "expires_in": 3599})
    )
    client.get_account("A00000001", track_id=TRACK)
    text = caplog.text + repr(client._auth)
    assert "tok-SECRET-VALUE" not in text
    assert CLIENT_SECRET not in text
    assert "zops-test-0001" in caplog.text


def test_oauth_from_settings_uses_base_url() -> None:
    auth = ZuoraOAuth.from_settings(zuora_settings(base_url="https://rest.apisandbox.zuora.com/"))
    assert "https://rest.apisandbox.zuora.com/oauth/token" in repr(auth)
