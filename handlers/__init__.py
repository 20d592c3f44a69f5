"""Slack listeners, one module per surface; `register(app, deps)` wires every module onto the App.

Where to find a trigger: /zuora is handlers.commands, whose table names the module that answers each
subcommand; a button's module registers its action id (bot.core.actions.ActionId).
"""

from __future__ import annotations

from slack_bolt import App

from bot.deps import Deps
from handlers import (
    alert_mute,
    audit,
    commands,
    digest,
    errors,
    failures,
    home,
    outages,
    replay,
    resend,
    watches,
)


def register(app: App, deps: Deps) -> None:
    """Register the /zuora command, the card actions and the error handler."""
    errors.register(app, deps)
    commands.register(app, deps)
    failures.register(app, deps)
    resend.register(app, deps)
    digest.register(app, deps)
    audit.register(app, deps)
    outages.register(app, deps)
    replay.register(app, deps)
    alert_mute.register(app, deps)
    watches.register(app, deps)
    home.register(app, deps)
