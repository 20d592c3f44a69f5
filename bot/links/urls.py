"""Pure parsing of Zuora account links and account keys in message text; no Slack, no Zuora.

Accepted link forms, on the host of ZUORA_UI_URL or an extra unfurl domain:

- `{UI}/apps/CustomerAccount.do?method=view&id={accountId}`: the form the bot's own cards link to
  (bot.failures.cards.account_url).
- GUESS: `{UI}/apps/CustomerAccount.do?method=view&accountNumber={number}`: the bot never builds
  it; accepted because the page is the same, the key being a number instead of an id.
- GUESS: `{UI}/platform/apps/search?searchTerm={key}&searchObjectType=account`: Zuora's search page
  (shared zuora-api.md "Deep links"); the bot never builds it, and we assume the term is one
  account number or id (any other term is ignored).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from bot.core.patterns import ACCOUNT_NUMBER_PATTERN, OBJECT_ID_PATTERN

#: A link longer than this is not one of Zuora's account pages; it is ignored unread.
MAX_URL_CHARS = 2000
#: The most keys the shortcut reads from one message (a pasted export is not a question).
MAX_KEYS_IN_TEXT = 25
_ACCOUNT_PAGE = "/apps/customeraccount.do"
_SEARCH_PAGE = "/platform/apps/search"
_KEY = re.compile(rf"(?:{ACCOUNT_NUMBER_PATTERN}|{OBJECT_ID_PATTERN})")
_NUMBER_OR_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# A key stands alone: not inside a longer word, id or URL path segment.
_KEY_IN_TEXT = re.compile(rf"(?<![A-Za-z0-9_-])(?:{_KEY.pattern})(?![A-Za-z0-9_-])")
_SLACK_LINK = re.compile(r"<(https?://[^|>\s]+)(?:\|[^>]*)?>")


@dataclass(frozen=True)
class AccountLink:
    """One recognised Zuora account link: the account key it names and how it names it."""

    url: str
    key: str
    by: Literal["id", "number", "search"]


def link_hosts(ui_url: str, extra_domains: Iterable[str]) -> frozenset[str]:
    """The hosts whose links are Zuora's: ZUORA_UI_URL's host (with its port) and the extras."""
    parts = urlsplit(ui_url)
    hosts = {parts.netloc.lower()} if parts.netloc else set()
    hosts.update(domain.strip().lower() for domain in extra_domains if domain.strip())
    return frozenset(hosts)


def parse_account_link(url: str, hosts: frozenset[str]) -> AccountLink | None:
    """The account a Zuora UI link names, or None for any other link (foreign host, other page)."""
    if len(url) > MAX_URL_CHARS:
        return None
    parts = urlsplit(html.unescape(url))
    if parts.scheme.lower() not in ("http", "https"):
        return None
    if parts.netloc.lower() not in hosts and (parts.hostname or "") not in hosts:
        return None
    query = {key.lower(): values[-1] for key, values in parse_qs(parts.query).items()}
    path = parts.path.rstrip("/").lower()
    if path == _ACCOUNT_PAGE and query.get("method", "view").lower() == "view":
        if _is_key(query.get("id")):
            return AccountLink(url, query["id"], "id")
        if _is_key(query.get("accountnumber")):
            return AccountLink(url, query["accountnumber"], "number")
    if path == _SEARCH_PAGE and query.get("searchobjecttype", "").lower() == "account":
        if _is_key(query.get("searchterm")):
            return AccountLink(url, query["searchterm"], "search")
    return None


def account_keys_in_text(text: str, hosts: frozenset[str]) -> list[str]:
    """Account keys in a message, first seen first: Zuora links, numbers like A00000001, 32-hex ids."""
    found: list[str] = []
    for match in _SLACK_LINK.finditer(text):
        link = parse_account_link(match.group(1), hosts)
        if link is not None:
            found.append(link.key)
    without_links = _SLACK_LINK.sub(" ", text)
    found.extend(match.group(0) for match in _KEY_IN_TEXT.finditer(without_links))
    unique = list(dict.fromkeys(found))
    return unique[:MAX_KEYS_IN_TEXT]


def _is_key(value: str | None) -> bool:
    return value is not None and _NUMBER_OR_ID.fullmatch(value) is not None and ".." not in value
