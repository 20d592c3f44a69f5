"""Tests for the compact row values and block ids: they round-trip within Slack's limits and refuse stale
or forged input."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.actions import (
    CardRef,
    InvalidValueError,
    RowAction,
    decode_row_action,
    decode_row_block_id,
    row_block_id,
)
from bot.failures.results import card_ref_for
from tests.support.cards import history_id, make_account, make_window

# --- compact row values -------------------------------------------------------------------------


UUID = "123e4567-e89b-12d3-a456-426614174000"


@pytest.mark.parametrize(
    "action",
    [
        RowAction(verb="resend", kind="email", history_id=history_id(1, "e"), label="a.b → c"),
        RowAction(verb="resend", kind="callout", history_id="Z" * 64, label="𝔘" * 200),
        RowAction(verb="resend", kind="email", history_id=UUID),
        RowAction(verb="details", created=1714564800, event_id="8a" * 32),
        RowAction(verb="details", created=0),
        RowAction(verb="open"),
    ],
)
def test_row_action_round_trips_within_150_characters(action):
    raw = action.encode()
    assert len(raw) <= 150 and raw.startswith("z1.")
    decoded = decode_row_action(raw)
    assert replace(decoded, label=None) == replace(action, label=None)
    if action.label:
        assert decoded.label and action.label.startswith(decoded.label)


def test_row_action_leaves_out_an_event_id_it_cannot_carry():
    long = RowAction(verb="details", created=5, event_id="e" * 65).encode()
    odd = RowAction(verb="details", created=5, event_id="a.b|c").encode()
    assert decode_row_action(long).event_id is None and decode_row_action(odd).event_id is None


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        '{"v":1,"k":"email","ids":["e1"]}',
        "z0.r.e.e1",  # an unknown version
        "z2.r.e.e1",
        "z1.x.e.e1",  # an unknown verb
        "z1.r.q.e1",  # an unknown kind
        "z1.r.e.../../v1/accounts",
        "z1.r.e.",
        "z1.d.NOPE",
        "z1.d.abc.<!channel>",
        "z1.o.extra",
        "z1.r.e." + "a" * 200,
    ],
)
def test_decode_row_action_refuses_stale_or_forged_values(raw):
    with pytest.raises(InvalidValueError):
        decode_row_action(raw)


@pytest.mark.parametrize(
    "card",
    [
        card_ref_for(make_account(), make_window()),
        CardRef(a="B" * 64, n="N" * 64, s=0, e=2**40, w="720h", p=1000),
        CardRef(a=UUID, n="A-1.2", s=1714478400, e=1714564800, w="7d.x", p=3),
    ],
)
def test_row_block_id_carries_the_card_within_255_characters(card):
    for kind, row in (("email", 1), ("callout", 99999)):
        block_id = row_block_id(card, kind, row)
        assert len(block_id) <= 255
        assert decode_row_block_id(block_id) == card.model_copy(update={"n": ""})
    assert row_block_id(card, "email", 1) != row_block_id(card, "callout", 1)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "b",
        "card_actions",
        "emails_0_0_abcdef12",
        "z1.e1.../x.1.2.0.24h",
        "z1.e1.2c92c0f87a3b4e21017a3c5d6e7f0000.NOPE!.2.0.24h",
        "z1.e1.2c92c0f87a3b4e21017a3c5d6e7f0000.1.2.1001.24h",  # page out of range
        "z1.e1.2c92c0f87a3b4e21017a3c5d6e7f0000.1.2.0.%FF",  # not UTF-8
        "z1.e1.2c92c0f87a3b4e21017a3c5d6e7f0000.1.2.0.123456789",  # label too long
        "z2.e1.2c92c0f87a3b4e21017a3c5d6e7f0000.1.2.0.24h",
    ],
)
def test_decode_row_block_id_refuses_stale_or_forged_ids(raw):
    with pytest.raises(InvalidValueError):
        decode_row_block_id(raw)
