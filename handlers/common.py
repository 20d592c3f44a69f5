"""Small helpers every listener shares: reading the payload, replying, decoding button values."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from slack_bolt import Ack

from bot.core.actions import ButtonValue, InvalidValueError, decode_value
from bot.deps import Deps
from bot.explain import explain
from bot.resend.service import AlreadyStarted, ClaimedElsewhere, Refusal
from bot.slack.access import AccessCheckError
from bot.slack.message import SlackMessage
from bot.slack.simple_cards import build_access_denied, build_error, build_stale_button
from bot.zuora.track import new_track_id

logger = logging.getLogger(__name__)

V = TypeVar("V", bound=ButtonValue)


def user_of(body: dict[str, Any]) -> str:
    """The Slack user who clicked or typed."""
    return str((body.get("user") or {}).get("id") or body.get("user_id") or "")


def team_of(body: dict[str, Any]) -> str:
    """The Slack workspace (team) of the request."""
    return str((body.get("team") or {}).get("id") or body.get("team_id") or "")


def track_id_of(body: dict[str, Any]) -> str:
    """A fresh Zuora-Track-Id naming the workspace and user, to follow one interaction in logs."""
    return new_track_id("zops", team_of(body), user_of(body))


def send(deps: Deps, body: dict[str, Any], message: SlackMessage, *, replace: bool) -> None:
    """Post to the request's response_url; `replace` decides replace_original explicitly."""
    deps.responder.send(str(body.get("response_url")), message, replace_original=replace)


def refusal_message(
    deps: Deps, refusal: Refusal | AlreadyStarted | ClaimedElsewhere, *, team_id: str = ""
) -> SlackMessage:
    """What the clicker alone is told when a resend click did nothing (or joined one in flight)."""
    if isinstance(refusal, AlreadyStarted):
        return refusal.message()
    if isinstance(refusal, ClaimedElsewhere):
        return refusal.message(deps, team_id=team_id)
    return build_access_denied(contact=deps.settings.resend.resend_access_contact)


def may_act(deps: Deps, body: dict[str, Any]) -> bool:
    """The allow-list, checked before any Zuora or store work; a refused clicker is told so."""
    clicker = user_of(body)
    try:
        if deps.access.may_resend(clicker):
            return True
    except AccessCheckError as exc:  # Slack could not confirm a user group: nothing is done
        explanation = explain(exc)
        send(
            deps,
            body,
            build_error(
                explanation.message, hint=explanation.hint, incident_id=explanation.incident_id
            ),
            replace=False,
        )
        return False
    logger.info("resend denied for %s (not on the allow-list)", clicker)
    send(deps, body, refusal_message(deps, Refusal.DENIED), replace=False)
    return False


def decode_or_refuse(
    deps: Deps, body: dict[str, Any], action: dict[str, Any], model: type[V]
) -> V | None:
    """The button's value as `model`, or None after telling the clicker it was stale or forged."""
    try:
        return decode_value(action.get("value"), model)
    except InvalidValueError as exc:
        logger.info("stale or forged button value from %s: %s", user_of(body), exc)
        send(deps, body, build_stale_button(), replace=False)
        return None


def answer_failure(
    deps: Deps, body: dict[str, Any], ack: Ack, exc: Exception, *, replace: bool
) -> None:
    """Tell the user what went wrong and what to do, in the ack if it is still open.

    Listeners catch their own failures instead of letting them reach Bolt: Bolt drops an ack body
    that was already sent when the listener raises afterwards, and Slack then shows a timeout.
    """
    explanation = explain(exc)
    message = build_error(
        explanation.message, hint=explanation.hint, incident_id=explanation.incident_id
    )
    if ack.response is None:
        ack(**message.as_payload())
    else:
        send(deps, body, message, replace=replace)
