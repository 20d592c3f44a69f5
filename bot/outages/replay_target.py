"""What replaying one outage cause in one window would resend, found by a fresh scan of Zuora.

The scan is redone at every start (a card may be hours old): the cause's failures in the fixed
window, the resend ids Data Query finds for those Zuora listed without one, less what an earlier
replay of the cause resent or another resend holds in the once window. The replay itself (claim,
chunks, leases) is bot.outages.replay's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.explain import explain
from bot.failures.retry_policy import classify
from bot.outages.causes import CauseGroup, OutageScan, callout_cause, email_cause
from bot.resend.once import notification_scope
from bot.resend.service import WorkDeps
from bot.zuora.errors import ZuoraError
from bot.zuora.models import CalloutHistory, EmailHistory, TimeWindow


class ReplayDeps(WorkDeps, Protocol):
    """The collaborators a replay works with, passed in by the caller (bot.deps.Deps is one)."""


@dataclass
class ReplayTarget:
    """What a replay of one cause in one window would resend, found by a fresh scan."""

    group: CauseGroup
    window: TimeWindow
    ids: list[str] = field(default_factory=list)  # listed and resolved resend ids, oldest first
    unresolved: int = 0  # failures still without a resend id after Data Query
    already: int = 0  # ids an earlier replay of this cause (another window) already resent
    resolve_error: str | None = None  # why Data Query could not resolve the rest
    retrying: int = 0  # callouts left out: Zuora still retries them (unless included)
    invalid_body: int = 0  # callouts left out: -2000, a resend fails the same way

    @property
    def cause_id(self) -> str:
        """The cause's stable id."""
        return self.group.cause.id


def replay_key(cause_id: str, window: TimeWindow) -> str:
    """The one key every click, worker and CLI run uses for this cause in this window."""
    return f"{cause_prefix(cause_id)}{int(window.start.timestamp())}:{int(window.end.timestamp())}"


def find_target(
    deps: ReplayDeps,
    cause_id: str,
    window: TimeWindow,
    *,
    track_id: str,
    include_retrying: bool = False,
) -> ReplayTarget | None:
    """Re-scan the fixed window; the cause's group and its resend ids, or None if it is gone.

    Failures Zuora listed without an id are looked up in Data Query, once for the whole group.
    Callouts Zuora still retries are left out unless `include_retrying`; -2000 ones always.
    """
    scan = OutageScan()
    missing_callouts: list[CalloutHistory] = []
    missing_emails: list[EmailHistory] = []
    rule = deps.service.retry_rule()
    held: set[str] = set()
    retrying = invalid = 0
    for callout in deps.service.iter_failed_callouts(window, track_id=track_id):
        scan.add_callout(callout)
        state = classify(callout, rule)
        kept = state.kind != "invalid_body" and (include_retrying or state.kind != "retrying")
        if not kept and callout_cause(callout)[0].id == cause_id:
            retrying += state.kind == "retrying"
            invalid += state.kind == "invalid_body"
            held.add(callout.id or "")
            continue
        if not callout.id and callout_cause(callout)[0].id == cause_id:
            missing_callouts.append(callout)
    for email in deps.service.iter_failed_emails(window, track_id=track_id):
        scan.add_email(email)
        if not email.id and email_cause(email)[0].id == cause_id:
            missing_emails.append(email)
    group = scan.group(cause_id)
    if group is None:
        return None
    target = ReplayTarget(
        group=group,
        window=window,
        ids=[i for i in dict.fromkeys(group.ids) if i not in held],
        retrying=retrying,
        invalid_body=invalid,
    )
    missing: list[CalloutHistory] | list[EmailHistory] = (
        missing_callouts if group.cause.kind == "callout" else missing_emails
    )
    if missing:
        try:
            resolved = deps.service.resolve_ids(
                group.cause.kind, missing, window, track_id=track_id
            )
            found = [i for i in resolved if i]
        except ZuoraError as exc:
            target.resolve_error = explain(exc).message
            found = []
        known = set(target.ids)
        target.ids.extend(i for i in dict.fromkeys(found) if i not in known)
        target.unresolved = len(missing) - len(found)
    # Cards of one outage drawn at different times have overlapping windows: an id an earlier
    # replay of this cause resent (or left in Zuora's hands), or any resend claimed within the once
    # window, is not sent again by a later one. (The claim itself decides; this only counts.)
    done = deps.store.replayed_ids(cause_prefix(cause_id))
    own = replay_key(cause_id, window)  # a stopped replay of this very card resumes its own ids
    done |= {
        claim.history_id
        for claim in deps.store.notification_claims(
            notification_scope(deps.settings.zuora), group.cause.kind, target.ids, now=deps.now()
        )
        if claim.holder != own
    }
    if done:
        before = len(target.ids)
        target.ids = [i for i in target.ids if i not in done]
        target.already = before - len(target.ids)
    return target


def cause_prefix(cause_id: str) -> str:
    """The start of every replay key (and chunk audit key) of one cause."""
    return f"replay:{cause_id}:"
