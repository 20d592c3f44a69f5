"""Resend settings: who may act and read, the audit channel, the once window and re-drives."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    Field,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.core.settings_base import (
    CHANNEL_ID,
    EXAMPLE_SLACK_IDS,
    SLACK_ID,
)


class ResendSettings(BaseSettings):
    """Who may resend and who may read, and where resends are announced."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    resend_allowed_users: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        description="Comma list of Slack user IDs (`U…`/`W…`) and user-group IDs (`S…`) who may "
        "resend; `*` means everyone; unset means nobody.",
    )
    resend_access_contact: str = Field(
        default="a Zuora Ops admin",
        description="Who to ask for resend or read access, shown to denied users (e.g. "
        "`#billing-ops`).",
    )
    read_allowed_users: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        description="Who else may read callout details (response bodies), `/zuora audit` and "
        "`/zuora status`, besides RESEND_ALLOWED_USERS: user (`U…`/`W…`) and user-group (`S…`) "
        "IDs, or `*` for everyone in the workspace; unset means the resend allow-list only.",
    )
    audit_channel: str | None = Field(
        default=None,
        description="Optional channel ID (`C…`) where every resend is announced, outcome in thread.",
    )
    resend_lease: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="Seconds a worker holds an unfinished resend before the clock takes it over "
        "(renewed while the worker lives; a killed worker's resend is re-driven with the same key).",
    )
    resend_once_window: float = Field(
        default=24.0,
        gt=0,
        le=720,
        description="Hours during which a notification (history id) is resent at most once, whoever "
        "asks from whichever card, command, digest, alert, replay or CLI; others are told who resent "
        "it and may press *Resend again*.",
    )
    resend_watch_first_seconds: float = Field(
        default=30.0,
        ge=0.1,
        le=3600,
        description="Seconds after a resend before the clock first reads Zuora's history for its "
        "new record (did it work?); each later look waits twice as long as the one before.",
    )
    resend_watch_checks: int = Field(
        default=5,
        ge=0,
        le=12,
        description="Most looks at the history per resend (or per replay cause) before the card "
        'says "no outcome yet"; 0 turns the outcome watch off.',
    )

    @field_validator("resend_allowed_users", "read_allowed_users", mode="before")
    @classmethod
    def _allow_list(cls, value: object, info: ValidationInfo) -> frozenset[str]:
        if value is None:
            return frozenset()
        items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
        cleaned = frozenset(str(item).strip() for item in items if str(item).strip())
        for item in cleaned:
            if item in EXAMPLE_SLACK_IDS:
                raise ValueError(
                    f"RESEND_ALLOWED_USERS still holds the example ID {item}; set the real user "
                    "or user-group IDs"
                )
            if item != "*" and not SLACK_ID.match(item):
                raise ValueError(
                    f"{str(info.field_name).upper()}: {item!r} is not a Slack user (U…/W…) or "
                    "user-group (S…) ID; use IDs, not names"
                )
        return cleaned

    @field_validator("audit_channel")
    @classmethod
    def _audit_channel(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not CHANNEL_ID.match(value.strip()):
            raise ValueError(f"AUDIT_CHANNEL must be a channel ID like C0123ABCD, got {value!r}")
        if value.strip() in EXAMPLE_SLACK_IDS:
            raise ValueError(
                f"AUDIT_CHANNEL still holds the example ID {value.strip()}; set the real channel "
                "ID or leave it empty"
            )
        return value.strip()
