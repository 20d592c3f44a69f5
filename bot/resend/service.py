"""One resend click as durable work: claimed in the store, sent to Zuora once, finished even if the
worker dies.

A click becomes a `resend_jobs` row (with its audit row) before Zuora is called: state `claimed`
under a lease the worker renews while it waits for Zuora; `answered` once Zuora's outcome is in the
audit trail; `done` once the card shows it. A job whose lease runs out before `done` (the worker was
killed, redeployed or ran out of memory) is taken over by bot.resend.redrive, which the clock
runs: it asks Zuora again with the same attempt's Idempotency-Key, so Zuora replays its stored answer
instead of resending, and completes the audit and the card. A click on a job still in flight is
told who started it and when; a click after a recorded failure starts a new attempt with a new key,
because Zuora replays a stored failure for 24 hours.

An unknown outcome (a timeout or a connection dropped after the request was sent, a 5xx) is not a
failure: Zuora may have sent it. The audit row says 'waiting', the card "waiting for Zuora's
answer", and the job stays on its attempt (same key) with its lease released until the next ask:
the clock asks again, backing off, until Zuora answers for sure (its stored answer for the key, or
a definite refusal). A click meanwhile is told so; only a definite refusal allows a new attempt.
Every write of an outcome is a compare-and-set on the lease owner and the job's state, so a slow
worker whose lease was taken over never overwrites what the new holder recorded.

A click may resend both kinds ("Resend selected" with emails and callouts ticked): one job and one
Zuora request per kind, each under its own click key, shown as one progress and one outcome card.
A re-driver finishes each kind's job on its own and shows that kind's outcome.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from bot.audit.service import AuditTrail
from bot.core.actions import CardRef
from bot.core.keys import idempotency_key
from bot.core.lease import renewing
from bot.explain import explain
from bot.failures.results import ResendOutcome
from bot.failures.service import NotificationService
from bot.resend.cards import (
    build_batch_progress,
    build_resend_outcomes,
)
from bot.resend.once import once_rule
from bot.resend.once_cards import build_already_resent
from bot.resend.outcome_watch import watch_resend
from bot.resend.settings import ResendSettings
from bot.slack.access import AccessPolicy
from bot.slack.io import Responder
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import date_token, user
from bot.slack.simple_cards import build_notice
from bot.store import NotificationClaim, ResendJob, ResendRequest
from bot.store.database import Store
from bot.store.watch_records import WatchTarget
from bot.zuora.errors import (
    ZuoraConnectionError,
    ZuoraError,
    ZuoraServerError,
    ZuoraStatusError,
    ZuoraTimeoutError,
    is_unknown_outcome,
)
from bot.zuora.models import Account, NotificationKind
from bot.zuora.settings import ZuoraSettings

logger = logging.getLogger(__name__)
audit_log = logging.getLogger("zuora_ops.audit")

LEASE_RENEWALS = 4  # a lease is renewed this many times per lease length while Zuora works
# Asking Zuora again about an unknown outcome: first after ASK_AGAIN_FIRST, then after as long as
# the job has waited so far (doubling), at most ASK_AGAIN_MAX apart, for ASK_AGAIN_FOR in all (Zuora
# keeps an Idempotency-Key's answer 24 hours; after that the same key no longer protects).
ASK_AGAIN_FIRST = timedelta(seconds=10)
ASK_AGAIN_MAX = timedelta(minutes=30)
ASK_AGAIN_FOR = timedelta(hours=23)


class ResendConfig(Protocol):
    """The settings a resend reads: its own area's and the Zuora tenant's (bot.settings.Settings)."""

    @property
    def resend(self) -> ResendSettings: ...

    @property
    def zuora(self) -> ZuoraSettings: ...


class WorkDeps(Protocol):
    """What any resend work reads: settings, the Zuora service, the store and the clock."""

    @property
    def settings(self) -> ResendConfig: ...

    @property
    def service(self) -> NotificationService: ...

    @property
    def store(self) -> Store: ...

    @property
    def now(self) -> Callable[[], datetime]: ...


class ResendDeps(WorkDeps, Protocol):
    """The collaborators a resend works with, passed in by the caller (bot.deps.Deps is one)."""

    @property
    def access(self) -> AccessPolicy: ...

    @property
    def audit(self) -> AuditTrail: ...

    @property
    def responder(self) -> Responder: ...


class Refusal(Enum):
    """Why a click did nothing."""

    DENIED = "denied"


@dataclass(frozen=True)
class AlreadyStarted:
    """The click's resend exists already: still in flight, or handled for good."""

    job: ResendJob

    @property
    def in_flight(self) -> bool:
        """Whether Zuora's answer or the card update is still to come."""
        return self.job.state != "done"

    def message(self) -> SlackMessage:
        """What the second clicker reads: who started it, when, and that nothing is sent twice."""
        audit = self.job.audit
        who, when = user(audit.user_id), date_token(audit.requested_at)
        if self.in_flight and audit.status == "waiting":
            return build_notice(
                f":hourglass_flowing_sand: Waiting for Zuora's answer to the resend {who} started "
                f"at {when}: its answer did not arrive, so Zuora may have sent it. The bot asks "
                "again with the same Idempotency-Key, so nothing is sent twice; the card shows "
                "the outcome when Zuora answers."
            )
        if self.in_flight:
            return build_notice(
                f":hourglass_flowing_sand: That resend is in progress, started by {who} at "
                f"{when}. Nothing will be sent twice; the card shows the outcome when Zuora answers."
            )
        return build_notice(
            f":information_source: Already handled: {who} resent this at {when} "
            f"({audit.status}). Nothing was resent twice."
        )


