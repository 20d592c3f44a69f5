"""The quiet-alert tables (migration 12) on SQLite and PostgreSQL: mutes kept with who and when, one
winner per thread reply, the update mode's default and upsert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.store import AlertSpike, NewAlertSubscription
from bot.store.database import Store

NOW = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)


def _incident(store: Store) -> tuple[int, int]:
    sub = store.add_alert_subscription(
        NewAlertSubscription(
            team_id="T1",
            channel_id="C1",
            created_by="U1",
            created_at=NOW,
            threshold=3,
            minutes=15,
            kind="all",
        )
    )
    spike = AlertSpike(count=3, accounts=frozenset({"a"}), first_at=NOW, last_at=NOW, hourly={})
    incident = store.open_alert_incident(
        sub.id,
        cause_id="abcdefghij",
        seq=1,
        cause_kind="callout",
        label="x",
        spike=spike,
        owner="o",
        now=NOW,
    )
    assert incident is not None
    return sub.id, incident.id


def test_mutes_are_kept_replaced_expired_and_ended_by_recovery(store: Store) -> None:
    first = store.mute_cause("T1", "c1", label="L", until=None, user_id="U1", now=NOW)
    assert (
        store.active_mute("T1", "c1", NOW) == first and store.active_mute("T2", "c1", NOW) is None
    )
    hour = store.mute_cause(
        "T1", "c1", label="L", until=NOW + timedelta(hours=1), user_id="U2", now=NOW
    )
    assert store.active_mute("T1", "c1", NOW) == hour
    assert store.active_mute("T1", "c1", NOW + timedelta(hours=1)) is None  # expired
    # Recovery ends only an until-recovered mute; the timed one runs its course.
    assert store.end_cause_mutes("T1", "c1", reason="recovered", now=NOW, user_id=None) == 0
    assert store.end_cause_mutes("T1", "c1", reason="unmuted", now=NOW, user_id="U3") == 1
    kept = store.list_cause_mutes("T1", "c1")
    assert [(m.muted_by, m.unmuted_by, m.end_reason) for m in kept] == [
        ("U1", "U2", "replaced"),
        ("U2", "U3", "unmuted"),
    ]
    store.mute_cause("T1", "c2", label="M", until=None, user_id="U1", now=NOW)
    assert store.end_cause_mutes("T1", "c2", reason="recovered", now=NOW, user_id=None) == 1
    assert store.active_mutes(None, NOW) == {}


def test_one_clock_wins_each_thread_reply(store: Store) -> None:
    _sub, incident_id = _incident(store)
    won = store.claim_thread_reply(incident_id, seq=1, count=5, accounts=2, owner="a", now=NOW)
    assert won is not None and won.state == "posting"
    assert (
        store.claim_thread_reply(incident_id, seq=1, count=5, accounts=2, owner="b", now=NOW)
        is None
    )
    assert not store.finish_thread_reply(won.id, owner="b", state="posted", message_ts="1.2")
    lease = timedelta(minutes=2)
    assert not store.take_thread_reply(won.id, owner="b", now=NOW + lease, lease=lease)
    assert store.take_thread_reply(won.id, owner="b", now=NOW + 2 * lease, lease=lease)
    assert store.finish_thread_reply(won.id, owner="b", state="posted", message_ts="1.2")
    latest = store.latest_thread_reply(incident_id)
    assert latest is not None and (latest.state, latest.message_ts) == ("posted", "1.2")


def test_update_mode_defaults_to_thread_and_is_set_in_place(store: Store) -> None:
    sub_id, _incident_id = _incident(store)
    assert store.alert_update_mode(sub_id) == "thread"
    store.set_alert_update_mode(sub_id, "edit", user_id="U1", now=NOW)
    assert store.alert_update_mode(sub_id) == "edit"
    store.set_alert_update_mode(sub_id, "thread", user_id="U2", now=NOW)
    assert store.alert_update_mode(sub_id) == "thread"
