"""Zuora settings: OAuth client, hosts, tenant time zone, timeouts, concurrency and resend-id lookup."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.settings_base import (
    env_name,
    host_list,
    http_url,
    require_secret,
)
from bot.core.url_rules import HostRule, parse_rules


class ZuoraSettings(BaseSettings):
    """Zuora tenant, credentials and client behaviour."""

    model_config = SettingsConfigDict(env_prefix="ZUORA_", extra="ignore")

    base_url: str = Field(
        default="https://rest.zuora.com",
        description="Zuora REST base URL of your tenant (e.g. https://rest.apisandbox.zuora.com).",
    )
    ui_url: str = Field(
        default="https://www.zuora.com",
        description="Zuora UI host for deep links in cards (the REST host is not a UI host).",
    )
    client_id: SecretStr = Field(
        description="OAuth client ID of a Zuora API user with notification view and resend access."
    )
    client_secret: SecretStr = Field(description="OAuth client secret for ZUORA_CLIENT_ID.")
    entity_id: str | None = Field(
        default=None,
        description="Optional entity ID, sent as `Zuora-Entity-Ids` (multi-entity tenants only).",
    )
    org_ids: str | None = Field(
        default=None, description="Optional comma-separated org IDs, sent as `Zuora-Org-Ids`."
    )
    tenant_timezone: str = Field(
        default="America/Los_Angeles",
        description="The tenant's time zone: Zuora reads and writes zone-less times in it.",
    )
    history_ids: Literal["auto", "rest", "data-query"] = Field(
        default="auto",
        description="Where resend IDs come from: `rest` records, `data-query`, or `auto` (REST, "
        "else Data Query).",
    )
    connect_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds to wait for a connection to Zuora."
    )
    read_timeout: float = Field(
        default=20.0, gt=0, le=300, description="Seconds to wait for Zuora to answer a request."
    )
    max_concurrency: int = Field(
        default=6,
        ge=1,
        le=40,
        description="Most Zuora requests in flight at once per process; Zuora allows 40 per "
        "tenant for all integrations together, so keep (web workers + clock) x this well under "
        "40 (default: 3 x 6 = 18). A 429 halves it for a while.",
    )
    max_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a failed GET or idempotent resend."
    )
    retry_max_delay: float = Field(
        default=8.0, gt=0, le=120, description="Longest wait in seconds before one retry."
    )
    cache_ttl: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="Seconds identical reads are served from memory (0 turns the cache off).",
    )
    query_timeout: float = Field(
        default=60.0, gt=0, le=1800, description="Seconds to wait for a Data Query job to finish."
    )
    id_match_tolerance: float = Field(
        default=10.0,
        ge=0,
        le=600,
        description="Seconds a REST send/create time may differ from the Data Query row's "
        "CreatedOn/CreateTime and still match (Zuora does not promise they are equal).",
    )
    max_query_jobs: int = Field(
        default=2,
        ge=1,
        le=5,
        description="Most Data Query jobs this process runs at once (Zuora allows 5 running and "
        "10 queued per tenant, shared with every integration).",
    )
    id_wait: float = Field(
        default=10.0,
        ge=0,
        le=60,
        description="Seconds a failures card waits for resend IDs before it is shown without them.",
    )
    callout_attempt_limit: int = Field(
        default=3,
        ge=1,
        le=5,
        description="Zuora's Maximum Number of Delivery Attempts for callouts (1-5), used until "
        "/zuora status learns Data Query's AttemptLimit.",
    )
    callout_retry_interval_minutes: int = Field(
        default=30,
        ge=30,
        le=1440,
        description="Zuora's Minimum Interval between Delivery Attempts in minutes (30-1440): "
        "when a callout Zuora still retries is tried next.",
    )
    result_file_hosts: str = Field(
        default="*.amazonaws.com",
        description="Comma list of hosts Data Query result files may be fetched from (https "
        "only; Zuora names an S3 URL; `http://host:port` for a local fake).",
    )

    @field_validator("client_id", "client_secret")
    @classmethod
    def _secret(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        return require_secret(env_name(cls, str(info.field_name)), value)

    @field_validator("base_url", "ui_url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        return http_url(env_name(cls, str(info.field_name)), value, trailing_slash=False)

    @field_validator("result_file_hosts")
    @classmethod
    def _result_file_hosts(cls, value: str) -> str:
        return host_list("ZUORA_RESULT_FILE_HOSTS", value)

    @property
    def result_file_rules(self) -> tuple[HostRule, ...]:
        """ZUORA_RESULT_FILE_HOSTS as rules for bot.core.url_rules.allowed_url."""
        return parse_rules(self.result_file_hosts)

    @field_validator("tenant_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"ZUORA_TENANT_TIMEZONE {value!r} is not an IANA zone") from exc
        return value

    @field_validator("entity_id", "org_ids")
    @classmethod
    def _header_value(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.fullmatch(r"[A-Za-z0-9_,\- ]+", value):
            raise ValueError("ZUORA_ENTITY_ID / ZUORA_ORG_IDS hold letters, digits, '-' and ','")
        return value.strip()

    @property
    def tz(self) -> ZoneInfo:
        """The tenant's zone as a tzinfo."""
        return ZoneInfo(self.tenant_timezone)
