"""Spike-alert settings: how often causes are checked and what counts as a spike."""

from __future__ import annotations

from pydantic import (
    Field,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertSettings(BaseSettings):
    """Spike alerts: how often the clock checks, when an incident counts as recovered."""

    model_config = SettingsConfigDict(env_prefix="ALERT_", extra="ignore")

    check_interval: float = Field(
        default=300.0,
        ge=60,
        le=3600,
        description="Seconds between the clock's spike-alert checks (each scans Zuora once per kind).",
    )
    quiet_period: float = Field(
        default=1800.0,
        ge=300,
        le=86400,
        description=(
            "Seconds without a new failure of a cause after which its alert is marked recovered; "
            "a later spike is a new alert."
        ),
    )
    claim_lease: float = Field(
        default=120.0,
        ge=0.5,
        le=3600,
        description=(
            "Seconds a clock holds an alert it is posting; a clock that died meanwhile is taken over "
            "after this long (checking the channel for the post first)."
        ),
    )
    thread_interval: float = Field(
        default=600.0,
        ge=60,
        le=86400,
        description=(
            "Seconds between two thread replies of one spike alert (its message is still edited with "
            "the current counts at every check)."
        ),
    )
