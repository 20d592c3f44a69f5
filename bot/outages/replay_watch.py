"""Did a replay work? One outcome watch per finished replay (its cause), and its summary card.

The watch covers every id Zuora accepted, batched for the cause: each check is one history
listing since the replay started, whatever the count (bot.resend.outcome_check). When it ends, the
replay's summary (on the card that started it) gains the outcome and keeps its way back to the
outages list.
"""

from __future__ import annotations

import logging

from bot.outages.replay_back import back_to_outages
from bot.outages.replay_cards import build_replay_summary
from bot.outages.replay_target import ReplayDeps, cause_prefix
from bot.resend.outcome_cards import RULE_NOTE, summary
from bot.resend.outcome_watch import open_replay_watch
from bot.slack.elements import context, finish, section
from bot.slack.io import Responder
from bot.slack.message import SlackMessage
from bot.store import Replay
from bot.store.database import Store
from bot.store.watch_records import OutcomeWatch, WatchTarget

logger = logging.getLogger(__name__)


def watch_replay(deps: ReplayDeps, replay: Replay) -> bool:
    """Open the watch of a finished replay: the ids of it Zuora accepted (one watch per replay)."""
    if replay.state != "done":
        return False
    try:
        accepted = deps.store.replayed_ids(cause_prefix(replay.cause_id))
        sent = tuple(i for i in replay.ids if i in accepted)
        return open_replay_watch(
            deps.store,
            deps.settings.resend,
            replay_id=replay.id,
            replay_key=replay.replay_key,
            cause_id=replay.cause_id,
            team_id=replay.team_id,
            user_id=replay.user_id,
            kind=replay.kind,
            sent=sent,
            window=(replay.window_start, replay.window_end),
            resent_at=replay.requested_at,
            now=deps.now(),
            target=WatchTarget(reply_url=replay.reply_url),
        )
    except Exception:  # the replay is done and shown; only "did it work?" is lost
        logger.exception("replay %s: could not open its outcome watch", replay.replay_key)
        return False


def build_replay_outcome(replay: Replay, watch: OutcomeWatch) -> SlackMessage:
    """The replay's summary with what the history said of its new records."""
    base = build_replay_summary(replay)
    blocks = [b for b in base.blocks if b.get("block_id") != "replay_back"]
    words = summary(watch.items)
    icon = {"delivered": ":white_check_mark:", "failed": ":x:"}.get(
        watch.outcome or "", ":warning:"
    )
    blocks.append(section(f"{icon} *Did it work?* {words}"))
    blocks.append(context(RULE_NOTE))
    blocks.append(back_to_outages(replay))
    return finish(f"{base.text} · {summary(watch.items, plain=True)}", blocks)


def show_replay_outcome(store: Store, responder: Responder, watch: OutcomeWatch) -> None:
    """Replace the replay's summary card with its outcome (its click's response_url)."""
    key = watch.source.get("replay_key")
    replay = store.replay(str(key)) if key else None
    if replay is None or not replay.reply_url:
        return
    responder.send(replay.reply_url, build_replay_outcome(replay, watch), replace_original=True)
