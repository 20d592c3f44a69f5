"""The read rule at every reading entry point: callout details, `/zuora audit` and `/zuora status`.

Checked before anything is read from Zuora or the store, so a refused request costs nothing.
"""

from __future__ import annotations

import logging

from bot.deps import Deps
from bot.slack.access_cards import ReadTarget, build_read_denied
from bot.slack.requests import SlackRequest
from handlers.common import send

logger = logging.getLogger(__name__)


def may_read_or_refuse(deps: Deps, request: SlackRequest, target: ReadTarget) -> bool:
    """True if the requester may read `target`; otherwise tell them (ephemeral) and return False."""
    user_id = request.user_id
    if deps.access.may_read(user_id):
        return True
    logger.info("read refused: %s asked for %s", user_id or "(no user)", target)
    message = build_read_denied(
        target, contact=deps.settings.resend.resend_access_contact, user_id=user_id
    )
    send(deps, request, message, replace=False)
    return False
