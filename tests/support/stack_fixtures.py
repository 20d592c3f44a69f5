"""Helpers shared by the app, handler and smoke tests: the sandbox servers wired to a real App.

`dispatch_harness` starts FakeZuora and FakeSlack (via `SandboxStack`, without its HTTP bot) and builds
the production `Deps` and `App` against them, so tests drive the bot with signed `BoltRequest`s
through `app.dispatch`. The card helpers read Block Kit the way a person reads the message.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from slack_bolt import App, BoltRequest, BoltResponse

from bot.app import create_app
from bot.core.actions import decode_row_action
from bot.deps import Deps, build_deps
from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.slack_requests import block_actions_body, sign, slash_command_body
from bot.sandbox.stack import SandboxStack
from bot.sandbox.tenant import Tenant, build_tenant

JsonDict = dict[str, Any]

BIG_ACCOUNT = "A00000001"  # 15 failed callouts and 17 failed emails in 24h: two pages
# 3 failed callouts and 6 failed emails in 24h: one page, every row with its own Resend.
ORDINARY_ACCOUNT = "A00000017"
RESEND_PATH_PREFIX = "/notifications/"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_url() -> str:
    """The PostgreSQL the suite uses (DATABASE_URL_TEST overrides the local default)."""
    return os.environ.get("DATABASE_URL_TEST", DEFAULT_POSTGRES_URL)


def fresh_tenant(seed: int = 7) -> Tenant:
    """The deterministic demo tenant, anchored at the real clock (the bot reads the wall clock)."""
    return build_tenant(seed=seed, now=datetime.now(UTC))


@dataclass
class Reply:
    """What one signed request produced: Bolt's HTTP answer and the response_url it carried."""

    response: BoltResponse
    response_url: str

    @property
    def status(self) -> int:
        """HTTP status Bolt answered."""
        return self.response.status

    @property
    def ack(self) -> JsonDict:
        """The ack body as JSON ({} when Bolt acked with an empty body)."""
        body = self.response.body
        return json.loads(body) if body else {}


@dataclass
class Harness:
    """Fake Zuora + fake Slack + the real App; send signed commands and clicks through dispatch."""

    stack: SandboxStack
    deps: Deps
    app: App

    @property
    def zuora(self) -> FakeZuora:
        """The sandbox Zuora the bot talks to."""
        return self.stack.zuora

    @property
    def slack(self) -> FakeSlack:
        """The fake Slack receiving Web API calls and response_url posts."""
        return self.stack.slack

    @property
    def tenant(self) -> Tenant:
        """The sandbox tenant's data."""
        assert self.stack.tenant is not None
        return self.stack.tenant

    def dispatch(
        self,
        body: bytes,
        *,
        timestamp: float | None = None,
        secret: str | None = None,
    ) -> BoltResponse:
        """Sign `body` (with the right secret and the current time unless told) and dispatch it."""
        when = int(time.time() if timestamp is None else timestamp)
        headers: dict[str, str | Sequence[str]] = {
            **sign(secret or self.stack.signing_secret, body, when)
        }
        return self.app.dispatch(BoltRequest(body=body.decode(), headers=headers))

    def command(self, text: str, *, user_id: str = "U0001", **signing: Any) -> Reply:
        """Run `/zuora <text>` with a fresh slash-command response_url."""
        url = self.slack.response_url("cmd", kind="command")
        body = slash_command_body(text=text, response_url=url, user_id=user_id)
        return Reply(self.dispatch(body, **signing), url)

    def click(
        self,
        button: JsonDict,
        *,
        user_id: str = "U0001",
        response_url: str | None = None,
        message: JsonDict | None = None,
        state_values: JsonDict | None = None,
        message_ts: str | None = None,
        action_ts: str = "1700000000.000001",
    ) -> Reply:
        """Click `button` (a Block Kit element dict) on an ephemeral card unless `message` is given.

        The fresh response_url is a click's: it replaces or deletes `message` (a channel message)
        when given, else the ephemeral card.
        """
        url = response_url or self.slack.response_url(
            "click",
            kind="interaction",
            channel=str(message.get("channel") or "C0001") if message else "",
            message_ts=str(message["ts"]) if message else "",
        )
        body = click_body_for(
            button,
            response_url=url,
            user_id=user_id,
            message=message,
            state_values=state_values,
            message_ts=message_ts,
            action_ts=action_ts,
        )
        return Reply(self.dispatch(body), url)

    def posts(self, response_url: str) -> list[JsonDict]:
        """Messages the bot posted to one response_url, oldest first."""
        return self.slack.responses(response_url)

    def seen(self, reply: Reply) -> list[JsonDict]:
        """What the user sees after a command or click: the ack, then what its posts left shown."""
        ack = reply.ack
        shown = [ack] if ack.get("text") or ack.get("blocks") else []
        return shown + self.slack.shown(reply.response_url)

    def wait_posts(self, response_url: str, count: int, timeout: float = 10.0) -> list[JsonDict]:
        """Block until `count` messages reached `response_url`; return them."""
        reached = self.slack.wait_for(
            lambda: len(self.slack.responses(response_url)) >= count, timeout=timeout
        )
        posts = self.slack.responses(response_url)
        assert reached, f"expected {count} posts to {response_url}, got {posts}"
        return posts

    def card_for(self, account: str = BIG_ACCOUNT, window: str = "") -> JsonDict:
        """Run `/zuora failures` and return the card it posted after the ack."""
        reply = self.command(f"failures {account} {window}".strip())
        assert reply.status == 200, reply.response.body
        return self.wait_posts(reply.response_url, 1)[-1]

    def account_name(self, number: str = BIG_ACCOUNT) -> str:
        """The name Zuora holds for an account number."""
        account = self.tenant.account(number)
        assert account is not None, number
        return account.name

    def resends(self) -> list[tuple[str, tuple[str, ...]]]:
        """Resend requests Zuora received (kind, ids), replays included, oldest first."""
        return [(call.kind, call.ids) for call in self.zuora.resend_calls()]


