"""Shared fixtures: a clean environment, settings built in code, a fake clock."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.settings import (
    DigestSettings,
    ResendSettings,
    RuntimeSettings,
    Settings,
    SlackSettings,
    StoreSettings,
    ZuoraSettings,
    setting_docs,
)
from bot.store.database import Store
from tests.support.db_urls import database

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-1234-5678-testtoken"
ZUORA_CLIENT_ID = "4c1a6a3e-5d2b-4c5e-9f1a-2b3c4d5e6f70"
ZUORA_CLIENT_SECRET = "s3cr3t-zuora-client-value"
# Loopback fakes (FakeSlack response_urls, FakeZuora result files) over http on any port.
LOOPBACK_HOSTS = "http://127.0.0.1"
POSTGRES_URL = os.environ.get(
    "DATABASE_URL_TEST", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, once on SQLite and once on PostgreSQL (a schema of its own)."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated Store on each database, closed after the test."""
    s = Store.from_url(db_url)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No setting leaks in from the developer's shell or a .env file."""
    for doc in setting_docs():
        monkeypatch.delenv(doc.env, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def make_settings(tmp_path: Any) -> Callable[..., Settings]:
    """Build Settings in code; keyword groups override each area, e.g. zuora={"base_url": ...}."""

    def build(
        *,
        slack: dict[str, Any] | None = None,
        zuora: dict[str, Any] | None = None,
        resend: dict[str, Any] | None = None,
        store: dict[str, Any] | None = None,
        digest: dict[str, Any] | None = None,
    ) -> Settings:
        return Settings(
            slack=SlackSettings(
                _env_file=None,
                **{
                    "bot_token": BOT_TOKEN,
                    "signing_secret": SIGNING_SECRET,
                    # Tests' response_urls come from a FakeSlack on 127.0.0.1, any port.
                    "response_url_hosts": LOOPBACK_HOSTS,
                    **(slack or {}),
                },
            ),
            zuora=ZuoraSettings(
                _env_file=None,
                **{
                    "client_id": ZUORA_CLIENT_ID,
                    "client_secret": ZUORA_CLIENT_SECRET,
                    "result_file_hosts": LOOPBACK_HOSTS,
                    **(zuora or {}),
                },
            ),
            resend=ResendSettings(
                _env_file=None, **{"resend_allowed_users": "U0ALLOWED", **(resend or {})}
            ),
            store=StoreSettings(
                _env_file=None,
                **{"database_url": f"sqlite:///{tmp_path}/zuora-ops.db", **(store or {})},
            ),
            digest=DigestSettings(_env_file=None, **(digest or {})),
            runtime=RuntimeSettings(_env_file=None),
        )

    return build


class FakeClock:
    """A settable clock: `now()` returns aware UTC; `advance()` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    yield FakeClock()
