"""Digest settings: when and how daily digests run."""

from __future__ import annotations

from pydantic import (
    Field,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.settings_base import (
    HHMM,
)


class DigestSettings(BaseSettings):
    """Daily digest content and pacing."""

    model_config = SettingsConfigDict(env_prefix="DIGEST_", extra="ignore")

    top_accounts: int = Field(
        default=8,
        ge=1,
        le=15,
        description="Accounts listed by name in a digest before '…and K more'.",
    )
    default_time: str = Field(
        default="09:00", description="Local time (HH:MM) a new subscription posts at by default."
    )
    post_interval: float = Field(
        default=1.1,
        ge=0,
        le=60,
        description="Seconds between digest posts to one channel (Slack allows about one per second).",
    )
    claim_lease: float = Field(
        default=120.0,
        ge=0.5,
        le=3600,
        description=(
            "Seconds a clock holds a digest run without renewing it; it renews every quarter of this, "
            "so a crashed run is taken over after about this long."
        ),
    )

    @property
    def default_hour_minute(self) -> tuple[int, int]:
        """DIGEST_DEFAULT_TIME as (hour, minute)."""
        hour, minute = self.default_time.split(":")
        return int(hour), int(minute)

    @field_validator("default_time")
    @classmethod
    def _default_time(cls, value: str) -> str:
        if not HHMM.match(value.strip()):
            raise ValueError("DIGEST_DEFAULT_TIME must look like 09:00")
        return value.strip()
