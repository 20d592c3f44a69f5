"""The one app.error handler: our errors become actionable text; the rest get an incident id."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.blocks import build_error
from bot.deps import Deps
from bot.explain import explain


def register(app: App, deps: Deps) -> None:
    """Install the error handler."""

    @app.error
    def handle_error(error: Exception, body: dict[str, Any]) -> None:
        explanation = explain(error)
        response_url = body.get("response_url")
        if not response_url:
            return
        message = build_error(
            explanation.message, hint=explanation.hint, incident_id=explanation.incident_id
        )
        # A command's placeholder is replaced; a card stays and the error arrives beside it.
        deps.responder.send(str(response_url), message, replace_original="command" in body)
