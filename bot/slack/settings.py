"""Slack settings: tokens, the signing secret, the Web API URL and the hosts a response_url may name."""

from __future__ import annotations

from pydantic import (
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.settings_base import (
    SettingsError,
    env_name,
    host_list,
    http_url,
    require_secret,
)
from bot.core.url_rules import HostRule, parse_rules

# The prefix a secret's value must start with, by field; a field not named here takes any value.
_SECRET_PREFIXES = {"bot_token": "xoxb-"}


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

    @field_validator("bot_token", "signing_secret")
    @classmethod
    def _secret(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        field = str(info.field_name)
        return require_secret(env_name(cls, field), value, _SECRET_PREFIXES.get(field))

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
            return require_secret("SLACK_APP_TOKEN", self.app_token, "xapp-").get_secret_value()
        except ValueError as exc:
            raise SettingsError([str(exc)]) from None

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return http_url("SLACK_API_URL", value, trailing_slash=True)

    @field_validator("response_url_hosts")
    @classmethod
    def _response_url_hosts(cls, value: str) -> str:
        return host_list("SLACK_RESPONSE_URL_HOSTS", value)

    @property
    def response_url_rules(self) -> tuple[HostRule, ...]:
        """SLACK_RESPONSE_URL_HOSTS as rules for bot.core.url_rules.allowed_url."""
        return parse_rules(self.response_url_hosts)
