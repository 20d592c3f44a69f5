"""What every settings area shares: placeholder and secret checks, URL and host-list rules, clear errors."""

from __future__ import annotations

import re
from typing import TypeVar

from pydantic import (
    SecretStr,
    ValidationError,
)
from pydantic_settings import BaseSettings

from bot.core.url_rules import HostRuleError, parse_rules

_PLACEHOLDER = re.compile(
    r"(^|[-_])(changeme|change-me|placeholder|your|dummy|example|replace|todo|xxx+)([-_]|$)|^<.*>$",
    re.IGNORECASE,
)
SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# The Slack IDs .env.example and the docs use as examples: a copied example is refused like a placeholder.
EXAMPLE_SLACK_IDS = frozenset({"U0123ABCD", "S0456EFGH", "C0123ABCD"})


class SettingsError(Exception):
    """Settings are missing or invalid; the message names each variable and what to do."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid settings:\n  " + "\n  ".join(problems))
        self.problems = problems


def reject_placeholder(env_name: str, value: str) -> None:
    if _PLACEHOLDER.search(value):
        raise ValueError(f"{env_name} still holds a placeholder value; set the real one")


def require_secret(env_name: str, value: SecretStr, prefix: str | None = None) -> SecretStr:
    raw = value.get_secret_value().strip()
    if not raw:
        raise ValueError(f"{env_name} is empty")
    reject_placeholder(env_name, raw)
    if prefix and not raw.startswith(prefix):
        raise ValueError(f"{env_name} must start with {prefix!r}")
    return SecretStr(raw)


def http_url(env_name: str, value: str, *, trailing_slash: bool) -> str:
    value = value.strip()
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"{env_name} must be an http(s) URL, got {value!r}")
    value = value.rstrip("/")
    return value + "/" if trailing_slash else value


def host_list(env_name: str, value: str) -> str:
    try:
        rules = parse_rules(value)
    except HostRuleError as exc:
        raise ValueError(f"{env_name}: {exc}") from None
    if not rules:
        raise ValueError(f"{env_name} is empty; name at least one host")
    return ",".join(str(rule) for rule in rules)


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
