"""Home tab settings: how often one user's Home may be republished."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HomeSettings(BaseSettings):
    """The App Home tab: the debounce that keeps views.publish under Slack's per-user rate limit."""

    model_config = SettingsConfigDict(env_prefix="HOME_", extra="ignore")

    publish_gap: float = Field(
        default=10.0,
        ge=1,
        le=600,
        description=(
            "Seconds between two publishes of one user's Home tab by one process; a change inside "
            "the gap is shown by the next publish (or when the user opens the tab)."
        ),
    )
