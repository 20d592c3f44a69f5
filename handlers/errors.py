"""The one app.error handler: our errors become actionable text; the rest get an incident id.

It posts to the body's response_url, so it first makes sure Slack sent the body: over HTTP the
request must carry a valid signature (the WSGI gate already refused any other, this is the second
lock), and the Responder posts only to an allowed Slack host. Socket Mode requests have no
signature; Slack's authenticated socket delivered them.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_bolt.request import BoltRequest

from bot.deps import Deps
from bot.explain import explain
from bot.slack.request_gate import signature_problem
from bot.slack.requests import SlackRequest
from bot.slack.simple_cards import build_error

logger = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    """Install the error handler."""
    secret = deps.settings.slack.signing_secret.get_secret_value().encode()

    @app.error
    def handle_error(error: Exception, body: dict[str, Any], request: BoltRequest) -> None:
        problem = unsigned_problem(secret, request)
        if problem:
            logger.warning(
                "error on an unverified request (%s): %s; nothing is posted",
                problem,
                type(error).__name__,
            )
            return
        explanation = explain(error)
        response_url = SlackRequest(body).response_url if isinstance(body, dict) else None
        if response_url is None:
            return
        message = build_error(
            explanation.message, hint=explanation.hint, incident_id=explanation.incident_id
        )
        # A command's placeholder is replaced; a card stays and the error arrives beside it.
        deps.responder.send(response_url, message, replace_original="command" in body)


def unsigned_problem(secret: bytes, request: BoltRequest | None) -> str | None:
    """Why `request` is not one Slack signed (None when it is, or came over Socket Mode)."""
    if request is None:
        return "no request"
    if request.mode == "socket_mode":
        return None
    try:
        raw = request.raw_body.encode("utf-8")
    except (AttributeError, UnicodeEncodeError):
        return "an unreadable body"
    return signature_problem(
        secret,
        raw,
        _header(request, "x-slack-request-timestamp"),
        _header(request, "x-slack-signature"),
        now=None,
    )


def _header(request: BoltRequest, name: str) -> str | None:
    values = request.headers.get(name) or []
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None