@dataclass(frozen=True)
class ClaimedElsewhere:
    """Ids of a click another resend holds in the once window: left out, and who has them."""

    claims: tuple[NotificationClaim, ...]
    total: int = 0  # ids left out in all, when more than the claims shown (a replay)

    @property
    def kind(self) -> NotificationKind:
        """The kind of the ids (one kind per notice)."""
        return self.claims[0].kind

    def message(self, deps: ResendDeps, *, team_id: str) -> SlackMessage:
        """The "already resent by @u at 10:02 — sent" notice, with Resend again."""
        return build_already_resent(
            self.claims,
            kind=self.kind,
            team_id=team_id,
            window_hours=deps.settings.resend.resend_once_window,
            total=max(self.total, len(self.claims)),
        )


@dataclass(frozen=True)
class ResendClick:
    """A resend asked for by someone in Slack."""

    team_id: str
    user_id: str
    kind: NotificationKind
    ids: tuple[str, ...]
    dedup_key: str
    track_id: str
    account: Account | None = None
    card: CardRef | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # A deliberate "Resend again": take over claims made at or before this moment.
    again_before: datetime | None = None


def worker_name() -> str:
    """This process as a lease owner (host and pid: a forked worker is a new owner)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def attempt_key(dedup_key: str, attempt: int) -> str:
    """The Idempotency-Key of one attempt: stable across re-drives, new for each retry."""
    return idempotency_key(dedup_key if attempt == 1 else f"{dedup_key}#attempt-{attempt}")


def next_ask(requested_at: datetime, now: datetime) -> datetime:
    """When to ask Zuora again about an unknown outcome: back off by the time already waited."""
    waited = max(now - requested_at, timedelta(0))
    return now + min(ASK_AGAIN_MAX, max(ASK_AGAIN_FIRST, waited))


@dataclass(frozen=True)
class ResendBatch:
    """The outcomes of one click's requests, and the kinds an earlier click already has in hand."""

    outcomes: tuple[ResendOutcome, ...]
    started: tuple[AlreadyStarted, ...] = ()
    elsewhere: tuple[ClaimedElsewhere, ...] = ()  # ids left out: another resend holds them

    @property
    def duplicates(self) -> tuple[NotificationKind, ...]:
        """Kinds not resent by this click because another click owns them."""
        return tuple(s.job.audit.kind for s in self.started)


def perform_resend(
    deps: ResendDeps,
    click: ResendClick,
    show: Callable[[SlackMessage], None],
    *,
    reply_url: str | None,
    deliver: Callable[[SlackMessage], None] | None = None,
    replace_on_redrive: bool = True,
    skipped: Callable[[ClaimedElsewhere], None] | None = None,
    watch_target: Callable[[], WatchTarget] | None = None,
) -> ResendOutcome | Refusal | AlreadyStarted | ClaimedElsewhere:
    """Check access, claim the click, show progress, resend, record, show the outcome, finish.

    `show` shows progress and (unless `deliver` is given) the outcome; `reply_url` is where a
    re-driver shows the outcome if this worker dies first, replacing the clicked message only when
    `replace_on_redrive` (never for a shared channel message such as a digest). `skipped` hears of
    ids left out because another resend holds them (when the others were resent).
    """
    batch = perform_resends(
        deps,
        [click],
        show,
        reply_url=reply_url,
        deliver=deliver,
        replace_on_redrive=replace_on_redrive,
        watch_target=watch_target,
    )
    if isinstance(batch, Refusal | AlreadyStarted | ClaimedElsewhere):
        return batch
    if skipped is not None:
        for left_out in batch.elsewhere:
            skipped(left_out)
    return batch.outcomes[0]


