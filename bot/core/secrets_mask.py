"""Mask the secrets a URL can carry before it is shown in a card, the CLI or a log line.

Callout URLs are written by customers' integrations, so any part of them may be a credential: the
userinfo (`//u:pw@h`), query and fragment values (`?token=whsec_…`, `#access_token=…`), matrix
parameters (`/hook;jsessionid=…`) and path segments that are themselves the secret (Slack-style
`/services/T…/B…/<24 random characters>`, webhook.site-style UUIDs). The functions here are pure,
bound their input before any regex runs, and keep what an operator needs to recognise an endpoint:
scheme, host, port, the words of the path and the *names* of parameters.

Every query and fragment value is masked, not only secret-looking ones: a secret's parameter name is
chosen by whoever built the endpoint (`sig`, `code`, `k`, `X-Amz-Signature`, …), so no list of names
is complete, and an operator needs the names, not the values, to recognise an endpoint. Database URLs
are the exception (`mask_database_url`): their parameters are the driver's own (`sslmode`,
`connect_timeout`), so there only the password and password-ish parameters are masked.
"""

from __future__ import annotations

import re

MASK = "***"
MAX_URL_CHARS = 2048
MAX_TEXT_CHARS = 20_000
ELLIPSIS = "…"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}:")
_RUNS = re.compile(r"[A-Za-z0-9]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Characters a path token is made of (base64url, hex, percent-encoding, JWT dots).
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_.~+=%-]+")
_URL_IN_TEXT = re.compile(r"\b(?:https?|ftp|wss?)://[^\s<>\"'`|]+", re.IGNORECASE)
_SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key|auth|cred|sig", re.IGNORECASE)
# Where a cut URL's last, partial piece starts (it is dropped, so no fragment of a secret shows).
_PIECE_ENDS = "/?&;#=@:"


def looks_like_token(text: str) -> bool:
    """Whether a path segment (or bare parameter) looks like a random credential rather than a word.

    A run of 16+ letters and digits mixing both (hex ids, API keys, `whsec_…`), a run of 24+ letters
    mixing cases (a random key that happens to hold no digit), a UUID, or 32+ token characters in a
    row (base64url and JWT-like values) count; words, slugs, short numbers and Slack's T…/B… ids do
    not. It over-masks a few long ids on purpose: showing `***` for an id costs little.
    """
    text = text[:MAX_URL_CHARS]
    if _UUID.search(text):
        return True
    for run in _RUNS.findall(text):
        has_digit = any(c.isdigit() for c in run)
        has_alpha = any(c.isalpha() for c in run)
        if len(run) >= 16 and has_digit and has_alpha:
            return True
        if len(run) >= 24 and any(c.isupper() for c in run) and any(c.islower() for c in run):
            return True
    return any(len(chunk) >= 32 for chunk in _TOKEN_CHARS.findall(text))


def mask_url(url: str, *, limit: int = MAX_URL_CHARS) -> str:
    """`url` with userinfo, every query/fragment value, matrix parameters and token-like segments masked.

    Scheme, host, port, plain path words and parameter names stay. Input longer than `limit` is cut
    first, and the cut's last partial piece is dropped, so a secret is never half shown.
    """
    text = url[: limit + 1].strip()
    cut = len(text) > limit
    if cut:
        text = text[:limit]
        last = max(text.rfind(c) for c in _PIECE_ENDS)
        text = text[: last + 1] if last > 0 else ""
    masked = _mask_whole(text)
    return masked + ELLIPSIS if cut else masked


