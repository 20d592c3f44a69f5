"""Finishing what a dead worker left: the clock re-drives every resend job whose lease ran out.

A job still `claimed` is asked of Zuora again with its attempt's Idempotency-Key, so Zuora answers
from its stored result instead of resending; an `answered` one only needs its card. The job itself
(claim, lease, keys, the unknown-outcome backoff) is bot.resend.service's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta

from bot.audit.service import IN_PROGRESS_CODE, AuditStart
from bot.core.actions import CardRef
from bot.failures.results import ResendOutcome
from bot.resend.cards import build_resend_outcome
from bot.resend.outcome_watch import watch_resend
from bot.resend.service import (
    ASK_AGAIN_FOR,
    ResendClick,
    ResendDeps,
    ask_zuora,
    attempt_key,
    keep_lease,
    next_ask,
    worker_name,
)
from bot.store import ResendAuditEntry, ResendJob
from bot.store.watch_records import WatchTarget
from bot.zuora.models import Account, ResendFailure, ResendResult

logger = logging.getLogger(__name__)


def redrive_stale_resends(deps: ResendDeps) -> int:
    """Finish every resend whose worker's lease ran out; returns how many were finished.

    A job still `claimed` is asked of Zuora again with its own Idempotency-Key (Zuora answers from
    its stored result, or with 409 while the first request still runs); so is one waiting for
    Zuora's answer, once its backoff (`next_ask`) is over, until the answer is definite. An
    `answered` one only needs its card. Each job is taken by one re-driver at a time.
    """
    owner = f"redrive:{worker_name()}"
    lease = timedelta(seconds=deps.settings.resend.resend_lease)
    finished = 0
    for job in deps.store.stale_resends(deps.now()):
        if not deps.store.take_stale_resend(job.id, owner=owner, now=deps.now(), lease=lease):
            continue
        try:
            with keep_lease(deps.store, job.id, owner=owner, lease=lease, now=deps.now):
                finished += _finish(deps, job, owner)
        except Exception:  # one bad job must not stop the others; its lease lets it be retried
            logger.exception("could not re-drive resend job %d", job.id)
    return finished


def _finish(deps: ResendDeps, job: ResendJob, owner: str) -> bool:
    """Complete one taken job; False when Zuora's answer is still to come (ask again later)."""
    click = click_from_job(job)
    audit = job.audit
    if job.state == "claimed":
        if audit.status == "waiting":
            logger.info(
                "asking Zuora again about resend job %d (attempt %d, same key): %s",
                job.id,
                job.attempt,
                audit.error,
            )
        else:
            logger.warning(
                "re-driving resend job %d (attempt %d, %d ids) left unfinished by %s",
                job.id,
                job.attempt,
                len(audit.ids),
                job.lease_owner,
            )
        outcome = ask_zuora(deps, click, key=attempt_key(job.dedup_key, job.attempt))
        if outcome.result is not None and outcome.result.in_progress:
            # 409: the first request is still running at Zuora. Its answer is stored under the
            # same key; the next round (after this lease) reads it.
            logger.info("resend job %d still running at Zuora; asking again later", job.id)
            return False
        start = AuditStart(audit.id, audit.audit_channel, audit.audit_ts)
        if outcome.waiting:
            if deps.now() - audit.requested_at < ASK_AGAIN_FOR:
                deps.audit.wait_job(
                    start,
                    outcome,
                    job_id=job.id,
                    owner=owner,
                    retry_at=next_ask(audit.requested_at, deps.now()),
                    first_wait=audit.status != "waiting",
                )
                return False
            hours = int(ASK_AGAIN_FOR.total_seconds() // 3600)
            outcome = replace(
                outcome,
                waiting=False,
                error=f"Zuora gave no answer in {hours} hours ({outcome.error}). Check the "
                "Notification History in Zuora before you resend it.",
            )
        if not deps.audit.finish_job(start, outcome, job_id=job.id, owner=owner):
            return False
    else:
        outcome = outcome_from_audit(audit, click)
    replace_original = bool(json.loads(job.context or "{}").get("replace", True))
    if job.reply_url:
        deps.responder.send(
            job.reply_url, build_resend_outcome(outcome), replace_original=replace_original
        )
    deps.store.advance_resend(job.id, owner=owner, state="done", now=deps.now())
    if job.state == "claimed":  # this re-drive recorded Zuora's answer: watch what it accepted
        watch_resend(
            deps.store,
            deps.settings.resend,
            click,
            outcome.result,
            audit_id=audit.id,
            requested_at=audit.requested_at,
            now=deps.now(),
            target=WatchTarget(job.reply_url, replace_original),
        )
    logger.info("resend job %d finished by %s", job.id, owner)
    return True


def click_from_job(job: ResendJob) -> ResendClick:
    """The click a job was made from (audit row + stored context)."""
    audit = job.audit
    context = json.loads(job.context or "{}")
    account = context.get("account")
    card = context.get("card")
    return ResendClick(
        team_id=audit.team_id,
        user_id=audit.user_id,
        kind=audit.kind,
        ids=audit.ids,
        dedup_key=job.dedup_key,
        track_id=audit.track_id,
        account=Account.model_validate(account) if account else None,
        card=CardRef.model_validate(card) if card else None,
        labels={str(k): str(v) for k, v in (context.get("labels") or {}).items()},
    )


def outcome_from_audit(audit: ResendAuditEntry, click: ResendClick) -> ResendOutcome:
    """The outcome an `answered` job recorded, rebuilt from its audit row."""
    base = ResendOutcome(
        kind=click.kind,
        requested_by=click.user_id,
        at=audit.finished_at or audit.requested_at,
        ids=click.ids,
        labels=click.labels,
        account=click.account,
        card=click.card,
        track_id=click.track_id,
    )
    if audit.status == "error":
        return replace(base, error=audit.error or "Zuora gave no answer")
    outcome = audit.outcome
    result = ResendResult(
        kind=click.kind,
        requested=click.ids,
        succeeded=tuple(i for i, o in outcome.items() if o.ok and o.code != IN_PROGRESS_CODE),
        failed={
            i: ResendFailure(code=o.code or "error", message=o.message or "")
            for i, o in outcome.items()
            if not o.ok
        },
        in_progress=tuple(i for i, o in outcome.items() if o.code == IN_PROGRESS_CODE),
    )
    return replace(base, result=result)
