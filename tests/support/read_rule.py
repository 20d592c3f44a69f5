"""Helpers of the read-rule tests: a harness with read and resend allow-lists over two workspaces, and
signed commands and clicks by a given user."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.app import create_app
from bot.deps import build_deps
from bot.sandbox.slack_requests import slash_command_body
from bot.sandbox.stack import SandboxStack
from bot.settings import ResendSettings
from tests.support.stack_fixtures import ORDINARY_ACCOUNT, Harness, Reply, all_text, fresh_tenant

ALLOWED = "U0ALLOWED"
TEAM_A, TEAM_B = "T0AAAAAAA", "T0BBBBBBB"
WHSEC = "whsec_8f2a61c94be03d7751aa09e2"
SESSION = "A1B2C3D4E5F60718293A4B5C6D7E8F90"
SECRET_URL = f"https://ops:hunter2@hooks.acme.example/hook/;jsessionid={SESSION}?token={WHSEC}"


@contextmanager
def read_harness(
    workdir: Path, *, readers: str = "", database_url: str | None = None
) -> Iterator[Harness]:
    """The App with RESEND_ALLOWED_USERS=U0ALLOWED and READ_ALLOWED_USERS=`readers`.

    ORDINARY_ACCOUNT's callouts go to SECRET_URL, so every card that shows one can be checked.
    """
    tenant = fresh_tenant()
    for callout in tenant.callouts:
        if callout.account is not None and callout.account.number == ORDINARY_ACCOUNT:
            callout.request_url = SECRET_URL
    stack = SandboxStack(workdir, tenant=tenant, allowed_users=ALLOWED)
    stack.zuora.start()
    stack.slack.start()
    deps = None
    try:
        settings = stack.settings()
        resend = ResendSettings(
            _env_file=None,
            resend_allowed_users=ALLOWED,
            read_allowed_users=readers,
            resend_access_contact="#billing-ops",
        )
        update: dict[str, object] = {"resend": resend}
        if database_url is not None:
            update["store"] = settings.store.model_copy(update={"database_url": database_url})
        deps = build_deps(settings.model_copy(update=update))
        app = create_app(deps, process_before_response=True)
        yield Harness(stack=stack, deps=deps, app=app)
    finally:
        if deps is not None:
            deps.close()
        stack.slack.stop()
        stack.zuora.stop()


def command(harness: Harness, text: str, *, user_id: str, team_id: str = TEAM_A) -> Reply:
    """Run a signed `/zuora <text>` as `user_id` of workspace `team_id`."""
    url = harness.slack.response_url("cmd", kind="command")
    body = slash_command_body(text=text, response_url=url, user_id=user_id, team_id=team_id)
    reply = Reply(harness.dispatch(body), url)
    assert reply.status == 200, reply.response.body
    return reply


def posted_text(harness: Harness, reply: Reply) -> str:
    """Everything the bot posted to the reply's response_url, as one string."""
    return "\n".join(all_text(post) for post in harness.posts(reply.response_url))
