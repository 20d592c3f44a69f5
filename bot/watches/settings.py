"""Watch settings: how often the clock checks watched accounts, how many per check, how many per user."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WatchSettings(BaseSettings):
    """Account watches: the clock's pace and the bounds that keep one check cheap."""

    model_config = SettingsConfigDict(env_prefix="WATCH_", extra="ignore")

    check_interval: float = Field(
        default=600.0,
        ge=60,
        le=86400,
        description="Seconds between the clock's checks of watched accounts for new failures.",
    )
    accounts_per_check: int = Field(
        default=20,
        ge=1,
        le=200,
        description=(
            "Watched accounts one check scans (one Zuora history scan each), least recently "
            "checked first; the rest wait for the next check."
        ),
    )
    max_per_user: int = Field(
        default=25,
        ge=1,
        le=100,
        description="Accounts one Slack user may watch in one workspace.",
    )
