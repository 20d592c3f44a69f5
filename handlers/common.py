"""Small helpers every listener shares: the one failure wrapper, replying, decoding button values."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from slack_bolt import Ack, App

from bot.core.actions import ActionId, ButtonValue, InvalidValueError, decode_value
from bot.deps import Deps
from bot.resend.replies import error_message, refusal_message
from bot.resend.service import Refusal
from bot.slack.access import AccessCheckError
from bot.slack.message import SlackMessage
from bot.slack.requests import Click, Command, SlackRequest
from bot.slack.simple_cards import build_stale_button
from bot.zuora.track import new_track_id

logger = logging.getLogger(__name__)

V = TypeVar("V", bound=ButtonValue)
#: A button's handler: what Bolt passes (ack, body, action), after the process's Deps.
ClickHandler = Callable[[Deps, Ack, dict[str, Any], dict[str, Any]], None]
#: A /zuora subcommand's handler: (deps, the parsed command, the request, ack, Zuora track id).
CommandHandler = Callable[[Deps, Any, Command, Ack, str], None]
#: Parsed command type → its handler; each handler module declares its own (handlers.commands).
CommandTable = Mapping[type, CommandHandler]


def track_id_of(request: SlackRequest) -> str:
    """A fresh Zuora-Track-Id naming the workspace and user, to follow one interaction in logs."""
    return new_track_id("zops", request.team_id, request.user_id)


def send(deps: Deps, request: SlackRequest, message: SlackMessage, *, replace: bool) -> None:
    """Post to the request's response_url; `replace` decides replace_original explicitly."""
    deps.responder.send(str(request.response_url), message, replace_original=replace)


def on_click(app: App, deps: Deps, action_id: ActionId, handler: ClickHandler) -> None:
    """Listen for `action_id` with `handler`, its failures explained to the clicker."""

    def listener(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        with failures_explained(deps, SlackRequest(body), ack):
            handler(deps, ack, body, action)

    app.action(action_id.value)(listener)


@contextmanager
def failures_explained(deps: Deps, request: SlackRequest, ack: Ack) -> Iterator[None]:
    """Run a listener's body; any failure is told to the user (see answer_failure), not raised."""
    try:
        yield
    except Exception as exc:  # explained to the user here, with an incident id for the unknown
        answer_failure(deps, request, ack, exc, replace=False)


def answer_failure(
    deps: Deps, request: SlackRequest, ack: Ack, exc: Exception, *, replace: bool
) -> None:
    """Tell the user what went wrong and what to do, in the ack if it is still open.

    Listeners catch their own failures instead of letting them reach Bolt: Bolt drops an ack body
    that was already sent when the listener raises afterwards, and Slack then shows a timeout.
    """
    message = error_message(exc)
    if ack.response is None:
        ack(**message.as_payload())
    else:
        send(deps, request, message, replace=replace)


def may_act(deps: Deps, request: SlackRequest) -> bool:
    """The allow-list, checked before any Zuora or store work; a refused clicker is told so."""
    clicker = request.user_id
    try:
        if deps.access.may_resend(clicker):
            return True
    except AccessCheckError as exc:  # Slack could not confirm a user group: nothing is done
        send(deps, request, error_message(exc), replace=False)
        return False
    logger.info("resend denied for %s (not on the allow-list)", clicker)
    send(deps, request, refusal_message(deps, Refusal.DENIED), replace=False)
    return False


def decode_or_refuse(deps: Deps, click: Click, model: type[V]) -> V | None:
    """The button's value as `model`, or None after telling the clicker it was stale or forged."""
    try:
        return decode_value(click.value, model)
    except InvalidValueError as exc:
        logger.info("stale or forged button value from %s: %s", click.user_id, exc)
        send(deps, click, build_stale_button(), replace=False)
        return None
