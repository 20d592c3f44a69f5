"""Everything a listener needs, built once per process from Settings and passed down."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from slack_sdk import WebClient

from bot.audit.service import AuditTrail
from bot.digest.notes import DigestNotes
from bot.failures.service import NotificationService, utc_now
from bot.home.service import HomePublisher
from bot.outages.service import OutageScans
from bot.settings import Settings
from bot.slack.access import AccessPolicy
from bot.slack.io import Responder, build_web_client
from bot.store.database import Store
from bot.zuora.client import ZuoraClient


@dataclass(frozen=True)
class Deps:
    """The process's collaborators; nothing here is global."""

    settings: Settings
    service: NotificationService
    outages: OutageScans
    store: Store
    slack: WebClient
    access: AccessPolicy
    responder: Responder
    audit: AuditTrail
    now: Callable[[], datetime] = utc_now
    digest_notes: DigestNotes = field(default_factory=DigestNotes)
    home: HomePublisher = field(default_factory=HomePublisher)

    def close(self) -> None:
        """Release connections and threads."""
        self.service.close()
        self.store.close()


def build_deps(settings: Settings, *, now: Callable[[], datetime] = utc_now) -> Deps:
    """Wire the real collaborators from settings (no network I/O happens here)."""
    slack = build_web_client(settings.slack)
    store = Store.from_url(settings.store.database_url)
    service = NotificationService(ZuoraClient.from_settings(settings.zuora), now=now)
    return Deps(
        settings=settings,
        service=service,
        outages=OutageScans(service, now=now),
        store=store,
        slack=slack,
        access=AccessPolicy(
            settings.resend.resend_allowed_users,
            slack,
            readers=settings.resend.read_allowed_users,
        ),
        responder=Responder(hosts=settings.slack.response_url_rules),
        audit=AuditTrail(store, slack, channel=settings.resend.audit_channel),
        now=now,
    )