def perform_resends(
    deps: ResendDeps,
    clicks: Sequence[ResendClick],
    show: Callable[[SlackMessage], None],
    *,
    reply_url: str | None,
    deliver: Callable[[SlackMessage], None] | None = None,
    replace_on_redrive: bool = True,
    watch_target: Callable[[], WatchTarget] | None = None,
) -> ResendBatch | Refusal | AlreadyStarted | ClaimedElsewhere:
    """perform_resend for one person's click on one or several kinds: one progress, one outcome.

    Each kind is claimed as its own job (its Idempotency-Key is the one a single-kind click would
    send); a kind another click already owns is reported, not resent. Each id is claimed for the
    notification (bot.resend.once): ids another resend holds in the once window are left out (in
    `ResendBatch.elsewhere`). When nothing is left, the first owner's AlreadyStarted (or the
    ClaimedElsewhere) comes back.
    """
    if not clicks:
        raise ValueError("nothing to resend")
    first = clicks[0]
    if not deps.access.may_resend(first.user_id):
        logger.info("resend denied for %s (not on the allow-list)", first.user_id)
        return Refusal.DENIED
    owner = worker_name()
    lease = timedelta(seconds=deps.settings.resend.resend_lease)
    won: list[tuple[ResendClick, ResendJob]] = []
    started: list[AlreadyStarted] = []
    elsewhere: list[ClaimedElsewhere] = []
    for click in clicks:
        claim = deps.store.claim_resend(
            ResendRequest(
                requested_at=deps.now(),
                team_id=click.team_id,
                user_id=click.user_id,
                account_key=click.account.number if click.account else None,
                kind=click.kind,
                ids=click.ids,
                track_id=click.track_id,
                dedup_key=click.dedup_key,
            ),
            owner=owner,
            lease=lease,
            reply_url=reply_url,
            context=encode_context(click, replace=replace_on_redrive),
            once=once_rule(
                deps.settings.zuora, deps.settings.resend, again_before=click.again_before
            ),
        )
        if claim.elsewhere:
            logger.info(
                "resend click %s: %d of %d ids already resent within the once window",
                click.dedup_key[:12],
                len(claim.elsewhere),
                len(click.ids),
            )
            elsewhere.append(ClaimedElsewhere(claim.elsewhere))
        if claim.won and claim.job is not None:
            job = claim.job
            if job.audit.ids != click.ids:  # some ids left out: resend (and label) only the rest
                kept = set(job.audit.ids)
                click = replace(
                    click,
                    ids=job.audit.ids,
                    labels={k: v for k, v in click.labels.items() if k in kept},
                )
            if click.again_before is not None:
                audit_log.info(
                    "resend again by %s: %d %s ids (audit_id=%d track_id=%s), deliberately "
                    "resent a second time within the once window",
                    click.user_id,
                    len(click.ids),
                    click.kind,
                    job.audit.id,
                    click.track_id,
                )
            won.append((click, job))
        elif claim.job is not None and not claim.elsewhere:
            logger.info(
                "resend click %s already %s",
                click.dedup_key[:12],
                "in flight" if claim.job.state != "done" else "handled",
            )
            started.append(AlreadyStarted(claim.job))
    if not won:
        if started:
            return started[0]
        return elsewhere[0]
    show(
        build_batch_progress(
            counts=[(click.kind, len(click.ids)) for click, _ in won],
            requested_by=first.user_id,
            account=first.account,
        )
    )
    outcomes: list[ResendOutcome] = []
    answered: list[ResendJob] = []  # jobs whose definite answer this worker recorded
    with _leases(deps, [job.id for _, job in won], owner=owner, lease=lease):
        for click, job in won:
            start = deps.audit.announce(job.audit.id, job.audit)
            outcome = ask_zuora(deps, click, key=attempt_key(job.dedup_key, job.attempt))
            outcomes.append(outcome)
            if outcome.waiting:
                logger.warning(
                    "resend job %d: Zuora's answer is unknown (%s); the clock asks again",
                    job.id,
                    outcome.error,
                )
                deps.audit.wait_job(
                    start,
                    outcome,
                    job_id=job.id,
                    owner=owner,
                    retry_at=next_ask(job.audit.requested_at, deps.now()),
                    first_wait=True,
                )
            elif deps.audit.finish_job(start, outcome, job_id=job.id, owner=owner):
                answered.append(job)
        batch = ResendBatch(
            outcomes=tuple(outcomes), started=tuple(started), elsewhere=tuple(elsewhere)
        )
        (deliver or show)(build_resend_outcomes(batch.outcomes, duplicates=batch.duplicates))
        for job in answered:
            deps.store.advance_resend(job.id, owner=owner, state="done", now=deps.now())
    # Did it work? The clock reads the history for each accepted id's new record later on.
    where = watch_target() if watch_target else WatchTarget(reply_url, replace_on_redrive)
    for (click, job), outcome in zip(won, outcomes, strict=True):
        if job in answered:
            watch_resend(
                deps.store,
                deps.settings.resend,
                click,
                outcome.result,
                audit_id=job.audit.id,
                requested_at=job.audit.requested_at,
                now=deps.now(),
                target=where,
            )
    return batch


