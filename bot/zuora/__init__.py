"""Zuora REST client: notification history, accounts and resend, with its models and errors."""

from bot.zuora.auth import TokenStatus, ZuoraOAuth
from bot.zuora.client import ZuoraClient, build_http_client, chunk_idempotency_key, wire_time
from bot.zuora.errors import (
    ZuoraAuthError,
    ZuoraConnectionError,
    ZuoraError,
    ZuoraInputError,
    ZuoraNotFoundError,
    ZuoraQueryError,
    ZuoraRateLimitError,
    ZuoraReason,
    ZuoraResponseValidationError,
    ZuoraServerError,
    ZuoraStatusError,
    ZuoraTimeoutError,
)
from bot.zuora.guard import validate_account_key, validate_history_id
from bot.zuora.models import (
    Account,
    CalloutHistory,
    EmailHistory,
    NotificationKind,
    Page,
    ResendFailure,
    ResendResult,
    TimeWindow,
)
from bot.zuora.retry import RetryPolicy, compute_delay, should_retry
from bot.zuora.track import new_track_id, validate_track_id

__all__ = [
    "Account",
    "CalloutHistory",
    "EmailHistory",
    "NotificationKind",
    "Page",
    "ResendFailure",
    "ResendResult",
    "RetryPolicy",
    "TimeWindow",
    "TokenStatus",
    "ZuoraAuthError",
    "ZuoraClient",
    "ZuoraConnectionError",
    "ZuoraError",
    "ZuoraInputError",
    "ZuoraNotFoundError",
    "ZuoraOAuth",
    "ZuoraQueryError",
    "ZuoraRateLimitError",
    "ZuoraReason",
    "ZuoraResponseValidationError",
    "ZuoraServerError",
    "ZuoraStatusError",
    "ZuoraTimeoutError",
    "build_http_client",
    "chunk_idempotency_key",
    "compute_delay",
    "new_track_id",
    "should_retry",
    "validate_account_key",
    "validate_history_id",
    "validate_track_id",
    "wire_time",
]
