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
    """`text` without Slack's markup: tokens resolved, `*_~` and backticks dropped, `&amp;` unescaped.

    Styles are taken off around the `<…>` tokens, never inside them: a link's label is shown as the
    reader sees it, `*` and all (an account may be named `Smith & Sons *Inc*`).
    """
    tokens: list[str] = []

    def hold(match: re.Match[str]) -> str:
        tokens.append(html.unescape(_token(match)))
        return f"\x00{len(tokens) - 1}\x00"

    text = _TOKEN.sub(hold, text.replace("```", ""))
    for style in _STYLE:
        text = style.sub(r"\1", text)
    text = html.unescape(text)
    return re.sub(r"\x00(\d+)\x00", lambda m: tokens[int(m.group(1))], text)
