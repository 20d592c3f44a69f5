"""Slack listeners; `register(app, deps)` wires every module's listeners onto the App."""

from __future__ import annotations

from slack_bolt import App

from bot.deps import Deps
from handlers.actions import register as register_actions
from handlers.audit import register as register_audit
from handlers.commands import register as register_commands
from handlers.digest import register as register_digest
from handlers.errors import register as register_errors
from handlers.outages import register as register_outages
from handlers.replay import register as register_replay


def register(app: App, deps: Deps) -> None:
    """Register the /zuora command, the card actions and the error handler."""
    register_errors(app, deps)
    register_commands(app, deps)
    register_actions(app, deps)
    register_digest(app, deps)
    register_audit(app, deps)
    register_outages(app, deps)
    register_replay(app, deps)
