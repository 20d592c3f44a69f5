"""Helpers of the replay tests: the CLI run in a subprocess with its environment, a replay button, a fixed
window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.actions import ActionId, OutageRef
from bot.outages.causes import Cause
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
    env = {
        "SLACK_BOT_TOKEN": stack.bot_token,
        "SLACK_SIGNING_SECRET": stack.signing_secret,
        "SLACK_API_URL": harness.slack.base_url,
        "SLACK_RESPONSE_URL_HOSTS": harness.slack.root_url,
        "ZUORA_RESULT_FILE_HOSTS": harness.zuora.files_base_url,
        "ZUORA_BASE_URL": harness.zuora.base_url,
        "ZUORA_UI_URL": harness.zuora.base_url,
        "ZUORA_CLIENT_ID": harness.zuora.client_id,
        "ZUORA_CLIENT_SECRET": harness.zuora.client_secret,
        "ZUORA_TENANT_TIMEZONE": harness.tenant.timezone,
        "DATABASE_URL": settings.store.database_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def run_cli(*argv: str) -> tuple[int, str, str]:
    import io

    from bot.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()
