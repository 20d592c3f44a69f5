"""The sandbox stack on any database, and a clock moved on: for the resend outcome-watch tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import create_app
from bot.clock import check_outcomes
from bot.deps import Deps, build_deps
from bot.sandbox.stack import SandboxStack
from bot.settings import Settings, StoreSettings
from bot.store.watch_records import OutcomeWatch
from tests.support.stack_fixtures import Harness, fresh_tenant


def on_database(settings: Settings, db_url: str) -> Settings:
    """The stack's settings with the store on `db_url` (SQLite file or PostgreSQL schema)."""
    return settings.model_copy(update={"store": StoreSettings(_env_file=None, database_url=db_url)})


@contextmanager
def watch_harness(workdir: Path, db_url: str) -> Iterator[Harness]:
    """Fake Zuora + fake Slack + the real App with its store on `db_url`."""
    stack = SandboxStack(workdir, tenant=fresh_tenant(), allowed_users="*")
    stack.zuora.start()
    stack.slack.start()
    deps: Deps | None = None
    try:
        deps = build_deps(on_database(stack.settings(), db_url))
        yield Harness(stack=stack, deps=deps, app=create_app(deps, process_before_response=True))
    finally:
        if deps is not None:
            deps.close()
        stack.slack.stop()
        stack.zuora.stop()


def later(deps: Deps, seconds: float) -> Deps:
    """The same collaborators with a clock `seconds` ahead of the wall clock (no sleeping)."""
    moment: Callable[[], datetime] = lambda: datetime.now(UTC) + timedelta(seconds=seconds)  # noqa: E731
    return replace(deps, now=moment)


def check_at(deps: Deps, seconds: float) -> int:
    """Run the clock's outcome checks (bot.clock) as if `seconds` had passed since now."""
    return check_outcomes(later(deps, seconds))


def only_watch(deps: Deps) -> OutcomeWatch:
    """The one watch the test's resend opened."""
    (entry,) = deps.store.list_resends()
    watches = deps.store.watches_for_audits([entry.id])
    assert entry.id in watches, "the resend opened no outcome watch"
    return watches[entry.id]
