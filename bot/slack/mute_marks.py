"""How a muted spike-alert cause is marked wherever it shows: the alert, `/zuora outages`, the digest."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from bot.slack.elements import mention
from bot.slack.mrkdwn import date_token

_TIME: Final = "{time}"


def until_words(until: datetime | None) -> str:
    """`until <time>` (a Slack date token, each reader's zone) or `until recovered`, as mrkdwn."""
    if until is None:
        return "until recovered"
    return f"until {date_token(until, _TIME, until.strftime('%H:%M UTC'))}"


def muted_mark(muted_by: str, until: datetime | None) -> str:
    """The short mark: ':no_bell: muted by @u until 11:02' (or 'until recovered')."""
    return f":no_bell: muted by {mention(muted_by)} {until_words(until)}"
