"""Once per notification: who holds each history id's resend in the once window.

Whoever resends an id (a card, a command, a digest, an alert or outage replay, the CLI) first wins its
notification_claims row, in the transaction that writes its resend job or replay; the functions here
run inside those transactions.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from sqlalchemy import (
    Boolean,
    Connection,
    String,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql

from bot.store.audit import outcome_from_json
from bot.store.engine import StoreBase, dumps, from_row, upsert
from bot.store.records import (
    REPLAY_STATES,
    RESEND_KINDS,
    RESEND_STATUSES,
    NotificationClaim,
    OnceRule,
    ResendKind,
    check_literal,
    require_aware,
)
from bot.store.tables import UtcDateTime, notification_claims, outage_replays, resend_audit

# Bulk claims are written this many rows per statement (well under SQLite's bound-parameter limit).
_CLAIM_BATCH: Final = 400


def claim_notifications(
    conn: Connection,
    rule: OnceRule,
    *,
    kind: ResendKind,
    ids: Iterable[str],
    holder: str,
    team_id: str,
    user_id: str,
    now: datetime,
) -> set[str]:
    """Claim each id for ``holder``; the ids won (free, expired, already ``holder``'s, or taken
    over by a "Resend again" from claims made at or before ``rule.again_before``).

    One INSERT ... ON CONFLICT DO UPDATE ... WHERE per id (one executemany): a row locked by a
    racing transaction is re-checked after it commits, so exactly one holder wins each id. Ids
    go in sorted order, so two racers lock rows in the same order and cannot deadlock.
    """
    check_literal(kind, RESEND_KINDS, "kind")
    c = notification_claims.c
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    # One INSERT ... SELECT over a JSON array of the ids (one bound parameter, whatever the
    # count: a replay's 10,000 ids cost one statement, not 10,000 parameter sets).
    if conn.dialect.name == "postgresql":
        source = func.jsonb_array_elements_text(
            cast(literal(dumps(wanted)), postgresql.JSONB)
        ).table_valued("value")
    else:
        source = func.json_each(literal(dumps(wanted))).table_valued("value")
    rows = (
        select(
            literal(rule.scope, String()),
            literal(kind, String()),
            source.c.value,
            literal(holder, String()),
            literal(team_id, String()),
            literal(user_id, String()),
            literal(now, UtcDateTime()),
            literal(now + rule.window, UtcDateTime()),
            literal(rule.again_before is not None, Boolean()),
        )
        .select_from(source)
        .where(true())  # SQLite: tells the upsert's ON CONFLICT from a join's ON
    )
    stmt = upsert(conn.dialect, notification_claims).from_select(
        [
            "scope",
            "kind",
            "history_id",
            "holder",
            "team_id",
            "user_id",
            "claimed_at",
            "expires_at",
            "again",
        ],
        rows,
    )
    free = or_(c.expires_at <= now, c.holder == stmt.excluded.holder)
    if rule.again_before is not None:
        free = or_(free, c.claimed_at <= require_aware(rule.again_before, "again_before"))
    claim = stmt.on_conflict_do_update(
        index_elements=[c.scope, c.kind, c.history_id],
        set_={
            "holder": stmt.excluded.holder,
            "team_id": stmt.excluded.team_id,
            "user_id": stmt.excluded.user_id,
            "claimed_at": stmt.excluded.claimed_at,
            "expires_at": stmt.excluded.expires_at,
            "audit_id": None,
            "again": stmt.excluded.again,
            "previous_user_id": case(
                (c.holder == stmt.excluded.holder, c.previous_user_id), else_=c.user_id
            ),
        },
        where=free,
    )
    # The rows this holder now has with this claim time are the ones won: a row inserted or
    # taken over here stays locked by this transaction until it commits.
    conn.execute(claim)
    won: set[str] = set()
    for start in range(0, len(wanted), _CLAIM_BATCH):
        won.update(
            str(i)
            for i in conn.scalars(
                select(c.history_id).where(
                    c.scope == rule.scope,
                    c.kind == kind,
                    c.holder == holder,
                    c.claimed_at == now,
                    c.history_id.in_(wanted[start : start + _CLAIM_BATCH]),
                )
            )
        )
    return won


def attach_audit(
    conn: Connection,
    scope: str,
    kind: ResendKind,
    ids: Iterable[str],
    holder: str,
    audit_id: int,
) -> None:
    """Point ``holder``'s claims on ``ids`` at the audit row that resends them."""
    c = notification_claims.c
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), _CLAIM_BATCH):
        conn.execute(
            update(notification_claims)
            .where(
                c.scope == scope,
                c.kind == kind,
                c.holder == holder,
                c.history_id.in_(wanted[start : start + _CLAIM_BATCH]),
            )
            .values(audit_id=audit_id)
        )


def claims_on(
    conn: Connection, scope: str, kind: ResendKind, ids: Iterable[str]
) -> list[NotificationClaim]:
    """The stored claims on ``ids`` (expired ones included), with what became of each."""
    c = notification_claims.c
    wanted = sorted(set(ids))
    found: list[NotificationClaim] = []
    for start in range(0, len(wanted), _CLAIM_BATCH):
        stmt = (
            select(
                notification_claims,
                resend_audit.c.status.label("audit_status"),
                resend_audit.c.outcome.label("audit_outcome"),
                outage_replays.c.state.label("replay_state"),
            )
            .select_from(
                notification_claims.outerjoin(
                    resend_audit, resend_audit.c.id == c.audit_id
                ).outerjoin(outage_replays, outage_replays.c.replay_key == c.holder)
            )
            .where(
                c.scope == scope,
                c.kind == kind,
                c.history_id.in_(wanted[start : start + _CLAIM_BATCH]),
            )
        )
        for row in conn.execute(stmt):
            outcome = outcome_from_json(row.audit_outcome) if row.audit_outcome else {}
            found.append(
                from_row(
                    NotificationClaim,
                    row,
                    kind=check_literal(row.kind, RESEND_KINDS, "kind"),
                    again=bool(row.again),
                    audit_status=None
                    if row.audit_status is None
                    else check_literal(row.audit_status, RESEND_STATUSES, "status"),
                    id_outcome=outcome.get(row.history_id),
                    replay_state=None
                    if row.replay_state is None
                    else check_literal(row.replay_state, REPLAY_STATES, "state"),
                )
            )
    return sorted(found, key=lambda claim: claim.history_id)


class ClaimStore(StoreBase):
    """The notification_claims table, read on its own."""

    def notification_claims(
        self, scope: str, kind: ResendKind, ids: Iterable[str], *, now: datetime
    ) -> list[NotificationClaim]:
        """Claims on ``ids`` still inside their once window at ``now``."""
        now = require_aware(now, "now")
        with self._transaction("notification_claims", read_only=True) as conn:
            claims = claims_on(conn, scope, kind, ids)
        return [claim for claim in claims if claim.expires_at > now]

    # --- outage replays ---