def mask_database_url(url: str, *, limit: int = MAX_URL_CHARS) -> str:
    """A database URL fit for status and logs: the password and password-ish query values masked.

    `postgresql+psycopg://app:pw@db/zops?password=pw&sslmode=require` becomes
    `postgresql+psycopg://app:***@db/zops?password=***&sslmode=require`.
    """
    text = url[: limit + 1].strip()
    if len(text) > limit:
        return mask_url(text, limit=limit)  # no database URL is this long: mask everything
    head, sep, query = text.partition("?")
    scheme, slashes, rest = head.partition("://")
    if slashes:
        authority, slash, path = rest.partition("/")
        userinfo, at, host = authority.rpartition("@")
        if at:
            name, colon, _password = userinfo.partition(":")
            userinfo = f"{name}:{MASK}" if colon else name
        head = f"{scheme}://{userinfo}{at}{host}{slash}{path}"
    if not sep:
        return head
    query, hash_sign, _fragment = query.partition("#")
    pairs = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        if eq and value and _SECRET_PARAM.search(name):
            value = MASK
        pairs.append(f"{name}{eq}{value}")
    return f"{head}?{'&'.join(pairs)}{hash_sign and '#' + MASK}"


def mask_urls_in_text(text: str, *, limit: int = MAX_TEXT_CHARS) -> str:
    """Free text (an error message, a response excerpt) with every URL in it masked; cut to `limit`."""
    bounded = text[:limit]
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), bounded)


def mask_path_segment(segment: str) -> str:
    """One path segment: matrix parameter values masked, `name=value` masked, a token as `***`."""
    base, semi, params = segment.partition(";")
    name, eq, _value = base.partition("=")
    if eq:
        base = f"{name}={MASK}"
    elif looks_like_token(base):
        base = MASK
    if not semi:
        return base
    return f"{base};{_mask_pairs(params, ';')}"


def _mask_whole(text: str) -> str:
    """Mask an already bounded URL (or scheme-less `host/path` or bare path)."""
    scheme = ""
    match = _SCHEME.match(text)
    if match and text[match.end() : match.end() + 2] == "//":
        scheme, text = match.group(0), text[match.end() :]
    rest = text
    authority = ""
    if rest.startswith("//"):
        authority, rest = _split_authority(rest[2:])
        authority = "//" + _mask_authority(authority)
    else:
        first = re.split(r"[/?#]", rest, maxsplit=1)[0]
        if "@" in first:  # `user:pw@host/path` without a scheme
            authority, rest = _split_authority(rest)
            authority = _mask_authority(authority)
    rest, hash_sign, fragment = rest.partition("#")
    path, question, query = rest.partition("?")
    shown = "/".join(mask_path_segment(segment) for segment in path.split("/"))
    if question:
        shown += "?" + _mask_pairs(query, "&")
    if hash_sign:
        shown += "#" + _mask_pairs(fragment, "&")
    return f"{scheme}{authority}{shown}"


def _split_authority(text: str) -> tuple[str, str]:
    """Split `host:port/rest` into the authority and what follows it (starting at / ? or #)."""
    end = len(text)
    for char in "/?#":
        found = text.find(char)
        if found != -1:
            end = min(end, found)
    return text[:end], text[end:]


def _mask_authority(authority: str) -> str:
    """Replace the whole userinfo (a user name can be the token itself) by `***`."""
    _userinfo, at, host = authority.rpartition("@")
    return f"{MASK}@{host}" if at else host


def _mask_pairs(text: str, separator: str) -> str:
    """`a=1&wsdl&c=3` -> `a=***&wsdl&c=***`: every value masked; a bare item too unless it is a word.

    A bare item (`?wsdl`, `?v2`) is usually a flag; it is kept when it is a short word or number,
    masked when it is longer or mixes letters and digits (`?s3cr3t`), which is how secrets look.
    """
    if not text:
        return text
    out = []
    for pair in text.split(separator):
        name, eq, value = pair.partition("=")
        if eq:
            out.append(f"{MASK if looks_like_token(name) else name}={MASK if value else ''}")
        else:
            out.append(name if _plain_flag(name) else MASK)
    return separator.join(out)


def _plain_flag(text: str) -> bool:
    """A bare parameter that reads as a flag: letters only, digits only, or a short `v2`-style word."""
    if len(text) > 12:
        return False
    return text.isalpha() or text.isdigit() or bool(re.fullmatch(r"[A-Za-z]{1,3}\d{1,2}", text))
