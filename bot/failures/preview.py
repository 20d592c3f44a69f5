"""What a bulk resend would send and what it leaves out, and why: the confirm step's preview.

Left out, in groups: callouts Zuora still retries (a resend now delivers them twice), callouts
Zuora never sent because the template's custom body is invalid (-2000), notifications another
resend already has in the once window (who and when), and rows with no resend id. The preview is
plain text: Slack's confirm dialogs take nothing else (300 characters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.failures.retry_policy import RetryRule, classify
from bot.failures.retry_rows import TEMPLATE_CAVEAT
from bot.zuora.models import CalloutHistory, EmailHistory, NotificationKind

CONFIRM_TEXT_CHARS = 300  # Slack's limit on a confirm dialog's text
INCLUDE_HINT = "zuora-ops replay --include-retrying"


@dataclass(frozen=True)
class Resent:
    """One notification already resent within the once window: by whom, when."""

    history_id: str
    user_id: str
    at: datetime


@dataclass(frozen=True)
class Preview:
    """Counts of a bulk resend: sent, and left out per reason."""

    kind: NotificationKind
    send: int
    retrying: int = 0
    invalid_body: int = 0
    already: tuple[Resent, ...] = ()
    no_id: int = 0

    @property
    def left_out(self) -> int:
        """Everything left out, whatever the reason."""
        return self.retrying + self.invalid_body + len(self.already) + self.no_id

    def reasons(self) -> list[str]:
        """One short phrase per non-empty group, most important first."""
        out = []
        if self.retrying:
            out.append(f"{self.retrying} Zuora still retries")
        if self.invalid_body:
            out.append(f"{self.invalid_body} with an invalid custom body (-2000)")
        if self.already:
            last = max(self.already, key=lambda r: r.at)
            out.append(
                f"{len(self.already)} already resent (last by {last.user_id} at "
                f"{last.at.astimezone(UTC):%H:%M} UTC)"
            )
        if self.no_id:
            out.append(f"{self.no_id} without a resend ID")
        return out


def callout_preview(
    callouts: Sequence[CalloutHistory],
    rule: RetryRule | None,
    *,
    resent: Sequence[Resent] = (),
    include_retrying: bool = False,
) -> Preview:
    """The preview of resending `callouts` in bulk (retried ones only with `include_retrying`)."""
    done = {r.history_id for r in resent}
    send = retrying = invalid = no_id = 0
    for callout in callouts:
        state = None if rule is None else classify(callout, rule)
        if state is not None and state.kind == "invalid_body":
            invalid += 1
        elif state is not None and state.kind == "retrying" and not include_retrying:
            retrying += 1
        elif not callout.id:
            no_id += 1
        elif callout.id not in done:
            send += 1
    already = tuple(r for r in resent if r.history_id in {c.id for c in callouts})
    return Preview("callout", send, retrying, invalid, already, no_id)


def email_preview(emails: Sequence[EmailHistory], *, resent: Sequence[Resent] = ()) -> Preview:
    """The preview of resending `emails` in bulk."""
    done = {r.history_id for r in resent}
    ids = [e.id for e in emails if e.id]
    already = tuple(r for r in resent if r.history_id in set(ids))
    send = sum(1 for i in ids if i not in done)
    return Preview("email", send, already=already, no_id=len(emails) - len(ids))


def preview_text(preview: Preview, *, lead: str, hint: str | None = None) -> str:
    """`lead` then "Sends N. Left out: …" and the template caveat, cut to a confirm dialog's size."""
    parts = [lead]
    reasons = preview.reasons()
    if reasons:  # "Sends N" only when it differs from what the lead says
        parts.append(f"Sends {preview.send:,}. Left out: " + "; ".join(reasons) + ".")
    if preview.retrying and hint:
        parts.append(f"To include those: {hint}.")
    parts.append(TEMPLATE_CAVEAT)
    text = " ".join(parts)
    if len(text) <= CONFIRM_TEXT_CHARS:
        return text
    # The lead gives way first: what is sent and left out is the point of the preview.
    rest = " ".join(parts[1:])
    room = CONFIRM_TEXT_CHARS - len(rest) - 2
    if room > 20:
        return f"{lead[: room - 1]}… {rest}"[:CONFIRM_TEXT_CHARS]
    return rest[: CONFIRM_TEXT_CHARS - 1] + "…"
