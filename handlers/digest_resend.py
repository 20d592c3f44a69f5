"""Resend all clicked on a channel digest: the work is bot.digest.resend_all's, replies go to the clicker."""

from __future__ import annotations

from bot.deps import Deps
from bot.digest.resend_all import resend_all_from_digest
from bot.slack.message import SlackMessage
from bot.slack.requests import Click
from bot.zuora.models import Account
from handlers.common import send, track_id_of


def is_shared_message(click: Click) -> bool:
    """Whether the click came from a channel message everyone sees (not an ephemeral card)."""
    return not click.is_ephemeral and click.message_ts is not None


def resend_all_on_digest(
    deps: Deps, click: Click, labels: dict[str, str], account: Account
) -> None:
    """Resend `labels`' ids from a digest; what only the clicker may see goes to its response_url."""

    def tell(message: SlackMessage) -> None:
        send(deps, click, message, replace=False)

    track_id = track_id_of(click)
    resend_all_from_digest(deps, click, labels, account, tell=tell, track_id=track_id)
