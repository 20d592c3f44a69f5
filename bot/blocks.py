"""Pure Block Kit builders: models in, `SlackMessage(text, blocks)` out, always within Slack's limits.

The builders live in `bot.cards`; this module is the one place handlers import them from.
"""

from __future__ import annotations

from bot.cards.audit import AUDIT_PAGE_SIZE, build_audit_card
from bot.cards.callout import build_callout_details
from bot.cards.failures import (
    account_url,
    build_failures_card,
    page_count,
    page_slice,
)
from bot.cards.message import (
    MAX_BLOCKS,
    MAX_BLOCKS_JSON_CHARS,
    MAX_CHECKBOX_OPTIONS,
    MAX_FIELD_CHARS,
    BlockLimitError,
    SlackMessage,
    blocks_size,
    check_limits,
)
from bot.cards.outages import OUTAGES_PAGE_SIZE, build_outages_card, outage_page_count
from bot.cards.receipt import build_lookup_receipt, build_receipt
from bot.cards.replay import build_replay_busy, build_replay_progress, build_replay_summary
from bot.cards.resend import (
    build_batch_progress,
    build_resend_confirm,
    build_resend_outcome,
    build_resend_outcomes,
    build_resend_progress,
)
from bot.cards.simple import (
    build_access_denied,
    build_error,
    build_help,
    build_notice,
    build_placeholder,
    build_stale_button,
    build_status,
    build_usage_error,
)

__all__ = [
    "AUDIT_PAGE_SIZE",
    "build_audit_card",
    "MAX_BLOCKS",
    "MAX_BLOCKS_JSON_CHARS",
    "MAX_CHECKBOX_OPTIONS",
    "MAX_FIELD_CHARS",
    "BlockLimitError",
    "SlackMessage",
    "account_url",
    "blocks_size",
    "build_access_denied",
    "build_callout_details",
    "build_error",
    "build_failures_card",
    "build_help",
    "build_lookup_receipt",
    "build_receipt",
    "build_replay_busy",
    "build_replay_progress",
    "build_replay_summary",
    "build_notice",
    "build_outages_card",
    "OUTAGES_PAGE_SIZE",
    "outage_page_count",
    "build_placeholder",
    "build_resend_confirm",
    "build_batch_progress",
    "build_resend_outcome",
    "build_resend_outcomes",
    "build_resend_progress",
    "build_stale_button",
    "build_status",
    "build_usage_error",
    "check_limits",
    "page_count",
    "page_slice",
]
