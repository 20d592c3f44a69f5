"""Helpers of the Home tests: open the Home tab like Slack (a signed app_home_opened), click in it."""

from __future__ import annotations

import time
from collections.abc import Sequence

from slack_bolt import BoltRequest, BoltResponse

from bot.home.service import HomePublisher
from bot.sandbox.fake_slack_surfaces import (
    app_home_opened_body,
    home_click_body,
    signed_event_headers,
)
from bot.sandbox.slack_requests import sign
from tests.support.stack_fixtures import Harness, JsonDict, elements


class Ticks:
    """A settable monotonic timer for the Home's debounce."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def use_timer(harness: Harness) -> Ticks:
    """Give the harness's Deps a Home publisher on a timer the test moves."""
    ticks = Ticks()
    object.__setattr__(harness.deps, "home", HomePublisher(timer=ticks))
    return ticks


def open_home(
    harness: Harness,
    user_id: str,
    *,
    with_current_view: bool = True,
    secret: str | None = None,
    retry_num: str | None = None,
) -> BoltResponse:
    """The user opens the Home tab: Slack sends app_home_opened (with the view it shows, if any)."""
    view = harness.slack.surfaces.home_view(user_id) if with_current_view else None
    body = app_home_opened_body(user_id=user_id, view=view)
    headers: dict[str, str | Sequence[str]] = {
        **signed_event_headers(secret or harness.stack.signing_secret, body)
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = retry_num
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return harness.app.dispatch(BoltRequest(body=body.decode(), headers=headers))


def home_view(harness: Harness, user_id: str) -> JsonDict:
    """The Home view Slack shows the user now; fails when none was published."""
    view = harness.slack.surfaces.home_view(user_id)
    assert view is not None, f"no Home published for {user_id}"
    return view


def publishes(harness: Harness, user_id: str) -> int:
    """How many views.publish calls the bot made for the user."""
    return sum(
        1 for call in harness.slack.calls("views.publish") if call.params.get("user_id") == user_id
    )


def click_home(harness: Harness, user_id: str, action_id: str, index: int = 0) -> BoltResponse:
    """Click the `index`th button with `action_id` on the user's Home."""
    view = home_view(harness, user_id)
    found = [e for e in elements(view) if e.get("action_id") == action_id]
    body = home_click_body(found[index], user_id=user_id, view=view)
    headers: dict[str, str | Sequence[str]] = {
        **sign(harness.stack.signing_secret, body, int(time.time()))
    }
    return harness.app.dispatch(BoltRequest(body=body.decode(), headers=headers))