@contextmanager
def _leases(
    deps: ResendDeps, job_ids: Sequence[int], *, owner: str, lease: timedelta
) -> Iterator[None]:
    """keep_lease for several jobs at once."""
    if not job_ids:
        yield
        return
    with keep_lease(deps.store, job_ids[0], owner=owner, lease=lease, now=deps.now):
        with _leases(deps, job_ids[1:], owner=owner, lease=lease):
            yield


def ask_zuora(deps: ResendDeps, click: ResendClick, *, key: str) -> ResendOutcome:
    """Send the resend with `key`; Zuora's answer, or the error in words, as an outcome."""
    base = ResendOutcome(
        kind=click.kind,
        requested_by=click.user_id,
        at=deps.now(),
        ids=click.ids,
        labels=click.labels,
        account=click.account,
        card=click.card,
        track_id=click.track_id,
    )
    try:
        result = deps.service.resend(
            click.kind, click.ids, idempotency_key=key, track_id=click.track_id
        )
    except ZuoraError as exc:
        explanation = explain(exc)
        if is_unknown_outcome(exc):  # Zuora may have done it: not a failure, ask again later
            return replace(base, at=deps.now(), error=unknown_reason(exc), waiting=True)
        error = explanation.message + (f" {explanation.hint}" if explanation.hint else "")
        return replace(base, at=deps.now(), error=error)
    return replace(base, at=deps.now(), result=result)


def unknown_reason(exc: ZuoraError) -> str:
    """Why Zuora's answer is unknown, in words (never "failed": Zuora may have done it)."""
    track = f" (Zuora track id `{exc.track_id}`)" if exc.track_id else ""
    if isinstance(exc, ZuoraTimeoutError):
        why = "Zuora did not answer in time"
    elif isinstance(exc, ZuoraConnectionError):
        why = "The connection to Zuora broke before its answer arrived"
    elif isinstance(exc, ZuoraServerError):
        why = f"Zuora answered with an error on its side (HTTP {exc.status_code})"
    elif isinstance(exc, ZuoraStatusError):
        why = f"Zuora turned a retry away (HTTP {exc.status_code}) after a try it may have done"
    else:
        why = "Zuora's answer was lost"
    return f"{why}{track}."


@contextmanager
def keep_lease(
    store: Store,
    job_id: int,
    *,
    owner: str,
    lease: timedelta,
    now: Callable[[], datetime],
) -> Iterator[None]:
    """Renew `owner`'s lease on the job every lease/LEASE_RENEWALS while the block runs."""

    def renew() -> bool:
        return store.renew_resend_lease(job_id, owner=owner, until=now() + lease)

    with renewing(renew, every=lease / LEASE_RENEWALS, what=f"resend job {job_id}"):
        yield


def encode_context(click: ResendClick, *, replace: bool = True) -> str:
    """What a re-driver needs besides the audit row to redraw the card, as JSON."""
    account = click.account
    payload: dict[str, Any] = {
        "replace": replace,
        "labels": dict(click.labels),
        "account": None
        if account is None
        else {"id": account.id, "number": account.number, "name": account.name},
        "card": None if click.card is None else click.card.model_dump(mode="json"),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)
