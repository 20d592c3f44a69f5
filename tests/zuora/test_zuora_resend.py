"""Resend: bare JSON array, chunks of 1,000, one stable Idempotency-Key each, 202/202-map/400."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from bot.zuora.client import ZuoraClient
from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraInputError,
    ZuoraServerError,
    ZuoraStatusError,
    is_unknown_outcome,
)
from tests.support.zuora_fakes import TRACK, Router, Sleeps

EMAIL_RESEND = "/notifications/email-histories/resend"
CALLOUT_RESEND = "/notifications/callout-histories/resend"


def ids(n: int, prefix: str = "id") -> list[str]:
    return [f"{prefix}{i:05d}" for i in range(n)]


def accept_all(router: Router, path: str = EMAIL_RESEND) -> None:
    router.route("POST", path)(lambda r: httpx.Response(202))


def test_resend_request_shape(client: ZuoraClient, router: Router) -> None:
    accept_all(router)
    result = client.resend_emails(["abc", "def"], idempotency_key="click-1", track_id=TRACK)
    (request,) = router.api_requests()
    assert (
        str(request.url) == "https://rest.test.zuora.example/notifications/email-histories/resend"
    )
    assert json.loads(request.content) == ["abc", "def"]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Zuora-Track-Id"] == TRACK
    assert 0 < len(request.headers["Idempotency-Key"]) <= 255
    assert result.kind == "email"
    assert result.requested == ("abc", "def")
    assert result.succeeded == ("abc", "def")
    assert result.failed == {}
    assert result.all_succeeded


def test_resend_callouts_uses_callout_path(client: ZuoraClient, router: Router) -> None:
    accept_all(router, CALLOUT_RESEND)
    result = client.resend_callouts(["abc"], idempotency_key="k", track_id=TRACK)
    assert router.api_requests()[0].url.path == CALLOUT_RESEND
    assert result.kind == "callout"


def test_resend_202_empty_body_is_not_parsed(client: ZuoraClient, router: Router) -> None:
    router.route("POST", EMAIL_RESEND)(
        lambda r: httpx.Response(202, content=b"", headers={"Content-Type": "application/json"})
    )
    assert client.resend_emails(["abc"], idempotency_key="k", track_id=TRACK).all_succeeded


def test_resend_202_partial_map(client: ZuoraClient, router: Router) -> None:
    router.route("POST", EMAIL_RESEND)(
        lambda r: httpx.Response(
            202,
            json={"def": {"code": "ObjectNotFound", "message": "Email history does not exist."}},
        )
    )
    result = client.resend_emails(["abc", "def", "ghi"], idempotency_key="k", track_id=TRACK)
    assert result.succeeded == ("abc", "ghi")
    assert list(result.failed) == ["def"]
    assert result.failed["def"].code == "ObjectNotFound"
    assert result.failed["def"].message == "Email history does not exist."


def test_resend_400_map_is_all_failed_result(client: ZuoraClient, router: Router) -> None:
    router.route("POST", EMAIL_RESEND)(
        lambda r: httpx.Response(
            400,
            json={
                "abc": {"code": "ObjectNotFound", "message": "Email history does not exist."},
                "def": {"code": "ObjectNotFound", "message": "Email history does not exist."},
            },
        )
    )
    result = client.resend_emails(["abc", "def"], idempotency_key="k", track_id=TRACK)
    assert result.succeeded == ()
    assert set(result.failed) == {"abc", "def"}
    assert result.all_failed


def test_resend_400_that_is_not_a_map_raises(client: ZuoraClient, router: Router) -> None:
    router.route("POST", EMAIL_RESEND)(
        lambda r: httpx.Response(
            400, json={"success": False, "reasons": [{"code": 1, "message": "bad"}]}
        )
    )
    with pytest.raises(ZuoraStatusError):
        client.resend_emails(["abc"], idempotency_key="k", track_id=TRACK)


def test_resend_403_names_resend_permission(client: ZuoraClient, router: Router) -> None:
    router.route("POST", EMAIL_RESEND)(
        lambda r: httpx.Response(403, json={"code": 50000010, "message": "Forbidden"})
    )
    with pytest.raises(ZuoraAuthError, match="Events & Notifications Resend Access"):
        client.resend_emails(["abc"], idempotency_key="k", track_id=TRACK)


def test_resend_dedupes_preserving_order(client: ZuoraClient, router: Router) -> None:
    accept_all(router)
    result = client.resend_emails(["b", "a", "b", "c", "a"], idempotency_key="k", track_id=TRACK)
    assert json.loads(router.api_requests()[0].content) == ["b", "a", "c"]
    assert result.requested == ("b", "a", "c")


def test_resend_1000_ids_is_one_request(client: ZuoraClient, router: Router) -> None:
    accept_all(router)
    client.resend_emails(ids(1000), idempotency_key="k", track_id=TRACK)
    (request,) = router.api_requests()
    assert len(json.loads(request.content)) == 1000


def test_resend_1001_ids_is_two_requests_with_distinct_stable_keys(
    client: ZuoraClient, router: Router
) -> None:
    accept_all(router)
    first = client.resend_emails(ids(1001), idempotency_key="click-9", track_id=TRACK)
    again = client.resend_emails(ids(1001), idempotency_key="click-9", track_id=TRACK)
    requests = router.api_requests()
    assert [len(json.loads(r.content)) for r in requests] == [1000, 1, 1000, 1]
    keys = [r.headers["Idempotency-Key"] for r in requests]
    assert keys[0] != keys[1]
    assert keys[:2] == keys[2:]  # stable across calls
    assert first.succeeded == again.succeeded == tuple(ids(1001))


def test_resend_keys_differ_by_caller_key_and_kind(client: ZuoraClient, router: Router) -> None:
    accept_all(router)
    accept_all(router, CALLOUT_RESEND)
    client.resend_emails(["abc"], idempotency_key="k1", track_id=TRACK)
    client.resend_emails(["abc"], idempotency_key="k2", track_id=TRACK)
    client.resend_callouts(["abc"], idempotency_key="k1", track_id=TRACK)
    keys = {r.headers["Idempotency-Key"] for r in router.api_requests()}
    assert len(keys) == 3


def test_resend_merges_chunk_results(client: ZuoraClient, router: Router) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        sent = json.loads(request.content)
        if len(sent) == 1:
            return httpx.Response(400, json={sent[0]: {"code": "ObjectNotFound", "message": "x"}})
        return httpx.Response(202, json={sent[5]: {"code": "ObjectNotFound", "message": "y"}})

    router.route("POST", EMAIL_RESEND)(answer)
    all_ids = ids(1001)
    result = client.resend_emails(all_ids, idempotency_key="k", track_id=TRACK)
    assert set(result.failed) == {all_ids[5], all_ids[1000]}
    assert len(result.succeeded) == 999
    assert result.requested == tuple(all_ids)


def test_resend_retried_on_503_with_same_key(
    client: ZuoraClient, router: Router, sleeps: Sleeps
) -> None:
    answers = iter([httpx.Response(503), httpx.Response(409), httpx.Response(202)])
    router.route("POST", EMAIL_RESEND)(lambda r: next(answers))
    result = client.resend_emails(["abc"], idempotency_key="k", track_id=TRACK)
    assert result.all_succeeded
    requests = router.api_requests()
    assert len(requests) == 3
    assert len({r.headers["Idempotency-Key"] for r in requests}) == 1
    assert len(sleeps.calls) == 2


def test_resend_409_exhausted_is_done_or_in_progress_not_a_failure(
    client: ZuoraClient, router: Router
) -> None:
    router.route("POST", EMAIL_RESEND)(lambda r: httpx.Response(409, json={"message": "busy"}))
    result = client.resend_emails(["abc"], idempotency_key="k", track_id=TRACK)
    assert result.in_progress == ("abc",)
    assert result.failed == {} and result.succeeded == ()
    assert not result.all_failed and not result.all_succeeded
    keys = {r.headers["idempotency-key"] for r in router.api_requests()}
    assert len(router.api_requests()) == 3 and len(keys) == 1, "retried with the same key"


def test_resend_empty_ids_sends_nothing(client: ZuoraClient, router: Router) -> None:
    result = client.resend_emails([], idempotency_key="k", track_id=TRACK)
    assert result.requested == () and router.requests == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.resend_emails("abc", idempotency_key="k", track_id=TRACK),
        lambda c: c.resend_emails(["abc"], idempotency_key="", track_id=TRACK),
        lambda c: c.resend_emails(["abc"], idempotency_key="k", track_id="a:b"),
    ],
)
def test_resend_rejects_bad_arguments(
    client: ZuoraClient, router: Router, call: Callable[[ZuoraClient], object]
) -> None:
    with pytest.raises(ZuoraInputError):
        call(client)
    assert router.requests == []


def test_resend_later_chunk_refusal_keeps_earlier_results(
    make_client: Callable[..., ZuoraClient], router: Router
) -> None:
    client = make_client(max_retries=0)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202 if len(json.loads(request.content)) == 1000 else 403)

    router.route("POST", EMAIL_RESEND)(answer)
    all_ids = ids(1001)
    result = client.resend_emails(all_ids, idempotency_key="k", track_id=TRACK)
    assert result.succeeded == tuple(all_ids[:1000])
    assert result.failed[all_ids[1000]].code == "ZuoraAuthError"


def test_resend_later_chunk_unknown_outcome_ends_the_request(
    make_client: Callable[..., ZuoraClient], router: Router
) -> None:
    # A 5xx on chunk 2 may mean Zuora resent it: never a per-id failure. The whole request is an
    # unknown outcome, asked again with the same key (Zuora replays chunk 1's stored answer).
    client = make_client(max_retries=0)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(202 if len(json.loads(request.content)) == 1000 else 500)

    router.route("POST", EMAIL_RESEND)(answer)
    with pytest.raises(ZuoraServerError) as caught:
        client.resend_emails(ids(1001), idempotency_key="k", track_id=TRACK)
    assert is_unknown_outcome(caught.value)
