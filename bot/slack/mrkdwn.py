"""Safe pieces of Slack mrkdwn: escaping, truncation, links, dates, mentions and code.

Slack treats only `&`, `<` and `>` as control characters (slack-platform.md §7). Anything that came from
Zuora or from a user goes through `escape` (or `escape_truncated`) before it is placed in mrkdwn; the
helpers here build the few tokens we do want Slack to interpret (links, dates, user mentions).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit, urlunsplit

from bot.core.secrets_mask import MAX_URL_CHARS, mask_path_segment

ELLIPSIS = "…"

_ENTITY = re.compile(r"&(?:amp|lt|gt);")
_LONGEST_ENTITY = len("&amp;")
_USER_ID = re.compile(r"^[UWB][A-Z0-9]{2,30}$")
_MENTION = re.compile(
    r"^<(?:#[CG][A-Z0-9]{2,30}|@[UW][A-Z0-9]{2,30}|!subteam\^S[A-Z0-9]{2,30})(?:\|[^<>]*)?>$"
)
_MAX_TOKEN_CHARS = 32  # a Slack user id; longer text is refused before the pattern reads it
_MAX_MENTION_CHARS = 300  # `<#C…|name>` with Slack's longest names; longer text is never a mention
_DATE_FORMAT_FORBIDDEN = frozenset("^|<>")
# Characters kept as they are when a URL is made safe for `<url|label>`; everything else is
# percent-encoded, so `|`, `<`, `>`, spaces and control characters can never end the token early.
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"
# Backticks cannot be escaped inside Slack code spans; a look-alike keeps the text readable.
_BACKTICK_STANDIN = "ˋ"


def escape(text: str) -> str:
    """Escape Slack's three control characters (`&`, `<`, `>`) and nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters ending in "…", never inside an `&amp;`-style entity."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    # An entity that starts before the cut and ends after it would be split: cut before its `&`.
    amp = text.rfind("&", max(0, cut - _LONGEST_ENTITY + 1), cut)
    if amp != -1:
        entity = _ENTITY.match(text, amp)
        if entity is not None and entity.end() > cut:
            cut = amp
    return text[:cut].rstrip() + ELLIPSIS


def escape_truncated(text: str, limit: int) -> str:
    """Escape `text` and cut the result to at most `limit` characters without splitting an entity."""
    # Escaping only lengthens text, so the first limit+1 raw characters decide the result; this keeps
    # a multi-megabyte error message from being escaped in full.
    return truncate(escape(text[: limit + 1]), limit)


def truncate_mrkdwn(text: str, limit: int) -> str:
    """Cut already-built mrkdwn to `limit` characters without splitting an entity or a `<…>` token."""
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    opened = text.rfind("<", 0, cut)
    if opened != -1 and text.find(">", opened, cut) == -1:
        text = text[:opened]
    return truncate(text, limit)


def redact_url(url: str) -> str:
    """A URL fit to show: scheme, host, port and path only (no user, password, query or fragment).

    Path segments that look like tokens are masked too (bot.core.secrets_mask.mask_path_segment); to show
    a URL with its parameter names, use bot.core.secrets_mask.mask_url.
    """
    text = url[:MAX_URL_CHARS].strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts = None
        port = None
    if parts is not None and parts.scheme and parts.netloc:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{port}" if port is not None else host
        path = "/".join(mask_path_segment(s) for s in parts.path.split("/"))
        return urlunsplit((parts.scheme.lower(), netloc, path, "", ""))
    # Not a URL urllib can read: still drop anything after ? or # and any user info before the host.
    text = re.split(r"[?#]", text, maxsplit=1)[0]
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    authority, slash, path = rest.partition("/")
    path = "/".join(mask_path_segment(s) for s in path.split("/"))
    return f"{scheme}{sep}{authority.rsplit('@', 1)[-1]}{slash}{path}"


def link(url: str, label: str) -> str:
    """A `<url|label>` link: http(s) only, URL percent-encoded where it could break out, label escaped."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError("only absolute http(s) URLs can be linked")
    safe_url = quote(url, safe=_URL_SAFE)
    shown = escape(label) if label.strip() else escape(safe_url)
    return f"<{escape(safe_url)}|{shown}>"


def date_token(
    dt: datetime, fmt: str = "{date_short_pretty} {time}", fallback: str | None = None
) -> str:
    """Slack's `<!date^EPOCH^fmt|fallback>`: each reader sees local time; others see UTC text."""
    if dt.tzinfo is None:
        raise ValueError("date_token needs an aware datetime")
    if _DATE_FORMAT_FORBIDDEN.intersection(fmt):
        raise ValueError("date format may not contain ^, |, < or >")
    if fallback is None:
        fallback = dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    shown = escape(fallback.replace("|", "/"))
    return f"<!date^{int(dt.timestamp())}^{fmt}|{shown}>"


def user(user_id: str) -> str:
    """A `<@U123>` mention of a Slack user id (validated, so it cannot smuggle other tokens)."""
    if len(user_id) > _MAX_TOKEN_CHARS or not _USER_ID.match(user_id):
        raise ValueError("not a Slack user id")
    return f"<@{user_id}>"


def mention_or_text(text: str, limit: int = 200) -> str:
    """A whole channel, user or user-group mention (`<#C…>`, `<@U…>`) kept as is; other text escaped."""
    stripped = text.strip()
    if len(stripped) <= _MAX_MENTION_CHARS and _MENTION.match(stripped):
        return stripped
    return escape_truncated(stripped, limit)


def code(text: str, limit: int = 200) -> str:
    """Inline code of any text: escaped, on one line, backticks replaced, at most `limit` chars inside."""
    one_line = " ".join(text.replace("`", _BACKTICK_STANDIN).split())
    if not one_line:
        return "(empty)"
    return f"`{escape_truncated(one_line, limit)}`"


def code_block(text: str, limit: int = 2000) -> str:
    """A fenced code block of any text: escaped, backticks replaced, at most `limit` chars in total."""
    body = text.replace("`", _BACKTICK_STANDIN).strip("\n") or "(empty)"
    fence = "```"
    inner = max(1, limit - 2 * len(fence) - 2)
    return f"{fence}\n{escape_truncated(body, inner)}\n{fence}"


_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")


def channel_mention(channel_id: str) -> str:
    """`<#C123>` for a valid channel id; anything else as escaped text."""
    if _CHANNEL_ID.match(channel_id):
        return f"<#{channel_id}>"
    return escape_truncated(channel_id, 40)
