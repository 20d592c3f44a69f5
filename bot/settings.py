"""Typed, validated settings, one class per area, built once at each entry point and passed down."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.secrets_mask import mask_database_url, mask_url
from bot.url_rules import HostRule, HostRuleError, parse_rules

_PLACEHOLDER = re.compile(
    r"(^|[-_])(changeme|change-me|placeholder|your|dummy|example|replace|todo|xxx+)([-_]|$)|^<.*>$",
    re.IGNORECASE,
)
_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# The Slack IDs .env.example and the docs use as examples: a copied example is refused like a placeholder.
EXAMPLE_SLACK_IDS = frozenset({"U0123ABCD", "S0456EFGH", "C0123ABCD"})


class SettingsError(Exception):
    """Settings are missing or invalid; the message names each variable and what to do."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid settings:\n  " + "\n  ".join(problems))
        self.problems = problems


def _reject_placeholder(env_name: str, value: str) -> None:
    if _PLACEHOLDER.search(value):
        raise ValueError(f"{env_name} still holds a placeholder value; set the real one")


def _require_secret(env_name: str, value: SecretStr, prefix: str | None = None) -> SecretStr:
    raw = value.get_secret_value().strip()
    if not raw:
        raise ValueError(f"{env_name} is empty")
    _reject_placeholder(env_name, raw)
    if prefix and not raw.startswith(prefix):
        raise ValueError(f"{env_name} must start with {prefix!r}")
    return SecretStr(raw)


def _http_url(env_name: str, value: str, *, trailing_slash: bool) -> str:
    value = value.strip()
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{env_name} must be an http(s) URL, got {value!r}")
    value = value.rstrip("/")
    return value + "/" if trailing_slash else value


def _host_list(env_name: str, value: str) -> str:
    try:
        rules = parse_rules(value)
    except HostRuleError as exc:
        raise ValueError(f"{env_name}: {exc}") from None
    if not rules:
        raise ValueError(f"{env_name} is empty; name at least one host")
    return ",".join(str(rule) for rule in rules)


class SlackSettings(BaseSettings):
    """Slack credentials and endpoint."""

    model_config = SettingsConfigDict(env_prefix="SLACK_", extra="ignore")

    bot_token: SecretStr = Field(
        description="Bot User OAuth token (`xoxb-…`) from the app's OAuth & Permissions page."
    )
    signing_secret: SecretStr = Field(
        description="Signing secret from the app's Basic Information page; verifies every request."
    )
    app_token: SecretStr | None = Field(
        default=None,
        description="App-level token (`xapp-…`, scope `connections:write`); Socket Mode only.",
    )
    api_url: str = Field(
        default="https://slack.com/api/",
        description="Slack Web API base URL (tests and the demo point it at a local fake).",
    )
    response_url_hosts: str = Field(
        default="hooks.slack.com",
        description="Comma list of hosts the bot may post a `response_url` to (https only; "
        "`*.domain` for subdomains, `http://host:port` for a local fake); any other is refused "
        "and logged.",
    )
    max_body_bytes: int = Field(
        default=1048576,
        ge=1024,
        le=16777216,
        description="Largest request body accepted on /slack/events; a larger one gets 413 "
        "before it is read.",
    )

    @field_validator("bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        return _require_secret("SLACK_BOT_TOKEN", value, "xoxb-")

    @field_validator("signing_secret")
    @classmethod
    def _signing_secret(cls, value: SecretStr) -> SecretStr:
        return _require_secret("SLACK_SIGNING_SECRET", value)

    @field_validator("app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked by socket_mode_token(), not here: HTTP mode never uses it, so a placeholder left in
        # a copied .env.example must not stop an HTTP deployment.
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    def socket_mode_token(self) -> str:
        """SLACK_APP_TOKEN for Socket Mode, or SettingsError saying what is wrong with it."""
        if self.app_token is None:
            raise SettingsError(["SLACK_APP_TOKEN (xapp-…) is required for --socket-mode"])
        try:
            return _require_secret("SLACK_APP_TOKEN", self.app_token, "xapp-").get_secret_value()
        except ValueError as exc:
            raise SettingsError([str(exc)]) from None

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _http_url("SLACK_API_URL", value, trailing_slash=True)

    @field_validator("response_url_hosts")
    @classmethod
    def _response_url_hosts(cls, value: str) -> str:
        return _host_list("SLACK_RESPONSE_URL_HOSTS", value)

    @property
    def response_url_rules(self) -> tuple[HostRule, ...]:
        """SLACK_RESPONSE_URL_HOSTS as rules for bot.url_rules.allowed_url."""
        return parse_rules(self.response_url_hosts)


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
    result_file_hosts: str = Field(
        default="*.amazonaws.com",
        description="Comma list of hosts Data Query result files may be fetched from (https "
        "only; Zuora names an S3 URL; `http://host:port` for a local fake).",
    )

    @field_validator("client_id")
    @classmethod
    def _client_id(cls, value: SecretStr) -> SecretStr:
        return _require_secret("ZUORA_CLIENT_ID", value)

    @field_validator("client_secret")
    @classmethod
    def _client_secret(cls, value: SecretStr) -> SecretStr:
        return _require_secret("ZUORA_CLIENT_SECRET", value)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return _http_url("ZUORA_BASE_URL", value, trailing_slash=False)

    @field_validator("ui_url")
    @classmethod
    def _ui_url(cls, value: str) -> str:
        return _http_url("ZUORA_UI_URL", value, trailing_slash=False)

    @field_validator("result_file_hosts")
    @classmethod
    def _result_file_hosts(cls, value: str) -> str:
        return _host_list("ZUORA_RESULT_FILE_HOSTS", value)

    @property
    def result_file_rules(self) -> tuple[HostRule, ...]:
        """ZUORA_RESULT_FILE_HOSTS as rules for bot.url_rules.allowed_url."""
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
            if item != "*" and not _SLACK_ID.match(item):
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
        if not _CHANNEL_ID.match(value.strip()):
            raise ValueError(f"AUDIT_CHANNEL must be a channel ID like C0123ABCD, got {value!r}")
        if value.strip() in EXAMPLE_SLACK_IDS:
            raise ValueError(
                f"AUDIT_CHANNEL still holds the example ID {value.strip()}; set the real channel "
                "ID or leave it empty"
            )
        return value.strip()


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
        if not _HHMM.match(value.strip()):
            raise ValueError("DIGEST_DEFAULT_TIME must look like 09:00")
        return value.strip()


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
    runtime: RuntimeSettings = Field(default_factory=lambda: RuntimeSettings(_env_file=None))

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
    RuntimeSettings,
)


A = TypeVar("A", bound=BaseSettings)


def load_area(area: type[A], env_file: str | None = ".env") -> A:
    """Build one area's settings, turning pydantic's error into one that names the variables."""
    try:
        return area(_env_file=env_file)
    except ValidationError as exc:
        raise SettingsError(_explain(area, exc)) from None


def env_name(area: type[BaseSettings], field: str) -> str:
    """The environment variable that sets `field` of `area`."""
    prefix = str(area.model_config.get("env_prefix") or "")
    return f"{prefix}{field}".upper()


def _explain(area: type[BaseSettings], exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = env_name(area, field)
        if error["type"] == "missing":
            lines.append(f"{name} is not set: add it to the environment or .env (see .env.example)")
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(message if name in message else f"{name}: {message}")
    return lines


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
        ("DATABASE_URL", mask_database_url(settings.store.database_url)),
    ]
