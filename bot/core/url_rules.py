"""Which hosts the bot may send to: response_urls only to Slack's, result files only from Zuora's.

A rule list is a comma-separated setting. Each entry is a host (`hooks.slack.com`), a wildcard for the
subdomains of one (`*.amazonaws.com`), or an origin with a scheme (`http://127.0.0.1:8123`). A host
without a scheme allows https only; `http://` has to be written out, so only a sandbox or test
configures it. A port, when given, must match; without one any port does.

URLs are judged as strictly as the tighter of the parsers that later open them: user-info, blanks,
backslashes and control characters are refused outright, so no parser can read a different host
from the one checked here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_HOST = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_ENTRY = re.compile(r"(?:(?P<scheme>https?)://)?(?P<host>[^:/]+)(?::(?P<port>[0-9]{1,5}))?/?")
# Anything a URL parser could read differently: whitespace, controls, backslashes, non-ASCII.
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\U0010ffff\\]")
MAX_URL_LENGTH = 4096


class HostRuleError(ValueError):
    """An allow-list entry that is not a host, `*.domain` or `scheme://host[:port]`."""


@dataclass(frozen=True)
class HostRule:
    """One allowed place: scheme, host (or `*.` suffix) and an optional port."""

    scheme: str
    host: str
    port: int | None

    def matches(self, scheme: str, host: str, port: int | None) -> bool:
        """Whether a URL with this scheme, host and effective port is allowed by this rule."""
        if scheme != self.scheme:
            return False
        if self.port is not None and port != self.port:
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and len(host) > len(self.host) - 1
        return host == self.host

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        prefix = "" if self.scheme == "https" else f"{self.scheme}://"
        return f"{prefix}{self.host}{port}"


def parse_rules(text: str) -> tuple[HostRule, ...]:
    """The rules of a comma-separated allow-list; HostRuleError names a malformed entry."""
    rules = []
    for raw in text.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        match = _ENTRY.fullmatch(entry)
        if match is None or not _HOST.fullmatch(match["host"]):
            raise HostRuleError(f"{raw.strip()!r} is not a host, *.domain or scheme://host[:port]")
        port = int(match["port"]) if match["port"] else None
        if port is not None and not 0 < port < 65536:
            raise HostRuleError(f"{raw.strip()!r} has no valid port")
        rules.append(HostRule(match["scheme"] or "https", match["host"].rstrip("."), port))
    return tuple(rules)


def allowed_url(url: str, rules: tuple[HostRule, ...]) -> bool:
    """Whether `url` is an absolute http(s) URL, plain enough to parse one way, on an allowed host."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or _UNSAFE.search(url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        return False
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("https", "http") or not host or "@" in parts.netloc:
        return False
    return any(rule.matches(scheme, host, port) for rule in rules)


def host_of(url: str) -> str:
    """The host of `url` for a log line (never its path or query, which may hold a token)."""
    try:
        return (urlsplit(url).hostname or "?")[:100]
    except ValueError:
        return "?"
