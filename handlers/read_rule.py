"""The read rule at every reading entry point: callout details, `/zuora audit` and `/zuora status`.

Checked before anything is read from Zuora or the store, so a refused request costs nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.deps import Deps
from bot.slack.access_cards import ReadTarget, build_read_denied
from handlers.common import send, user_of

logger = logging.getLogger(__name__)


def may_read_or_refuse(deps: Deps, body: dict[str, Any], target: ReadTarget) -> bool:
    """True if the requester may read `target`; otherwise tell them (ephemeral) and return False."""
    user_id = user_of(body)
    if deps.access.may_read(user_id):
        return True
    logger.info("read refused: %s asked for %s", user_id or "(no user)", target)
    message = build_read_denied(
        target, contact=deps.settings.resend.resend_access_contact, user_id=user_id
    )
    send(deps, body, message, replace=False)
    return False
