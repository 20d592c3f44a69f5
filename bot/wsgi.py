"""WSGI entry for gunicorn: POST /slack/events to Bolt, GET /healthz answers without Slack or Zuora.

`bot.wsgi:application` is built on first attribute access (PEP 562), so gunicorn gets a ready app
while importing this module for tests has no side effects; tests call `create_wsgi_app`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"


def create_wsgi_app(app: App) -> WSGIApp:
    """Route Slack's requests to Bolt and answer health checks; everything else is 404."""
    slack_handler = SlackRequestHandler(app, path=EVENTS_PATH)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", {"ok": True, "service": "zuora-ops"})
        if path == EVENTS_PATH and method == "POST":
            return slack_handler(environ, start_response)
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
    return create_wsgi_app(create_app(deps, verify_token=True))


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
