"""The Store: the bot's one database object, composed of one class per table group over one engine."""

from __future__ import annotations

from bot.store.alert_quiet import QuietAlertStore
from bot.store.alerts import AlertStore
from bot.store.audit import AuditStore
from bot.store.claims import ClaimStore
from bot.store.clicks import ClickStore
from bot.store.digests import DigestStore
from bot.store.outcome_watches import OutcomeWatchStore
from bot.store.replays import ReplayStore
from bot.store.resend_jobs import ResendJobStore
from bot.store.watches import WatchStore


class Store(
    ClickStore,
    AuditStore,
    ResendJobStore,
    ClaimStore,
    ReplayStore,
    DigestStore,
    AlertStore,
    OutcomeWatchStore,
    QuietAlertStore,
    WatchStore,
):
    """The bot's database: click dedup, resend audit and jobs, once-per-notification claims, outage
    replays, digest subscriptions and runs, spike alerts and their mutes, resends' outcome watches,
    and account watches."""
