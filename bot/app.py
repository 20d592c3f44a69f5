"""create_app: the Bolt App with our WebClient, request verification on, and every listener registered."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

from bot.deps import Deps

logger = logging.getLogger(__name__)

# Listeners ack first and then wait on Zuora; enough threads that a burst of commands never waits
# behind slow work for its ack (Bolt's default is 5).
LISTENER_THREADS = 64


def create_app(deps: Deps, *, process_before_response: bool = False) -> App:
    """Build the App without network I/O; `process_before_response` is for tests and FaaS only."""
    app = App(
        client=deps.slack,
        signing_secret=deps.settings.slack.signing_secret.get_secret_value(),
        token_verification_enabled=False,
        request_verification_enabled=True,
        process_before_response=process_before_response,
        listener_executor=ThreadPoolExecutor(
            max_workers=LISTENER_THREADS, thread_name_prefix="bolt-listener"
        ),
        logger=logging.getLogger("slack_bolt"),
    )
    from handlers import register  # handlers import bot, never the other way round

    register(app, deps)
    return app
