"""What the store lets out: no database password in `/zuora status`, the boot log or reprs (also when
it is a URL query parameter), a private SQLite file, and the audit trail read per workspace."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import build_tenant
from bot.store import ResendRequest
from bot.store.database import Store
from tests.support.db_urls import database, postgres_schema
from tests.support.read_rule import ALLOWED, command, posted_text, read_harness

PASSWORD = "hunter2-db-pw"


@pytest.fixture
def pg_url_with_password() -> Iterator[str]:
    """A throwaway PostgreSQL schema whose URL carries a password as a query parameter.

    The test server trusts local connections, so the password is sent and ignored: the point is
    only where the bot shows it.
    """
    with postgres_schema() as url:
        yield (
            make_url(url)
            .update_query_dict({"password": PASSWORD})
            .render_as_string(hide_password=False)
        )


def test_store_describe_masks_a_password_in_the_query_and_in_the_userinfo(
    pg_url_with_password: str,
) -> None:
    store = Store.from_url(pg_url_with_password)
    try:
        shown = store.describe() + repr(store)
        assert PASSWORD not in shown and "password=***" in shown
    finally:
        store.close()
    # Not connected: Store only renders the URL.
    both = create_engine(f"postgresql+psycopg://app:{PASSWORD}@db.invalid/zops?password={PASSWORD}")
    unconnected = Store(both)
    try:
        assert PASSWORD not in unconnected.describe() + repr(unconnected)
        assert unconnected.describe() == "postgresql+psycopg://app:***@db.invalid/zops?password=***"
    finally:
        unconnected.close()


def test_store_status_never_shows_the_database_password(
    tmp_path: Path, pg_url_with_password: str
) -> None:
    with read_harness(tmp_path, database_url=pg_url_with_password) as harness:
        shown = posted_text(harness, command(harness, "status", user_id=ALLOWED))

    assert "DATABASE_URL" in shown and "password=***" in shown
    assert PASSWORD not in shown


def test_store_boot_log_never_shows_the_database_password(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    pg_url_with_password: str,
) -> None:
    import bot.deps
    from bot.wsgi import build_application

    built: list[bot.deps.Deps] = []
    real_build_deps = bot.deps.build_deps

    def keep(*args: object, **kwargs: object) -> bot.deps.Deps:
        deps = real_build_deps(*args, **kwargs)  # type: ignore[arg-type]
        built.append(deps)
        return deps

    monkeypatch.setattr(bot.deps, "build_deps", keep)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    tenant = build_tenant(seed=7, now=datetime.now(UTC))
    try:
        with FakeSlack(token="xoxb-boot-log") as slack, FakeZuora(tenant) as zuora:
            for name, value in {
                "SLACK_BOT_TOKEN": "xoxb-boot-log",
                "SLACK_SIGNING_SECRET": "0123456789abcdef0123",
                "SLACK_API_URL": slack.base_url,
                "ZUORA_BASE_URL": zuora.base_url,
                "ZUORA_CLIENT_ID": zuora.client_id,
                "ZUORA_CLIENT_SECRET": zuora.client_secret,
                "DATABASE_URL": pg_url_with_password,
            }.items():
                monkeypatch.setenv(name, value)
            build_application()
    finally:
        for deps in built:
            deps.close()
        root.handlers[:] = saved[0]  # basicConfig(force=True) replaced pytest's handlers
        root.setLevel(saved[1])
    logged = capfd.readouterr().err
    assert "zuora-ops web ready: store=" in logged and "password=***" in logged
    assert PASSWORD not in logged


def test_store_sqlite_file_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    path = tmp_path / "zuora-ops.db"
    old = os.umask(0o022)
    try:
        store = Store.from_url(f"sqlite:///{path}")
        try:
            store.claim_click("k", now=datetime.now(UTC), ttl=timedelta(days=1))
            files = [p for p in tmp_path.iterdir() if p.name.startswith("zuora-ops.db")]
            assert {p.name for p in files} >= {
                "zuora-ops.db",
                "zuora-ops.db-wal",
                "zuora-ops.db-shm",
            }
            for file in files:
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
        finally:
            store.close()
    finally:
        os.umask(old)


def test_store_sqlite_existing_readable_file_is_reported_not_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "zuora-ops.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="bot.store"):
        Store.from_url(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert "readable by others" in caplog.text and "chmod 600" in caplog.text


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_store_list_and_count_resends_by_workspace(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        store = Store.from_url(url)
        try:
            for team, n in (("T0A", 3), ("T0B", 2)):
                for i in range(n):
                    store.record_resend_requested(
                        ResendRequest(
                            requested_at=datetime.now(UTC),
                            team_id=team,
                            user_id="U0X",
                            account_key="A1" if i else "A2",
                            kind="email",
                            ids=("x" * 32,),
                            track_id=f"{team}-{i}",
                            dedup_key=f"{team}-{i}",
                        )
                    )
            assert {e.team_id for e in store.list_resends(team_id="T0A", limit=50)} == {"T0A"}
            assert len(store.list_resends(team_id="T0B", limit=50)) == 2
            assert store.count_resends(team_id="T0A") == 3
            assert store.count_resends("A1", team_id="T0B") == 1
            assert store.count_resends() == 5  # the CLI and tests may still read every workspace
        finally:
            store.close()
