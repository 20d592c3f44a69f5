"""Slack mrkdwn turned into plain text for a terminal (the CLI's `digest --dry-run`)."""

from __future__ import annotations

import html
import re

_TOKEN = re.compile(r"<([^<>]*)>")
_STYLE = [
    re.compile(r"(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])"),  # *bold*
    re.compile(r"(?<![\w_])_(?=\S)([^_\n]*?\S)_(?![\w_])"),  # _italic_
    re.compile(r"(?<![\w~])~(?=\S)([^~\n]*?\S)~(?![\w~])"),  # ~strike~
    re.compile(r"`([^`\n]+)`"),  # `code`
]


def _token(match: re.Match[str]) -> str:
    """One `<…>` token as a terminal shows it: dates by their UTC fallback, links as `label (url)`."""
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("!date^"):
        return label or target
    if target.startswith("!"):  # <!here>, <!channel>, <!subteam^S1|@ops>
        return label or "@" + target[1:].split("^", 1)[0]
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("@"):
        return label or target
    if label and label != target:
        return f"{label} ({target})"
    return target


def mrkdwn_to_plain(text: str) -> str:
    """`text` without Slack's markup: tokens resolved, `*_~` and backticks dropped, `&amp;` unescaped."""
    text = text.replace("```", "")
    text = _TOKEN.sub(_token, text)
    for style in _STYLE:
        text = style.sub(r"\1", text)
    return html.unescape(text)
