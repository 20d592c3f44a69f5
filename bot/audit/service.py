"""The resend audit trail: stored before and after every resend, announced in AUDIT_CHANNEL."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.failures.results import ResendOutcome
from bot.slack.mrkdwn import escape, user
from bot.store import IdOutcome, ResendAuditEntry, ResendRequest, ResendStatus
from bot.store.database import Store
from bot.zuora.models import NotificationKind, ResendResult

logger = logging.getLogger(__name__)
audit_log = logging.getLogger("zuora_ops.audit")


@dataclass(frozen=True)
class AuditStart:
    """A recorded resend request: its row id and where it was announced."""

    audit_id: int
    channel: str | None = None
    ts: str | None = None


def outcome_status(outcome: ResendOutcome) -> ResendStatus:
    """One word for the whole request: waiting (answer unknown), succeeded, partial, failed or error."""
    if outcome.waiting:
        return "waiting"
    if outcome.result is None:
        return "error"
    return result_status(outcome.result)


def result_status(result: ResendResult) -> ResendStatus:
    """Zuora's answer in one word: succeeded (nothing refused), partial or failed."""
    if not result.failed:
        return "succeeded"  # ids Zuora answered 409 for are done or in hand there, not failed
    return "failed" if result.all_failed else "partial"


#: The per-id code for ids Zuora answered 409 for: done or in hand at Zuora, not a failure.
IN_PROGRESS_CODE = "in_progress"
IN_PROGRESS = IdOutcome(
    ok=True, code=IN_PROGRESS_CODE, message="Zuora: already done or in progress (409)"
)


def per_id(outcome: ResendOutcome) -> dict[str, IdOutcome]:
    """Outcome per requested id, as stored."""
    if outcome.result is None:
        return {i: IdOutcome(ok=False, code="error", message=outcome.error) for i in outcome.ids}
    return result_per_id(outcome.result)


def result_per_id(result: ResendResult) -> dict[str, IdOutcome]:
    """Zuora's answer per id, as stored: sent, in hand at Zuora (409), or refused with its reason."""
    stored = {i: IdOutcome(ok=True, code=None, message=None) for i in result.succeeded}
    for history_id in result.in_progress:
        stored[history_id] = IN_PROGRESS
    for history_id, failure in result.failed.items():
        stored[history_id] = IdOutcome(ok=False, code=failure.code, message=failure.message)
    return stored


class AuditTrail:
    """Records each resend in the store and, when configured, in one Slack channel."""

    def __init__(self, store: Store, slack: WebClient, *, channel: str | None) -> None:
        self._store = store
        self._slack = slack
        self._channel = channel

    def begin(self, request: ResendRequest, *, kind: NotificationKind) -> AuditStart:
        """Record the request before Zuora is called, and announce it."""
        audit_id = self._store.record_resend_requested(request)
        return self.announce(audit_id, request)

    def announce(self, audit_id: int, request: ResendRequest | ResendAuditEntry) -> AuditStart:
        """Log a recorded request and, when configured, post it to the audit channel."""
        kind = request.kind
        audit_log.info(
            "resend requested %s",
            json.dumps(
                {
                    "audit_id": audit_id,
                    "team": request.team_id,
                    "user": request.user_id,
                    "account": request.account_key,
                    "kind": kind,
                    "ids": list(request.ids),
                    "track_id": request.track_id,
                },
                sort_keys=True,
            ),
        )
        if not self._channel:
            return AuditStart(audit_id)
        noun = "email" if kind == "email" else "callout"
        count = len(request.ids)
        account = f" for {escape(request.account_key)}" if request.account_key else ""
        text = (
            f"{user(request.user_id)} asked Zuora to resend {count} {noun}"
            f"{'s' if count != 1 else ''}{account} (track id `{escape(request.track_id)}`)"
        )
        try:
            posted = self._slack.chat_postMessage(channel=self._channel, text=text)
        except SlackClientError:
            logger.warning(
                "could not announce resend %s in %s", audit_id, self._channel, exc_info=True
            )
            return AuditStart(audit_id)
        ts = str(posted.get("ts"))
        self._store.set_audit_message(audit_id, self._channel, ts)
        return AuditStart(audit_id, self._channel, ts)

    def finish(self, start: AuditStart, outcome: ResendOutcome) -> None:
        """Record the outcome per id and reply in the announcement's thread."""
        self._store.record_resend_outcome(
            start.audit_id,
            status=outcome_status(outcome),
            outcome=per_id(outcome),
            error=outcome.error,
            now=outcome.at,
        )
        self._tell(start, outcome)

    def finish_job(
        self, start: AuditStart, outcome: ResendOutcome, *, job_id: int, owner: str
    ) -> bool:
        """Record a resend job's definite outcome, only while `owner` still holds the job.

        False (nothing recorded or announced) when its lease went to someone else, who records it.
        """
        if not self._store.finish_resend(
            job_id,
            owner=owner,
            status=outcome_status(outcome),
            outcome=per_id(outcome),
            error=outcome.error,
            now=outcome.at,
        ):
            return False
        self._tell(start, outcome)
        return True

    def wait_job(
        self,
        start: AuditStart,
        outcome: ResendOutcome,
        *,
        job_id: int,
        owner: str,
        retry_at: datetime,
        first_wait: bool,
    ) -> bool:
        """Record that Zuora's answer is unknown and the job is asked again at `retry_at`.

        The thread hears it once (`first_wait`), not at every re-ask. False when `owner` lost the job.
        """
        if not self._store.wait_resend(
            job_id,
            owner=owner,
            error=outcome.error or "Zuora gave no answer",
            retry_at=retry_at,
            now=outcome.at,
        ):
            return False
        if first_wait:
            self._tell(start, outcome)
        else:
            logger.info(
                "resend %d still without Zuora's answer; next ask %s", start.audit_id, retry_at
            )
        return True

    def _tell(self, start: AuditStart, outcome: ResendOutcome) -> None:
        """Log the outcome to the audit log and reply in the announcement's thread."""
        status = outcome_status(outcome)
        failed = {} if outcome.result is None else outcome.result.failed
        audit_log.info(
            "resend finished %s",
            json.dumps(
                {
                    "audit_id": start.audit_id,
                    "user": outcome.requested_by,
                    "account": outcome.account.number if outcome.account else None,
                    "kind": outcome.kind,
                    "ids": list(outcome.ids),
                    "track_id": outcome.track_id,
                    "status": status,
                    "failed": {k: f"{v.code}: {v.message}" for k, v in failed.items()},
                    "error": outcome.error,
                },
                sort_keys=True,
            ),
        )
        if not (start.channel and start.ts):
            return
        if outcome.waiting:
            text = (
                ":hourglass_flowing_sand: Waiting for Zuora's answer "
                f"({escape(outcome.error or 'no answer')}): not failed. The bot asks again with the "
                "same Idempotency-Key, so nothing is sent twice."
            )
        elif outcome.result is None:
            text = f":x: Resend failed: {escape(outcome.error or 'unknown error')}"
        else:
            ok = len(outcome.result.succeeded)
            text = f"{':white_check_mark:' if not failed else ':warning:'} {ok} of {len(outcome.ids)} resent"
            for history_id, failure in list(failed.items())[:20]:
                text += f"\n• `{escape(history_id)}`: {escape(failure.code)} — {escape(failure.message)}"
        try:
            self._slack.chat_postMessage(channel=start.channel, thread_ts=start.ts, text=text)
        except SlackClientError:
            logger.warning(
                "could not post resend outcome %s in thread", start.audit_id, exc_info=True
            )
