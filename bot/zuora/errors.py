"""Errors raised by the Zuora client; handlers catch only these.

```
ZuoraError                        base: message, track_id
  ZuoraInputError                 a key or id failed the input guard; no request was sent
  ZuoraConnectionError            could not reach Zuora
    ZuoraTimeoutError             Zuora did not answer in time
  ZuoraStatusError                status_code, track_id, reasons, body
    ZuoraAuthError                401, 403 (credentials rejected or missing permission)
    ZuoraNotFoundError            404, or 200 with success=false and a not-found reason
    ZuoraRateLimitError           429 (retry_after)
    ZuoraServerError              5xx
  ZuoraResponseValidationError    a 2xx body we could not understand
  ZuoraQueryError                 a Data Query job failed, was cancelled or timed out
```

Any of them may carry `outcome_unknown`: a request that changes something (a resend) may have been
carried out although no definite answer came back (a timeout or a dropped connection after the
request was sent, a 5xx, or a refusal of a retry after such a try). The caller must then ask again
with the same Idempotency-Key, never treat it as a failure (see `is_unknown_outcome`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict, Unpack


@dataclass(frozen=True)
class ZuoraReason:
    """One entry of Zuora's `reasons` list: an 8-digit code (kept as text) and a message."""

    code: str
    message: str


class ZuoraError(Exception):
    """Base of every error the Zuora client raises."""

    def __init__(self, message: str, *, track_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.track_id = track_id
        # Set by the client on a POST whose effect at Zuora is unknown (see the module docstring).
        self.outcome_unknown = False


def is_unknown_outcome(exc: BaseException) -> bool:
    """Whether a failed call may still have been carried out by Zuora (ask again with the same key)."""
    return isinstance(exc, ZuoraError) and exc.outcome_unknown


class ZuoraInputError(ZuoraError, ValueError):
    """A caller-supplied key or id is malformed; nothing was sent to Zuora."""


class ZuoraConnectionError(ZuoraError):
    """Zuora could not be reached (DNS, refused, reset), or the connection broke before an answer.

    `request_sent` is False only when the request certainly never left (no connection was made).
    """

    def __init__(
        self, message: str, *, track_id: str | None = None, request_sent: bool = True
    ) -> None:
        super().__init__(message, track_id=track_id)
        self.request_sent = request_sent


class ZuoraTimeoutError(ZuoraConnectionError):
    """Zuora did not answer within the configured timeout."""


class ZuoraStatusError(ZuoraError):
    """Zuora answered with an error status (or success=false)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        track_id: str | None = None,
        reasons: tuple[ZuoraReason, ...] = (),
        body: str = "",
    ) -> None:
        super().__init__(message, track_id=track_id)
        self.status_code = status_code
        self.reasons = reasons
        self.body = body

    @property
    def reason_text(self) -> str:
        """Zuora's reasons joined for display, or an empty string."""
        return "; ".join(f"{r.message} ({r.code})" if r.code else r.message for r in self.reasons)


class ZuoraAuthError(ZuoraStatusError):
    """Zuora rejected the credentials (401) or the user lacks a permission (403)."""


class StatusDetails(TypedDict, total=False):
    """What every status error may carry besides its message (see ZuoraStatusError)."""

    status_code: int
    track_id: str | None
    reasons: tuple[ZuoraReason, ...]
    body: str


class ZuoraNotFoundError(ZuoraStatusError):
    """The account, record or endpoint does not exist."""

    def __init__(
        self, message: str, *, key: str | None = None, **details: Unpack[StatusDetails]
    ) -> None:
        super().__init__(message, **({"status_code": 404} | details))
        self.key = key


class ZuoraRateLimitError(ZuoraStatusError):
    """Zuora throttled us (429): too many requests or too many in flight."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, **details: Unpack[StatusDetails]
    ) -> None:
        super().__init__(message, **({"status_code": 429} | details))
        self.retry_after = retry_after


class ZuoraServerError(ZuoraStatusError):
    """Zuora failed on its side (5xx)."""


class ZuoraResponseValidationError(ZuoraError):
    """A successful response whose body did not match what the API documents."""


class ZuoraQueryError(ZuoraError):
    """A Data Query job ended failed or cancelled, or did not finish in time."""


class ZuoraClosedError(ZuoraError):
    """The client was closed (the bot is stopping); never retried."""
