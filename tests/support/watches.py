"""Helpers of the watch and Home tests: a new failed email on an account, the bot's DMs to a user."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime, timedelta

from bot.sandbox.fake_slack_surfaces import dm_channel
from tests.support.stack_fixtures import Harness, JsonDict


def add_failed_email(harness: Harness, account_number: str, *, ago: timedelta) -> datetime:
    """A failed email on the account, `ago` before the wall clock (Zuora's clock); its time."""
    account = harness.tenant.account(account_number)
    assert account is not None
    template = next(e for e in harness.tenant.emails if e.account_id == account.id and e.failed)
    at = (datetime.now(UTC) - ago).replace(microsecond=0)
    harness.tenant.add_email(dataclasses.replace(template, id=secrets.token_hex(16), send_time=at))
    harness.zuora.reindex()
    return at


def dms(harness: Harness, user_id: str) -> list[JsonDict]:
    """Messages the bot posted in its DM with `user_id`, oldest first."""
    return harness.slack.messages(dm_channel(user_id))
