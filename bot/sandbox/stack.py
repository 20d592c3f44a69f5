"""A whole offline installation on 127.0.0.1: sandbox Zuora, fake Slack, and the real bot over HTTP.

Used by the smoke tests, the benchmarks and `zuora-ops demo`. The bot runs its production code path:
`create_app` behind `bot.wsgi.create_wsgi_app`, request signing on, the store on a SQLite file.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.app import create_app
from bot.deps import Deps, build_deps
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import Tenant, build_tenant
from bot.settings import (
    AlertSettings,
    DigestSettings,
    ResendSettings,
    RuntimeSettings,
    Settings,
    SlackSettings,
    StoreSettings,
    ZuoraSettings,
)

logger = logging.getLogger(__name__)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 256


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        logger.debug("bot http: " + format, *args)


@dataclass
class SandboxStack:
    """Start and stop the three servers together; read their URLs and credentials."""

    workdir: Path
    tenant: Tenant | None = None
    latency: float = 0.0
    allowed_users: str = "*"
    audit_channel: str | None = None
    bot_port: int = 0
    # Seconds between spike-alert checks when the clock runs here (None: ALERT_CHECK_INTERVAL's default).
    alert_check_interval: float | None = None
    zuora_overrides: dict[str, Any] = field(default_factory=dict)
    signing_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    bot_token: str = field(default_factory=lambda: "xoxb-sandbox-" + secrets.token_hex(8))

    def __post_init__(self) -> None:
        self.tenant = self.tenant or build_tenant(seed=7, now=datetime.now(UTC))
        self.zuora = FakeZuora(self.tenant, latency=self.latency)
        self.slack = FakeSlack(token=self.bot_token)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._clock_stop = threading.Event()
        self._clock_threads: list[threading.Thread] = []
        self.deps: Deps | None = None

    def settings(self) -> Settings:
        """Settings that point the real bot at the sandbox servers."""
        return Settings(
            slack=SlackSettings(
                _env_file=None,
                bot_token=self.bot_token,
                signing_secret=self.signing_secret,
                api_url=self.slack.base_url,
                # The fake Slack issues the response_urls, over http on its own port.
                response_url_hosts=self.slack.root_url,
            ),
            zuora=ZuoraSettings(
                _env_file=None,
                **{
                    "base_url": self.zuora.base_url,
                    "ui_url": self.zuora.base_url,
                    "client_id": self.zuora.client_id,
                    "client_secret": self.zuora.client_secret,
                    "tenant_timezone": self.tenant.timezone
                    if self.tenant
                    else "America/Los_Angeles",
                    # The fake's "S3" serves result files over http on a second port.
                    "result_file_hosts": self.zuora.files_base_url,
                    **self.zuora_overrides,
                },
            ),
            resend=ResendSettings(
                _env_file=None,
                resend_allowed_users=self.allowed_users,
                audit_channel=self.audit_channel,
            ),
            store=StoreSettings(
                _env_file=None, database_url=f"sqlite:///{self.workdir / 'zuora-ops.db'}"
            ),
            digest=DigestSettings(_env_file=None, post_interval=0),
            alert=self._alert_settings(),
            runtime=RuntimeSettings(_env_file=None),
        )

    def _alert_settings(self) -> AlertSettings:
        settings = AlertSettings(_env_file=None)
        if self.alert_check_interval is None:
            return settings
        # Below ALERT_CHECK_INTERVAL's floor on purpose: a demo cannot wait 5 minutes per check.
        return settings.model_copy(update={"check_interval": self.alert_check_interval})

    def start_clock(self, tick: float) -> None:
        """Run the clock process's loops (bot.clock) on threads against this stack, a tick every `tick` s.

        Digests, spike alerts (every `alert_check_interval`), housekeeping and resend re-drives run
        exactly as `python -m bot.clock` runs them, only sooner.
        """
        from bot.clock import run_clock, run_redriver

        assert self.deps is not None, "start() first"
        deps, stop = self.deps, self._clock_stop

        def nap(_seconds: float) -> None:
            stop.wait(tick)

        clock = threading.Thread(
            target=run_clock,
            args=(deps, stop),
            kwargs={"owner": "demo-clock", "wait": nap},
            name="sandbox-clock",
            daemon=True,
        )
        redriver = threading.Thread(
            target=run_redriver, args=(deps, stop), name="sandbox-redriver", daemon=True
        )
        for thread in (clock, redriver):
            thread.start()
            self._clock_threads.append(thread)

    @property
    def bot_url(self) -> str:
        """Where Slack would send commands and clicks."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_port}/slack/events"

    def start(self) -> SandboxStack:
        """Start fake Zuora, fake Slack and the bot."""
        from bot.wsgi import create_wsgi_app

        self.zuora.start()
        self.slack.start()
        self.deps = build_deps(self.settings())
        slack_settings = self.deps.settings.slack
        application = create_wsgi_app(
            create_app(self.deps),
            signing_secret=slack_settings.signing_secret.get_secret_value(),
            max_body_bytes=slack_settings.max_body_bytes,
        )
        self._server = make_server(
            "127.0.0.1",
            self.bot_port,
            application,
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-bot",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop everything started, in reverse order."""
        self._clock_stop.set()
        for thread in self._clock_threads:
            thread.join(timeout=10)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self.deps is not None:
            self.deps.close()
        self.slack.stop()
        self.zuora.stop()

    def __enter__(self) -> SandboxStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
