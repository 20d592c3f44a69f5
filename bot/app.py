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


def create_app(
    deps: Deps, *, process_before_response: bool = False, verify_token: bool = False
) -> App:
    """Build the App; `process_before_response` is for tests and FaaS only.

    With `verify_token` (the entry points) Bolt calls auth.test now, at boot. Without it, Bolt calls
    auth.test on the first request, before that request's listener can ack, so a slow or
    rate-limited Slack (our WebClient sleeps through 429s) would delay that ack. A Slack that cannot
    be reached at boot only logs a warning and leaves the call to the first request; a token Slack
    refuses raises, as it should at boot.
    """
    if verify_token:
        try:
            return _build_app(deps, process_before_response, verify_token=True)
        except OSError as exc:  # urllib's URLError and timeouts, after the client's retries
            logger.warning("auth.test failed at boot (%s); the first request will retry it", exc)
    return _build_app(deps, process_before_response, verify_token=False)


def _build_app(deps: Deps, process_before_response: bool, *, verify_token: bool) -> App:
    app = App(
        client=deps.slack,
        signing_secret=deps.settings.slack.signing_secret.get_secret_value(),
        token_verification_enabled=verify_token,
        request_verification_enabled=True,
        process_before_response=process_before_response,
        listener_executor=ThreadPoolExecutor(
            max_workers=LISTENER_THREADS, thread_name_prefix="bolt-listener"
        ),
        logger=logging.getLogger("slack_bolt"),
    )
    from handlers import register  # handlers import bot, never the other way round
    from handlers.shortcuts import register as register_shortcuts
    from handlers.unfurls import register as register_unfurls

    register(app, deps)
    register_unfurls(app, deps)  # link_shared → chat.unfurl
    register_shortcuts(app, deps)  # the "Zuora account failures" message shortcut
    return app
