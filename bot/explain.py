"""Turn any failure into words a person can act on; unexpected ones get an incident id."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError

from bot.core.command_text import UsageError
from bot.slack.access import AccessCheckError
from bot.store import StoreError
from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraConnectionError,
    ZuoraError,
    ZuoraInputError,
    ZuoraNotFoundError,
    ZuoraQueryError,
    ZuoraRateLimitError,
    ZuoraResponseValidationError,
    ZuoraServerError,
    ZuoraStatusError,
    ZuoraTimeoutError,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Explanation:
    """What to tell the user: the problem, what to do next, and an incident id for the unexpected."""

    message: str
    hint: str | None = None
    incident_id: str | None = None


def _track(exc: ZuoraError) -> str:
    return f" (Zuora track id `{exc.track_id}`)" if exc.track_id else ""


def explain(exc: BaseException) -> Explanation:
    """Map our errors to messages; log anything else with a fresh incident id."""
    if isinstance(exc, UsageError):
        return Explanation(
            exc.message, hint="Type `/zuora help` for every command with an example."
        )
    if isinstance(exc, ZuoraInputError):
        return Explanation(
            f"{exc.message}. Nothing was sent to Zuora.",
            hint="Use an account number such as `A00000001` or the account's 32-character ID.",
        )
    if isinstance(exc, ZuoraNotFoundError):
        key = f" `{exc.key}`" if exc.key else ""
        return Explanation(
            f"Zuora has no account{key}.",
            hint="Check the account number (e.g. `A00000001`) or paste the 32-character account ID.",
        )
    if isinstance(exc, ZuoraAuthError):
        if exc.status_code == 403:
            return Explanation(
                "Zuora refused: the bot's API user lacks a permission" + _track(exc) + ".",
                hint="A Zuora admin should grant it 'Events & Notifications' view and resend access.",
            )
        return Explanation(
            "Zuora rejected the bot's credentials" + _track(exc) + ".",
            hint="An admin should check ZUORA_CLIENT_ID / ZUORA_CLIENT_SECRET; "
            "`/zuora status` shows whether they work.",
        )
    if isinstance(exc, ZuoraRateLimitError):
        wait = f"{int(exc.retry_after)} seconds" if exc.retry_after else "a minute"
        return Explanation(
            "Zuora is rate-limiting the bot right now" + _track(exc) + ".",
            hint=f"Wait {wait} and try again.",
        )
    if isinstance(exc, ZuoraTimeoutError):
        return Explanation(
            "Zuora did not answer in time" + _track(exc) + ".",
            hint="It may be slow right now: try again in a minute, or a shorter window such as `24h`.",
        )
    if isinstance(exc, ZuoraConnectionError):
        return Explanation(
            "The bot could not reach Zuora.",
            hint="Try again in a minute; if it persists an admin should check ZUORA_BASE_URL "
            "and Zuora's status page.",
        )
    if isinstance(exc, ZuoraServerError):
        return Explanation(
            f"Zuora had an internal error (HTTP {exc.status_code}){_track(exc)}.",
            hint="This is on Zuora's side: try again in a few minutes.",
        )
    if isinstance(exc, ZuoraQueryError):
        return Explanation(
            f"Zuora's Data Query could not look up resend IDs: {exc.message}.",
            hint="Resend from the account's Notification History page in Zuora instead.",
        )
    if isinstance(exc, ZuoraStatusError):
        reasons = f": {exc.reason_text}" if exc.reason_text else ""
        return Explanation(
            f"Zuora refused the request (HTTP {exc.status_code}){reasons}{_track(exc)}.",
            hint="If this keeps happening, share the track id with your Zuora admin.",
        )
    if isinstance(exc, ZuoraResponseValidationError):
        return _incident(exc, "Zuora answered in a format the bot did not expect.")
    if isinstance(exc, StoreError):
        return Explanation(str(exc), hint="Nothing already recorded was lost.")
    if isinstance(exc, AccessCheckError):
        return Explanation(
            "Slack could not confirm your user-group membership, so nothing was resent.",
            hint="Try again in a minute.",
        )
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error") if exc.response is not None else None
        if error in ("ratelimited", "rate_limited"):
            return Explanation(
                "Slack is rate-limiting the bot, so the card could not be updated.",
                hint="Try again in a minute.",
            )
        return _incident(exc, f"Slack refused a request ({error}).")
    return _incident(exc, "Something went wrong inside the bot.")


def _incident(exc: BaseException, message: str) -> Explanation:
    incident_id = secrets.token_hex(3)
    logger.error("incident %s: %s", incident_id, message, exc_info=exc)
    return Explanation(
        message, hint="An admin can find the details in the logs.", incident_id=incident_id
    )