@contextmanager
def dispatch_harness(
    workdir: Path,
    *,
    process_before_response: bool = True,
    tenant: Tenant | None = None,
    allowed_users: str = "*",
    audit_channel: str | None = None,
    zuora_overrides: dict[str, Any] | None = None,
) -> Iterator[Harness]:
    """Start the fakes, build Deps and the App against them, and tear everything down after."""
    stack = SandboxStack(
        workdir,
        tenant=tenant or fresh_tenant(),
        allowed_users=allowed_users,
        audit_channel=audit_channel,
        zuora_overrides=dict(zuora_overrides or {}),
    )
    stack.zuora.start()
    stack.slack.start()
    deps: Deps | None = None
    try:
        deps = build_deps(stack.settings())
        app = create_app(deps, process_before_response=process_before_response)
        yield Harness(stack=stack, deps=deps, app=app)
    finally:
        if deps is not None:
            deps.close()
        stack.slack.stop()
        stack.zuora.stop()


# --- reading cards ---------------------------------------------------------------------------


def elements(message: JsonDict) -> Iterator[JsonDict]:
    """Every interactive element of a message (accessories and actions elements), with block_id."""
    for block in message.get("blocks") or []:
        block_id = block.get("block_id", "")
        accessory = block.get("accessory")
        if accessory is not None:
            yield {**accessory, "block_id": block_id}
        for element in block.get("elements") or []:
            if "action_id" in element:
                yield {**element, "block_id": block_id}


def buttons(message: JsonDict, action_id: str) -> list[JsonDict]:
    """The elements of `message` with this action_id."""
    return [e for e in elements(message) if e.get("action_id") == action_id]


def button(message: JsonDict, action_id: str) -> JsonDict:
    """The first element with this action_id; fails the test when there is none."""
    found = buttons(message, action_id)
    assert found, f"no {action_id} in {json.dumps(message)[:500]}"
    return found[0]


def texts(message: JsonDict) -> list[str]:
    """The fallback text and every text object in the blocks, in order."""
    found: list[str] = [str(message.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                found.append(node["text"])
            for key, value in node.items():
                if key != "text" or not isinstance(value, str):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return found


def all_text(message: JsonDict) -> str:
    """Every text of a message joined by newlines, for `in` checks."""
    return "\n".join(texts(message))


def mrkdwn_texts(message: JsonDict) -> list[str]:
    """The texts Slack parses as mrkdwn: the fallback `text` and every mrkdwn object."""
    found: list[str] = [str(message.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return found


def value_of(element: JsonDict) -> JsonDict:
    """A button's JSON value, decoded."""
    decoded: JsonDict = json.loads(str(element["value"]))
    return decoded


def ids_of(element: JsonDict) -> list[str]:
    """The history ids a Resend control acts on: a row's compact value, or an older JSON value."""
    raw = str(element.get("value") or (element.get("selected_option") or {}).get("value"))
    if raw.startswith("{"):
        return list(json.loads(raw)["ids"])
    history_id = decode_row_action(raw).history_id
    assert history_id is not None, raw
    return [history_id]


def told_not_twice(text: str) -> bool:
    """A second click's answer: the resend is in progress or was handled, never sent twice."""
    lowered = text.lower()
    return ("already handled" in lowered or "resend is in progress" in lowered) and (
        "twice" in lowered
    )


def menu_option(message: JsonDict, verb: str, *, index: int = 0) -> JsonDict:
    """A pick of `verb` ("Resend", "Details", "Open in Zuora") from the `index`-th row menu."""
    menus = [
        menu
        for menu in buttons(message, "zuora.row_menu")
        if any(o["text"]["text"] == verb for o in menu["options"])
    ]
    assert len(menus) > index, f"no row menu with {verb!r} in {json.dumps(message)[:500]}"
    menu = menus[index]
    option = next(o for o in menu["options"] if o["text"]["text"] == verb)
    return {"action_id": menu["action_id"], "block_id": menu["block_id"], "selected_option": option}


def ticked(message: JsonDict, count: int) -> tuple[JsonDict, list[str]]:
    """`state.values` ticking the first `count` email checkboxes of a card, and the ids ticked."""
    boxes = buttons(message, "zuora.select_emails")
    assert boxes, "the card has no email checkboxes"
    box = boxes[0]
    chosen = box["options"][:count]
    state = {
        box["block_id"]: {
            "zuora.select_emails": {"type": "checkboxes", "selected_options": chosen},
        }
    }
    return state, [option["value"].split(":", 1)[1] for option in chosen]


# --- real HTTP -------------------------------------------------------------------------------


def post_signed(
    client: httpx.Client,
    url: str,
    body: bytes,
    *,
    secret: str,
    timestamp: float | None = None,
) -> httpx.Response:
    """POST `body` to the bot the way Slack does: form-encoded and signed."""
    when = int(time.time() if timestamp is None else timestamp)
    return client.post(url, content=body, headers=sign(secret, body, when))


def click_body_for(
    element: JsonDict, *, response_url: str, user_id: str = "U0001", **extra: Any
) -> bytes:
    """The block_actions body of a click on `element` in an ephemeral card (or a menu pick)."""
    return block_actions_body(
        action_id=str(element["action_id"]),
        block_id=str(element.get("block_id", "b")),
        value=element.get("value"),
        selected_option=element.get("selected_option"),
        response_url=response_url,
        user_id=user_id,
        **extra,
    )
