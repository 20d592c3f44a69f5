"""WSGI entry for gunicorn: POST /slack/events to Bolt, GET /healthz answers without Slack or Zuora.

Every POST to /slack/events passes `bot.slack.request_gate` first: an oversized, undecodable or unsigned
request is answered here (413, 400, 401) and Bolt, its listeners and its error handler never see it.

`bot.wsgi:application` is built on first attribute access (PEP 562), so gunicorn gets a ready app
while importing this module for tests has no side effects; tests call `create_wsgi_app`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.slack.request_gate import (
    DEFAULT_MAX_BODY_BYTES,
    Refusal,
    RequestGate,
    SslCheck,
    admitted_environ,
    refusal_body,
)

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


def create_wsgi_app(
    app: App,
    *,
    signing_secret: str,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    clock: Callable[[], float] = time.time,
) -> WSGIApp:
    """Route Slack's verified requests to Bolt and answer health checks; everything else is 404."""
    slack_handler = SlackRequestHandler(app, path=EVENTS_PATH)
    gate = RequestGate(signing_secret, max_body_bytes=max_body_bytes, clock=clock)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", {"ok": True, "service": "zuora-ops"})
        if path == EVENTS_PATH and method == "POST":
            verdict = gate.check(environ)
            if isinstance(verdict, Refusal):
                logger.warning(
                    "refused a request to %s: %s %s", EVENTS_PATH, verdict.status, verdict.error
                )
                return _json(start_response, verdict.status, refusal_body(verdict))
            if isinstance(verdict, SslCheck):
                return _json(start_response, "200 OK", {"ok": True})
            return slack_handler(admitted_environ(environ, verdict.body), start_response)
        if path == EVENTS_PATH:
            return _json(
                start_response, "405 Method Not Allowed", {"ok": False, "error": "POST only"}
            )
        return _json(start_response, "404 Not Found", {"ok": False, "error": "not found"})

    return application


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def build_application() -> WSGIApp:
    """Settings -> Deps -> App -> WSGI, as gunicorn runs it."""
    from bot.app import create_app
    from bot.deps import build_deps
    from bot.log_config import configure_logging
    from bot.settings import Settings

    settings = Settings.load()
    configure_logging(settings.runtime.log_level)
    deps = build_deps(settings)
    logger.info("zuora-ops web ready: store=%s", deps.store.describe())
    return create_wsgi_app(
        create_app(deps, verify_token=True),
        signing_secret=settings.slack.signing_secret.get_secret_value(),
        max_body_bytes=settings.slack.max_body_bytes,
    )


_built: WSGIApp | None = None
_build_lock = threading.Lock()


def __getattr__(name: str) -> WSGIApp:
    """Build `application` on first access, once per process."""
    global _built
    if name != "application":
        raise AttributeError(name)
    with _build_lock:
        if _built is None:
            _built = build_application()
    return _built
