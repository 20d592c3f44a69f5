"""The `/zuora failures` listener called directly: it acks before asking Zuora.

The listener gets a `Mock(spec=Ack)` whose side effect records what Zuora and the store had seen at
the moment of the ack, and the real Deps wired to the sandbox Zuora and the fake Slack.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.command_text import FailuresCommand
from bot.sandbox.slack_requests import slash_command_body
from handlers.commands import run_command
from tests.support.listeners import parsed, recording_ack
from tests.support.stack_fixtures import BIG_ACCOUNT, Harness, dispatch_harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path, allowed_users="U0001,S0BILLING") as started:
        yield started


def test_listeners_failures_command_acks_before_asking_zuora(harness: Harness) -> None:
    seen: list[tuple[int, int]] = []
    ack = recording_ack(harness, seen)
    url = harness.slack.response_url("cmd", kind="command")
    command = parsed(slash_command_body(text=f"failures {BIG_ACCOUNT}", response_url=url))

    run_command(
        harness.deps,
        FailuresCommand(account=BIG_ACCOUNT, window=timedelta(hours=24), label="24h"),
        command,
        ack,
    )

    ack.assert_called_once()
    assert ack.call_args.kwargs["text"].startswith(f"Asked Zuora for the failures of {BIG_ACCOUNT}")
    assert seen == [(0, 0)], "nothing reached Zuora before the ack"
    assert harness.zuora.requests(f"/v1/accounts/{BIG_ACCOUNT}")
    (card,) = harness.posts(url)
    assert card["replace_original"] is False, "a command's response_url cannot replace the ack"
