"""The way back from a replay's summary to the outages list it came from."""

from __future__ import annotations

from typing import Any

from bot.core.actions import ActionId, OutageRef
from bot.slack.elements import actions, button
from bot.store import Replay


def back_to_outages(replay: Replay) -> dict[str, Any]:
    """A button that redraws the outages card of the replay's window in place (first page)."""
    ref = OutageRef(
        c=replay.cause_id,
        s=int(replay.window_start.timestamp()),
        e=int(replay.window_end.timestamp()),
        w=replay.window_label[:8],
    )
    return actions(
        [button("Back to outages", ActionId.OUTAGE_PAGE, value=ref)], block_id="replay_back"
    )
