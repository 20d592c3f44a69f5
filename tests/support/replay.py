"""Helpers of the replay tests: the CLI run in a subprocess with its environment, a replay button, a fixed
window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.actions import ActionId, OutageRef
from bot.outages.causes import Cause
from bot.sandbox.fake_env import fakes_env
from bot.sandbox.replay_tenant import OUTAGE_CAUSE
from bot.zuora.models import TimeWindow
from tests.support.stack_fixtures import Harness


def window_now(hours: int = 25) -> TimeWindow:
    end = datetime.now(UTC).replace(microsecond=0)
    return TimeWindow(start=end - timedelta(hours=hours), end=end, label=f"{hours}h")


def replay_button(
    window: TimeWindow, *, cause: Cause = OUTAGE_CAUSE, count: int = 0
) -> dict[str, Any]:
    ref = OutageRef(
        c=cause.id,
        s=int(window.start.timestamp()),
        e=int(window.end.timestamp()),
        w=window.label,
        n=count,
    )
    return {
        "type": "button",
        "action_id": ActionId.OUTAGE_REPLAY.value,
        "block_id": "outage",
        "value": ref.encode(),
    }


# --- the CLI twin ------------------------------------------------------------------------------


def cli_env(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point `zuora-ops` at the harness's fakes and its database (the Slack button's records)."""
    stack = harness.stack
    settings = stack.settings()
    env = fakes_env(
        harness.slack,
        harness.zuora,
        bot_token=stack.bot_token,
        signing_secret=stack.signing_secret,
        timezone=harness.tenant.timezone,
    )
    env["DATABASE_URL"] = settings.store.database_url
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def run_cli(*argv: str) -> tuple[int, str, str]:
    import io

    from bot.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()
