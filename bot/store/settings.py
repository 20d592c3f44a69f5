"""Store settings: the database URL (SQLite by default, PostgreSQL for several processes)."""

from __future__ import annotations

from pydantic import (
    Field,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    """Where the bot keeps audit entries, subscriptions, click keys and digest runs."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str = Field(
        default="sqlite:///zuora-ops.db",
        description="SQLAlchemy URL: SQLite file (default, one process) or PostgreSQL "
        "(`postgresql://…`, needed for several processes).",
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if not value.startswith(("sqlite://", "postgresql+psycopg://")):
            raise ValueError("DATABASE_URL must be a sqlite:/// or postgresql:// URL")
        return value
