"""The input guard and track ids: bad keys, ids and track ids never reach Zuora."""

from __future__ import annotations

import pytest

from bot.zuora.client import ZuoraClient
from bot.zuora.errors import ZuoraInputError
from bot.zuora.guard import validate_account_key, validate_history_id
from bot.zuora.track import new_track_id, validate_track_id
from tests.support.zuora_fakes import TRACK, Router

BAD_KEYS = [
    "",
    "../x",
    "a/b",
    "a\\b",
    "%2f",
    "A%2Fb",
    "A 1",
    "\n",
    "A\t1",
    "a..b",
    ".",
    "x" * 65,
    "A'1",
    'A"1',
    "A\x00",
    "A;1",
    "A?x=1",
    "A#1",
    "é",
]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_validate_account_key_rejects(key: str) -> None:
    with pytest.raises(ZuoraInputError):
        validate_account_key(key)


@pytest.mark.parametrize(
    "key", ["A00000001", "8ad08c0f7b3e4a1b017b4f2a9c1e2d3f", "ACME-01_a.b", "x" * 64]
)
def test_validate_account_key_accepts_tenant_formats(key: str) -> None:
    assert validate_account_key(key) == key


@pytest.mark.parametrize(
    "history_id", ["", "../x", "a/b", "%2f", "A 1", "\n", "a-b", "a.b", "x" * 65]
)
def test_validate_history_id_rejects(history_id: str) -> None:
    with pytest.raises(ZuoraInputError):
        validate_history_id(history_id)


def test_validate_history_id_accepts_hex() -> None:
    assert (
        validate_history_id("8ad08c0f7b3e4a1b017b4f2a9c1e2d3f")
        == "8ad08c0f7b3e4a1b017b4f2a9c1e2d3f"
    )


def test_guard_message_names_bad_value_safely() -> None:
    with pytest.raises(ZuoraInputError) as caught:
        validate_account_key("A\n<script>" + "x" * 100)
    message = str(caught.value)
    assert "\\n" in message and "\n" not in message
    assert len(message) < 160


def test_guard_rejects_non_text() -> None:
    with pytest.raises(ZuoraInputError):
        validate_account_key(12345)  # type: ignore[arg-type]


@pytest.mark.parametrize("key", ["../x", "a/b", "%2f", "A 1", "\n", "x" * 65])
def test_get_account_bad_key_sends_no_request(
    key: str, client: ZuoraClient, router: Router
) -> None:
    with pytest.raises(ZuoraInputError):
        client.get_account(key, track_id=TRACK)
    assert router.requests == []


@pytest.mark.parametrize("history_id", ["../x", "a/b", "%2f", "A 1", "\n", "x" * 65])
def test_resend_bad_id_sends_no_request(
    history_id: str, client: ZuoraClient, router: Router
) -> None:
    with pytest.raises(ZuoraInputError):
        client.resend_emails(["abc123", history_id], idempotency_key="k", track_id=TRACK)
    assert router.requests == []


@pytest.mark.parametrize("track_id", ["slack:T1:U2", "a;b", 'a"b', "a'b", "a b", "", "x" * 65, "é"])
def test_validate_track_id_rejects(track_id: str, client: ZuoraClient, router: Router) -> None:
    with pytest.raises(ZuoraInputError):
        validate_track_id(track_id)
    with pytest.raises(ZuoraInputError):
        client.get_account("A00000001", track_id=track_id)
    assert router.requests == []


def test_new_track_id_is_valid_and_unique() -> None:
    first = new_track_id("zops", "T0001", "U0002")
    second = new_track_id("zops", "T0001", "U0002")
    assert first.startswith("zops-T0001-U0002-")
    assert first != second
    assert validate_track_id(first) == first


@pytest.mark.parametrize(
    "parts",
    [("slack:T1", "U;2"), ("a" * 200, "b" * 200, "c" * 200), ("", "   ", "\n"), ("é'\"",)],
)
def test_new_track_id_sanitises_hostile_parts(parts: tuple[str, ...]) -> None:
    track = new_track_id("zops", *parts)
    assert validate_track_id(track) == track
    assert len(track) <= 64


def test_new_track_id_empty_prefix_falls_back() -> None:
    assert new_track_id(":::").startswith("zops-")
