"""What `/zuora audit` adds to a resend: whether it worked (its outcome watch), and a replay's cause."""

from __future__ import annotations

from collections.abc import Sequence

from bot.store import ResendAuditEntry
from bot.store.database import Store
from bot.store.watch_records import OutcomeWatch

REPLAY_PREFIX = "replay:"
_CHUNK = ":chunk-"


def watch_words(watch: OutcomeWatch) -> str:
    """A watch in plain words: its final outcome, or how far the checking got."""
    if watch.outcome is not None:
        return f"did it work? {watch.outcome_detail or watch.outcome}"
    return f"did it work? checking Zuora's history ({watch.checks_done} look(s) so far)"


def audit_notes(store: Store, entries: Sequence[ResendAuditEntry]) -> dict[int, list[str]]:
    """Plain-text notes per audit id: a replay's cause, and the outcome of what was resent."""
    watches = store.watches_for_audits(entry.id for entry in entries)
    notes: dict[int, list[str]] = {}
    replays: dict[str, tuple[str, OutcomeWatch | None]] = {}
    for entry in entries:
        lines = notes.setdefault(entry.id, [])
        if entry.dedup_key.startswith(REPLAY_PREFIX) and _CHUNK in entry.dedup_key:
            key = entry.dedup_key.split(_CHUNK, 1)[0]
            if key not in replays:
                replay = store.replay(key)
                replays[key] = (
                    (replay.label, store.watch_for_replay(replay.id))
                    if replay is not None
                    else ("an outage cause", None)
                )
            label, replay_watch = replays[key]
            lines.append(f"replay of the cause {label}")
            if replay_watch is not None:
                lines.append(f"{watch_words(replay_watch)} (whole replay)")
        watch = watches.get(entry.id)
        if watch is not None:
            lines.append(watch_words(watch))
    return notes
