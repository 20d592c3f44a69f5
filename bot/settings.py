"""Every area's settings together, built once at each entry point and passed down; each area lives in its package."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    Field,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.alerts.settings import AlertSettings
from bot.core.secrets_mask import mask_database_url, mask_url
from bot.core.settings_base import EXAMPLE_SLACK_IDS, SettingsError, env_name, load_area
from bot.digest.settings import DigestSettings
from bot.home.settings import HomeSettings
from bot.links.settings import LinkSettings
from bot.resend.settings import ResendSettings
from bot.slack.settings import SlackSettings
from bot.store.settings import StoreSettings
from bot.watches.settings import WatchSettings
from bot.zuora.settings import ZuoraSettings


class RuntimeSettings(BaseSettings):
    """Process-level behaviour."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the bot's processes."
    )


class Settings(BaseModel):
    """Every area's settings together; build with `Settings.load()` at an entry point."""

    slack: SlackSettings
    zuora: ZuoraSettings
    resend: ResendSettings = Field(default_factory=lambda: ResendSettings(_env_file=None))
    store: StoreSettings = Field(default_factory=lambda: StoreSettings(_env_file=None))
    digest: DigestSettings = Field(default_factory=lambda: DigestSettings(_env_file=None))
    alert: AlertSettings = Field(default_factory=lambda: AlertSettings(_env_file=None))
    watch: WatchSettings = Field(default_factory=lambda: WatchSettings(_env_file=None))
    home: HomeSettings = Field(default_factory=lambda: HomeSettings(_env_file=None))
    runtime: RuntimeSettings = Field(default_factory=lambda: RuntimeSettings(_env_file=None))
    links: LinkSettings = Field(default_factory=lambda: LinkSettings(_env_file=None))

    @classmethod
    def load(cls, env_file: str | None = ".env") -> Settings:
        """Read every area from the environment (and `env_file`), or raise SettingsError."""
        built: dict[str, BaseSettings] = {}
        problems: list[str] = []
        for name, area in zip(cls.model_fields, AREAS, strict=True):
            try:
                built[name] = load_area(area, env_file)
            except SettingsError as exc:
                problems.extend(exc.problems)
        if problems:
            raise SettingsError(problems)
        return cls.model_validate(built)


AREAS: tuple[type[BaseSettings], ...] = (
    SlackSettings,
    ZuoraSettings,
    ResendSettings,
    StoreSettings,
    DigestSettings,
    AlertSettings,
    WatchSettings,
    HomeSettings,
    RuntimeSettings,
    LinkSettings,
)


@dataclass(frozen=True)
class SettingDoc:
    """One row of the README's Configuration table."""

    env: str
    default: str
    description: str


def setting_docs() -> Iterator[SettingDoc]:
    """Every setting's variable, default and description, for the README and its drift test."""
    for area in AREAS:
        for field, info in area.model_fields.items():
            default: Any = info.get_default(call_default_factory=True)
            if info.is_required():
                shown = "required"
            elif default is None or default == frozenset():
                shown = "unset"
            else:
                shown = f"`{default}`"
            yield SettingDoc(env_name(area, field), shown, info.description or "")


def public_config(settings: Settings) -> list[tuple[str, str]]:
    """The non-secret settings worth showing in `/zuora status`."""
    allowed = settings.resend.resend_allowed_users
    readers = settings.resend.read_allowed_users
    return [
        ("ZUORA_BASE_URL", mask_url(settings.zuora.base_url)),
        ("ZUORA_TENANT_TIMEZONE", settings.zuora.tenant_timezone),
        ("ZUORA_HISTORY_IDS", settings.zuora.history_ids),
        ("ZUORA_MAX_CONCURRENCY", str(settings.zuora.max_concurrency)),
        (
            "RESEND_ALLOWED_USERS",
            ", ".join(sorted(allowed)) if allowed else "nobody (resend is off)",
        ),
        (
            "READ_ALLOWED_USERS",
            ", ".join(sorted(readers)) if readers else "unset (the resend allow-list reads)",
        ),
        ("AUDIT_CHANNEL", settings.resend.audit_channel or "unset"),
        ("ZUORA_UNFURL_DOMAINS", _unfurl_hosts(settings)),
        ("DATABASE_URL", mask_database_url(settings.store.database_url)),
    ]


def _unfurl_hosts(settings: Settings) -> str:
    """Where links unfurl, and which link forms are guesses (bot.links.urls)."""
    hosts = (
        ", ".join(sorted(settings.links.zuora_unfurl_domains)) or "unset: ZUORA_UI_URL's host only"
    )
    return f"{hosts} (links by id as the cards give them; by accountNumber= or search: a guess)"


__all__ = [
    "AREAS",
    "EXAMPLE_SLACK_IDS",
    "AlertSettings",
    "DigestSettings",
    "ResendSettings",
    "RuntimeSettings",
    "SettingDoc",
    "Settings",
    "SettingsError",
    "SlackSettings",
    "StoreSettings",
    "ZuoraSettings",
    "env_name",
    "load_area",
    "public_config",
    "setting_docs",
]
