"""/zuora outages [window] and its paging buttons: the tenant's failures grouped by cause.

The command acks at once with a receipt, scans the whole tenant (streamed, bounded concurrency), and
posts ONE card through its response_url as a message of its own (a command's response_url cannot
replace the ack). A page click re-reads the same fixed window (the service reuses a recent scan)
and redraws the card through the click's own response_url.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App

from bot.core.actions import ActionId, OutageRef
from bot.core.command_text import MAX_OUTAGE_WINDOW, OutagesCommand
from bot.deps import Deps
from bot.failures.receipt_card import build_receipt
from bot.outages.cards import build_outages_card, shown_groups
from bot.outages.causes import OutageScan
from bot.outages.muted import cause_mute_marks
from bot.outages.recovery_cards import RECOVERY_CAUSES
from bot.slack.message import SlackMessage
from bot.slack.requests import Click, Command
from bot.slack.simple_cards import build_stale_button
from bot.zuora.models import TimeWindow
from handlers.common import CommandTable, decode_or_refuse, on_click, send, track_id_of

logger = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    """Listen for the outages card's Previous / Next buttons (Resend all N is handlers.replay's)."""
    on_click(app, deps, ActionId.OUTAGE_PAGE, handle_outage_page)


def handle_outage_page(deps: Deps, ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
    """Redraw the outages card on another page of the same fixed window."""
    ack()
    click = Click(body, action)
    ref = decode_or_refuse(deps, click, OutageRef)
    if ref is None:
        return
    if not timedelta(0) < ref.end - ref.start <= MAX_OUTAGE_WINDOW:
        logger.info("outage page with a bad window from %s", click.user_id)
        send(deps, click, build_stale_button(), replace=False)
        return
    window = TimeWindow(start=ref.start, end=ref.end, label=ref.w)
    scan = deps.outages.scan(window, track_id=track_id_of(click))
    send(
        deps,
        click,
        outages_card(deps, scan, window, ref.p, track_id_of(click), click.team_id),
        replace=True,
    )


def handle_outages_command(
    deps: Deps, parsed: OutagesCommand, command: Command, ack: Ack, track_id: str
) -> None:
    """Ack with a receipt, scan the tenant's window ending now, post the card as its own message."""
    ack(
        **build_receipt(
            f"Scanning the whole tenant's failed callouts and emails of the last {parsed.label}"
        ).as_payload()
    )
    # Whole seconds: the card's buttons carry epoch seconds, so a page click names this very window
    # and finds its scan in the service's short cache.
    end = deps.now().replace(microsecond=0)
    window = TimeWindow.ending_at(end, parsed.window, parsed.label)
    scan = deps.outages.scan(window, track_id=track_id, fresh=True)
    send(
        deps, command, outages_card(deps, scan, window, 0, track_id, command.team_id), replace=False
    )


def outages_card(
    deps: Deps, scan: OutageScan, window: TimeWindow, page: int, track_id: str, team_id: str
) -> SlackMessage:
    """One page of the card, its biggest causes with whether they are over (short cached reads)."""
    ordered = scan.groups()
    checked = shown_groups(ordered, page)[:RECOVERY_CAUSES]
    recovery = deps.outages.recovery.check_all(checked, track_id=track_id)
    marks = cause_mute_marks(deps.store, team_id, deps.now())
    return build_outages_card(
        scan, window, page=page, groups=ordered, recovery=recovery, now=deps.now(), marks=marks
    )


#: The commands this module answers.
COMMANDS: CommandTable = {OutagesCommand: handle_outages_command}
