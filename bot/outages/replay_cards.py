"""Outage replay cards: "Resending 400 of 1,270…" in place, the final summary, and "already started"."""

from __future__ import annotations

from bot.outages.replay_back import back_to_outages
from bot.outages.replay_target import ReplayTarget
from bot.slack.elements import context, finish, mention, plural, section
from bot.slack.message import SlackMessage
from bot.slack.mrkdwn import code, date_token, escape_truncated
from bot.store import Replay

REFUSAL_ROWS = 10  # reasons listed; the rest are summed in one line


def _noun(replay: Replay, count: int) -> str:
    base = "email" if replay.kind == "email" else "callout"
    return base if count == 1 else f"{base}s"


def _cause(replay: Replay) -> str:
    return escape_truncated(replay.label, 200)


def _window(replay: Replay) -> str:
    return f"{date_token(replay.window_start)} – {date_token(replay.window_end)}"


def build_replay_progress(replay: Replay) -> SlackMessage:
    """'Resending 400 of 1,270 callouts…' for the cause, with who started it; no buttons."""
    line = (
        f"Resending {replay.handled:,} of {replay.total:,} {_noun(replay, replay.total)}… "
        f"({_cause(replay)})"
    )
    if replay.waiting:
        line += f"\n{_waiting_line(replay)}"
    return finish(
        f"Resending {replay.handled:,} of {replay.total:,} {_noun(replay, replay.total)}…"
        + (" waiting for Zuora's answer" if replay.waiting else ""),
        [
            section(f":hourglass_flowing_sand: *{line}*"),
            context(
                f"{replay.accounts:,} accounts · {_window(replay)} · started by "
                f"{mention(replay.user_id)} {date_token(replay.requested_at)} · "
                f"{replay.chunks_done} of {replay.chunk_count} requests to Zuora done. "
                "This message updates as Zuora answers."
            ),
        ],
    )


def _waiting_line(replay: Replay) -> str:
    """The next request's answer is unknown: what that means (not a failure) and what happens."""
    reason = escape_truncated(replay.error or "Zuora gave no answer", 300)
    return (
        f"Waiting for Zuora's answer to request {replay.chunks_done + 1} of "
        f"{replay.chunk_count} ({reason}). Not failed: the bot asks again with the same "
        "Idempotency-Key, so nothing is sent twice."
    )


def build_replay_summary(replay: Replay) -> SlackMessage:
    """The outcome: sent, refused by Zuora grouped by reason, already in progress, not sent."""
    refused = sum(replay.refused.values())
    remaining = replay.total - replay.handled
    stopped = replay.state == "stopped"
    icon = ":warning:" if (refused or stopped) else ":white_check_mark:"
    head = f"{replay.sent:,} of {replay.total:,} {_noun(replay, replay.total)} resent"
    lines = [f"{icon} *{head}* for {_cause(replay)}"]
    if refused:
        lines.append(f"• {refused:,} refused by Zuora:")
        reasons = sorted(replay.refused.items(), key=lambda item: (-item[1], item[0]))
        for reason, count in reasons[:REFUSAL_ROWS]:
            code_text, _, message = reason.partition("\t")
            lines.append(
                f"    ◦ {count:,} × {code(code_text, 40)} {escape_truncated(message, 160)}"
            )
        if len(reasons) > REFUSAL_ROWS:
            rest = sum(count for _, count in reasons[REFUSAL_ROWS:])
            lines.append(f"    ◦ {rest:,} more for {len(reasons) - REFUSAL_ROWS} other reasons")
    if replay.in_progress:
        lines.append(
            f"• {replay.in_progress:,} already done or in progress at Zuora (409): not sent twice"
        )
    if replay.not_sent:
        lines.append(f"• {replay.not_sent:,} not sent (Zuora gave no answer)")
    if stopped:
        reason = escape_truncated(replay.error or "Zuora gave no answer", 400)
        lines.append(
            f"• {remaining:,} not sent yet: {reason}\n"
            "Press *Resend all* again (or run "
            f"{code('zuora-ops replay ' + replay.cause_id)}) to continue; "
            "what was sent is never sent again."
        )
    text = f"{head}" + (f"; {remaining:,} not sent yet" if stopped else "")
    return finish(
        text,
        [
            section("\n".join(lines)),
            context(
                f"{replay.accounts:,} accounts · {_window(replay)} · started by "
                f"{mention(replay.user_id)} {date_token(replay.requested_at)} · "
                f"{plural(replay.chunks_done, 'request')} to Zuora · every request is in the "
                "audit trail"
            ),
            back_to_outages(replay),
        ],
    )


def build_replay_busy(replay: Replay, *, joined: bool = False) -> SlackMessage:
    """What a second clicker reads: in progress (who, when, how far) or already replayed.

    `joined`: the click came from another card (another window) of the same cause while this
    replay ran; it joined it instead of starting a second one.
    """
    who, when = mention(replay.user_id), date_token(replay.requested_at)
    if replay.state == "running":
        lead = (
            f":hourglass_flowing_sand: A replay of this cause is already running (started by "
            f"{who} at {when}, {_window(replay)}); your click joined it instead of starting "
            "another"
            if joined
            else f":hourglass_flowing_sand: Replay in progress, started by {who} at {when}"
        )
        return finish(
            "That replay is in progress; nothing will be sent twice.",
            [
                section(
                    f"{lead}: {replay.handled:,} of {replay.total:,} done. "
                    "Nothing will be sent twice."
                    + (f"\n{_waiting_line(replay)}" if replay.waiting else "")
                ),
                context(
                    f"{replay.chunks_done} of {replay.chunk_count} requests to Zuora done; "
                    f"{replay.sent:,} resent so far. The card of {who} shows the outcome."
                ),
            ],
        )
    return finish(
        "Already replayed; nothing was sent twice.",
        [
            section(
                f":information_source: Already replayed by {who} at {when}: "
                f"{replay.sent:,} of {replay.total:,} resent. Nothing was sent twice."
            )
        ],
    )


# --- left out because of Zuora's own retries (issue 18) -------------------------------------------


def retry_left_out(target: ReplayTarget) -> str:
    """Which callouts a replay left out because of Zuora's own retries, and how to include them."""
    parts = []
    if target.retrying:
        parts.append(
            f"{target.retrying:,} callouts of that cause were left out: Zuora still retries them "
            "by itself, and a resend now would deliver them twice (to include them: "
            "`zuora-ops replay --include-retrying`)."
        )
    if target.invalid_body:
        parts.append(
            f"{target.invalid_body:,} were left out: the template's custom body is invalid "
            "(-2000), so a resend would fail the same way; fix the template first."
        )
    return " ".join(parts)


__all__ = ["build_replay_busy", "build_replay_progress", "build_replay_summary", "retry_left_out"]
