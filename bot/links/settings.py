"""Link settings: which hosts' Zuora links unfurl, and how many links one message may unfurl."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_DOMAIN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-:")


class LinkSettings(BaseSettings):
    """Zuora link unfurls: extra domains beside ZUORA_UI_URL's host, and the per-message bound."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    zuora_unfurl_domains: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        description="Comma list of extra hosts (e.g. `apisandbox.zuora.com`) whose Zuora account "
        "links unfurl, besides ZUORA_UI_URL's host; each must also be in the manifest's "
        "`unfurl_domains`.",
    )
    zuora_unfurl_max_links: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Most Zuora account links unfurled from one message; the rest stay plain links.",
    )

    @field_validator("zuora_unfurl_domains", mode="before")
    @classmethod
    def _domains(cls, value: object) -> frozenset[str]:
        words = value.split(",") if isinstance(value, str) else value
        if not isinstance(words, (list, tuple, set, frozenset)):
            raise ValueError("ZUORA_UNFURL_DOMAINS: a comma list of hosts")
        domains = frozenset(str(word).strip().lower() for word in words if str(word).strip())
        bad = sorted(d for d in domains if not set(d) <= _DOMAIN_CHARS or "." not in d)
        if bad:
            raise ValueError(f"ZUORA_UNFURL_DOMAINS: not a host name: {', '.join(bad)[:200]}")
        return domains
