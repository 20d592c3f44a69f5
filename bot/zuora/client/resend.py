"""Resend: notification history ids resent in idempotent chunks of at most 1,000."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

from bot.core.kinds import NotificationKind
from bot.zuora.client.status import raise_for_status
from bot.zuora.client.transport import Transport
from bot.zuora.errors import (
    ZuoraError,
    ZuoraInputError,
    ZuoraResponseValidationError,
    ZuoraStatusError,
)
from bot.zuora.guard import validate_history_id
from bot.zuora.models import ResendFailure, ResendResult
from bot.zuora.parse import parse_resend
from bot.zuora.retry import IN_PROGRESS_STATUS
from bot.zuora.track import validate_track_id

logger = logging.getLogger(__name__)

RESEND_PATHS: Mapping[NotificationKind, str] = {
    "email": "/notifications/email-histories/resend",
    "callout": "/notifications/callout-histories/resend",
}
MAX_RESEND_BATCH = 1_000
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d2c3e-8a4b-5c6d-9e0f-7a8b9c0d1e2f")

ChunkDone = Callable[[int, int], None]


class Resends(Transport):
    """Resends emails and callouts by history id; a later chunk's failure never loses earlier ones."""

    def resend_emails(
        self,
        ids: Iterable[str],
        *,
        idempotency_key: str,
        track_id: str,
        on_chunk: ChunkDone | None = None,
    ) -> ResendResult:
        """Resend email notifications by history id, 1,000 per request, each chunk idempotent."""
        return self._resend(
            "email", ids, idempotency_key=idempotency_key, track_id=track_id, on_chunk=on_chunk
        )

    def resend_callouts(
        self,
        ids: Iterable[str],
        *,
        idempotency_key: str,
        track_id: str,
        on_chunk: ChunkDone | None = None,
    ) -> ResendResult:
        """Resend callout notifications by history id, 1,000 per request, each chunk idempotent."""
        return self._resend(
            "callout", ids, idempotency_key=idempotency_key, track_id=track_id, on_chunk=on_chunk
        )

    def _resend(
        self,
        kind: NotificationKind,
        ids: Iterable[str],
        *,
        idempotency_key: str,
        track_id: str,
        on_chunk: ChunkDone | None = None,
    ) -> ResendResult:
        """Resend in chunks; `on_chunk(done, total)` after each one (ids handled so far).

        A 409 that outlasts the retries means Zuora already did (or is still doing) the request
        with that key: its ids are reported `in_progress`, never as failed and never sent twice.
        """
        track_id = validate_track_id(track_id)
        if not isinstance(idempotency_key, str) or not idempotency_key.strip():
            raise ZuoraInputError("A resend needs a non-empty idempotency key")
        if isinstance(ids, str):
            raise ZuoraInputError("Resend ids must be a list of ids, not one string")
        unique = list(dict.fromkeys(validate_history_id(history_id) for history_id in ids))
        failed: dict[str, ResendFailure] = {}
        in_progress: list[str] = []
        for index, start in enumerate(range(0, len(unique), MAX_RESEND_BATCH)):
            chunk = unique[start : start + MAX_RESEND_BATCH]
            key = chunk_idempotency_key(idempotency_key, kind, index, chunk)
            try:
                response = self._request(
                    "POST",
                    RESEND_PATHS[kind],
                    track_id=track_id,
                    json=chunk,
                    headers={"Idempotency-Key": key},
                    idempotent=True,
                    accept=(400,),
                )
                failures = parse_resend(response, chunk, track_id)
                if failures is None:  # a 400 that is not the id map: a real error
                    raise_for_status(response, track_id)
                    raise ZuoraResponseValidationError("Zuora's resend answer is not understood")
                failed.update(failures)
            except ZuoraStatusError as exc:
                # An unknown outcome ends the whole request, whatever the chunk: asked again with
                # the same key, Zuora replays the chunks it answered and nothing is sent twice.
                if exc.status_code != IN_PROGRESS_STATUS and (index == 0 or exc.outcome_unknown):
                    raise
                if exc.status_code == IN_PROGRESS_STATUS:
                    logger.info(
                        "Resend chunk %d of %s: Zuora says key %s is done or in progress "
                        "(409); not resent (track %s)",
                        index,
                        kind,
                        key[:8],
                        track_id,
                    )
                    in_progress.extend(chunk)
                else:
                    _fail_chunk(failed, chunk, exc, index, kind, track_id)
            except ZuoraError as exc:
                if index == 0 or exc.outcome_unknown:
                    raise
                _fail_chunk(failed, chunk, exc, index, kind, track_id)
            if on_chunk is not None:
                on_chunk(min(start + len(chunk), len(unique)), len(unique))
        waiting = set(in_progress)
        return ResendResult(
            kind=kind,
            requested=tuple(unique),
            succeeded=tuple(i for i in unique if i not in failed and i not in waiting),
            failed=failed,
            in_progress=tuple(in_progress),
        )


def _fail_chunk(
    failed: dict[str, ResendFailure],
    chunk: Sequence[str],
    exc: ZuoraError,
    index: int,
    kind: str,
    track_id: str,
) -> None:
    """Earlier chunks were resent: report a later one as failed rather than lose them."""
    logger.warning(
        "Resend chunk %d of %s failed: %s (track %s)", index, kind, exc.message, track_id
    )
    reason = ResendFailure(code=type(exc).__name__, message=exc.message)
    failed.update(dict.fromkeys(chunk, reason))


def chunk_idempotency_key(key: str, kind: str, index: int, ids: Sequence[str]) -> str:
    """A stable Idempotency-Key for one resend chunk, derived from the caller's key and the chunk."""
    digest = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{kind}\n{index}\n{digest}\n{key}"))
