"""The Slack playground: its relay to the bot (signed, Slack-shaped) and its page, driven in Chromium."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from slack_sdk import WebClient

from bot.sandbox.fake_slack import FakeSlack, SlackEvent
from bot.sandbox.playground import DEFAULT_CHANNELS, HOSTILE_ACCOUNT, TITLE, Playground

BILLING = DEFAULT_CHANNELS[0].id
CARD_VALUE = '{"v":1,"a":"2c92c0f87a3b4e21017a3c5d6e7f0000","n":"A00000001","s":1714478400,"e":1714564800,"w":"7d","p":0}'
HOSTILE_NAME = "&lt;script&gt;alert(1)&lt;/script&gt; &lt;!channel&gt; Smith &amp; Sons"


def failures_card(link_url: str = "http://127.0.0.1:9/not-opened") -> dict[str, Any]:
    """A static failures card shaped like the bot's: rows, email checkboxes, card actions."""
    options = [
        {
            "text": {
                "type": "plain_text",
                "text": f"{n}. billing{n}@acme.example.com · Invoice Email",
            },
            "value": f"email:e00000000000000000000000000000{n:02d}",
        }
        for n in (1, 2, 3)
    ]
    return {
        "text": "Acme Corp (A00000001): 0 failed callouts, 3 failed emails in the last 7d",
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": "Failed notifications · Acme Corp (A00000001)",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*0 failed callouts* and *3 failed emails* in the last 7d\n"
                    "<!date^1714478400^{date_short_pretty} {time}|2024-04-30 12:00 UTC> – "
                    "<!date^1714564800^{date_short_pretty} {time}|2024-05-01 12:00 UTC>",
                },
            },
            {"type": "divider"},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*1.* *Invoice Posted Email* · to billing1@acme.example.com\n"
                    ":x: 550 5.1.1 &lt;billing1@acme.example.com&gt;: Recipient address rejected",
                },
                "accessory": {
                    "type": "button",
                    "action_id": "zuora.resend_email",
                    "text": {"type": "plain_text", "text": "Resend"},
                    "value": '{"v":1,"k":"email","ids":["e0000000000000000000000000000001"]}',
                },
            },
            {
                "type": "actions",
                "block_id": "emails_0",
                "elements": [
                    {"type": "checkboxes", "action_id": "zuora.select_emails", "options": options}
                ],
            },
            {
                "type": "actions",
                "block_id": "card_actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "zuora.resend_selected",
                        "text": {"type": "plain_text", "text": "Resend selected"},
                        "style": "primary",
                        "value": CARD_VALUE,
                    },
                    {
                        "type": "button",
                        "action_id": "zuora.resend_all",
                        "style": "danger",
                        "text": {"type": "plain_text", "text": "Resend all 3 failed emails"},
                        "value": '{"v":1,"count":3}',
                        "confirm": {
                            "title": {"type": "plain_text", "text": "Resend 3 failed emails?"},
                            "text": {
                                "type": "plain_text",
                                "text": "Resend all 3 failed emails for Acme Corp (A00000001)?",
                            },
                            "confirm": {"type": "plain_text", "text": "Resend 3"},
                            "deny": {"type": "plain_text", "text": "Cancel"},
                            "style": "danger",
                        },
                    },
                    {
                        "type": "button",
                        "action_id": "zuora.open_link",
                        "text": {"type": "plain_text", "text": "Open in Zuora"},
                        "url": link_url,
                    },
                ],
            },
        ],
    }


def outcome_card(picked: list[str]) -> dict[str, Any]:
    return {
        "text": f"{len(picked)} of {len(picked)} resent",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f":white_check_mark: *{len(picked)} of {len(picked)} resent* by <@U0PLAYER01>",
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": ", ".join(picked)}]},
        ],
    }


RECEIPT = "Asked Zuora for the failures of A00000001 in the last 7d; the answer follows below."


def card_script(request: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """A receipt then the card for commands; the outcome for Resend selected; nothing for ticks."""
    if request.kind == "command":
        return {"text": RECEIPT}, [
            {**failures_card(), "replace_original": False, "response_type": "ephemeral"}
        ]
    action = request.payload["actions"][0]
    if action["action_id"] in ("zuora.resend_selected", "zuora.resend_all"):
        picked = [
            option["value"]
            for block in request.payload["state"]["values"].values()
            for element in block.values()
            for option in element.get("selected_options", [])
        ]
        return None, [{**outcome_card(picked), "replace_original": True}]
    return None, []


def api(playground: Playground, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=10) as client:
        return client.post(playground.url + path.lstrip("/"), json=body, headers=headers)


def wait_until(predicate: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def slack_client(fake: FakeSlack) -> WebClient:
    return WebClient(base_url=fake.base_url, token=fake.token)


# ----- relay: what the bot receives and how replies land (no browser) ----------------------------


def test_playground_command_reaches_the_bot_signed_and_shaped_like_slack(
    playground: Playground, scripted_bot: Any, fake_slack: FakeSlack
) -> None:
    scripted_bot.script = card_script

    answer = api(
        playground, "/api/command", {"channel": BILLING, "text": "/zuora failures A00000001 7d"}
    )

    assert answer.json() == {"ok": True, "status": 200, "error": None}
    assert scripted_bot.rejected == 0
    (request,) = scripted_bot.of_kind("command")
    assert request.form["command"] == "/zuora"
    assert request.form["text"] == "failures A00000001 7d"
    assert request.form["channel_id"] == BILLING
    assert request.form["channel_name"] == "billing-ops"
    assert request.form["user_id"] == playground.user.id
    assert request.form["team_id"] == fake_slack.team_id
    assert request.form["response_url"].startswith(fake_slack.root_url + "/response/")
    card = wait_until(
        lambda: [
            m for m in playground.messages(BILLING) if m["author"] == "Zuora Ops" and m["blocks"]
        ]
    )
    assert len(card) == 1 and card[0]["ephemeral"] is True
    assert card[0]["blocks"] == failures_card()["blocks"]
    bot_messages = [m["text"] for m in playground.messages(BILLING) if m["author"] == "Zuora Ops"]
    assert bot_messages == [RECEIPT, failures_card()["text"]]


def test_playground_reply_that_beats_the_ack_keeps_both_with_the_ack_first(
    playground: Playground, scripted_bot: Any
) -> None:
    scripted_bot.script = card_script
    scripted_bot.respond_before_ack = True

    api(playground, "/api/command", {"channel": BILLING, "text": "/zuora failures A00000001 7d"})

    bot_messages = [m for m in playground.messages(BILLING) if m["author"] == "Zuora Ops"]
    assert [m["text"] for m in bot_messages] == [RECEIPT, failures_card()["text"]]


def test_playground_command_response_url_cannot_replace_or_delete_like_slack(
    playground: Playground, scripted_bot: Any, fake_slack: FakeSlack
) -> None:
    # Today's mistake, replayed: a placeholder ack, then two "replacing" cards through the command's
    # response_url. Slack shows all three (slackapi/bolt-python#1268, slackapi/bolt-js#2287).
    placeholder = {"text": "Looking up failures for A00000001, last 7d…"}
    replacing = {**failures_card(), "replace_original": True, "response_type": "ephemeral"}
    scripted_bot.script = lambda request: (
        placeholder,
        [replacing, replacing, {"delete_original": True}],
    )

    api(playground, "/api/command", {"channel": BILLING, "text": "/zuora failures A00000001 7d"})

    def bot_texts() -> list[str]:
        return [m["text"] for m in playground.messages(BILLING) if m["author"] == "Zuora Ops"]

    url = scripted_bot.of_kind("command")[0].response_url
    wait_until(lambda: len(fake_slack.effects(url)) == 3)
    assert fake_slack.effects(url) == ["posted", "posted", "ignored"]
    texts = bot_texts()
    assert texts == [placeholder["text"], failures_card()["text"], failures_card()["text"]]


def test_playground_click_on_ephemeral_card_is_ephemeral_with_state_and_fresh_response_url(
    playground: Playground, scripted_bot: Any, fake_slack: FakeSlack
) -> None:
    scripted_bot.script = card_script
    api(playground, "/api/command", {"channel": BILLING, "text": "/zuora failures A00000001 7d"})
    card = wait_until(lambda: [m for m in playground.messages(BILLING) if m["blocks"]])[0]
    option = failures_card()["blocks"][4]["elements"][0]["options"][1]
    state = {
        "emails_0": {"zuora.select_emails": {"type": "checkboxes", "selected_options": [option]}}
    }

    answer = api(
        playground,
        "/api/action",
        {
            "message_id": card["id"],
            "action": {
                "type": "button",
                "action_id": "zuora.resend_selected",
                "block_id": "card_actions",
                "value": CARD_VALUE,
                "text": "Resend selected",
            },
            "state": state,
        },
    )

    assert answer.json()["ok"] is True
    (click,) = scripted_bot.of_kind("block_actions:button")
    payload = click.payload
    assert payload["container"] == {
        "type": "message",
        "message_ts": card["ts"],
        "channel_id": BILLING,
        "is_ephemeral": True,
    }
    assert "message" not in payload
    assert payload["state"]["values"] == state
    assert payload["actions"][0]["value"] == CARD_VALUE
    assert payload["user"]["id"] == playground.user.id
    command_url = scripted_bot.of_kind("command")[0].response_url
    assert (
        payload["response_url"].startswith(fake_slack.root_url)
        and payload["response_url"] != command_url
    )
    replaced = wait_until(
        lambda: [
            m
            for m in playground.messages(BILLING)
            if m["id"] == card["id"] and m["text"] == "1 of 1 resent"
        ]
    )
    assert replaced[0]["rev"] > card["rev"]


def test_playground_channel_posts_update_in_place_and_clicks_carry_the_message(
    playground: Playground, scripted_bot: Any, fake_slack: FakeSlack
) -> None:
    client = slack_client(fake_slack)
    posted = client.chat_postMessage(
        channel=BILLING, text="Daily digest", blocks=failures_card()["blocks"]
    )
    client.chat_update(
        channel=BILLING,
        ts=posted["ts"],
        text="Daily digest (updated)",
        blocks=failures_card()["blocks"],
    )

    (shown,) = playground.messages(BILLING)
    assert shown["ts"] == posted["ts"] and shown["text"] == "Daily digest (updated)"
    assert shown["ephemeral"] is False and shown["edited"] is True
    api(
        playground,
        "/api/action",
        {
            "message_id": shown["id"],
            "action": {
                "type": "checkboxes",
                "action_id": "zuora.select_emails",
                "block_id": "emails_0",
                "selected_options": [],
            },
            "state": {},
        },
    )
    (tick,) = scripted_bot.of_kind("block_actions:checkboxes")
    assert tick.payload["container"]["is_ephemeral"] is False
    assert tick.payload["message"]["ts"] == posted["ts"]
    assert tick.payload["message"]["text"] == "Daily digest (updated)"
    assert tick.payload["state"]["values"] == {
        "emails_0": {"zuora.select_emails": {"type": "checkboxes", "selected_options": []}}
    }


def test_playground_click_response_url_flags_replace_add_and_delete(
    playground: Playground, scripted_bot: Any
) -> None:
    steps = [
        {"text": "second, new", "replace_original": False},
        {"text": "card, replaced", "replace_original": True},
        {"delete_original": True},
    ]
    scripted_bot.script = lambda request: (
        card_script(request) if request.kind == "command" else (None, steps)
    )
    api(playground, "/api/command", {"channel": BILLING, "text": "/zuora failures A00000001 7d"})
    card = wait_until(lambda: [m for m in playground.messages(BILLING) if m["blocks"]])[0]

    api(
        playground,
        "/api/action",
        {
            "message_id": card["id"],
            "action": {
                "type": "button",
                "action_id": "zuora.refresh",
                "block_id": "card_actions",
                "value": CARD_VALUE,
            },
            "state": {},
        },
    )

    texts = wait_until(
        lambda: (
            (t := [m["text"] for m in playground.messages(BILLING) if m["author"] == "Zuora Ops"])
            == [RECEIPT, "second, new"]
            and t
        )
    )
    assert texts == [RECEIPT, "second, new"], "the clicked card was replaced, then deleted"


def test_playground_reports_a_bot_that_refuses_the_signature(
    fake_slack: FakeSlack, scripted_bot: Any
) -> None:
    with Playground(
        slack=fake_slack, bot_url=scripted_bot.url, signing_secret="wrong-secret"
    ) as pg:
        answer = api(pg, "/api/command", {"channel": BILLING, "text": "/zuora help"})
        shown = pg.messages(BILLING)

    assert answer.json()["error"] == "http_status_401"
    assert scripted_bot.rejected == 1
    assert shown[-1]["author"] == "Slackbot"
    assert 'failed with the error "http_status_401"' in shown[-1]["text"]


def test_playground_api_refuses_foreign_hosts_and_form_posts(playground: Playground) -> None:
    with httpx.Client(trust_env=False, timeout=5) as client:
        rebound = client.get(playground.url + "api/state", headers={"Host": "evil.example"})
        form = client.post(
            playground.url + "api/command", data={"channel": BILLING, "text": "/zuora help"}
        )
        page = client.get(playground.url)

    assert rebound.status_code == 403
    assert form.status_code == 415
    assert page.status_code == 200 and TITLE in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_fake_slack_listener_sees_posts_updates_and_response_urls_in_order(
    fake_slack: FakeSlack,
) -> None:
    events: list[SlackEvent] = []
    remove = fake_slack.add_listener(events.append)
    client = slack_client(fake_slack)
    posted = client.chat_postMessage(channel="C1", text="hello")
    client.chat_update(channel="C1", ts=posted["ts"], text="hello again")
    client.chat_postEphemeral(channel="C1", user="U1", text="psst")
    url = fake_slack.response_url()
    with httpx.Client(trust_env=False) as http:
        http.post(url, json={"text": "via response_url", "replace_original": True})
    remove()
    client.chat_postMessage(channel="C1", text="not seen")

    assert [e.kind for e in events] == [
        "message_posted",
        "message_updated",
        "ephemeral_posted",
        "response_url",
    ]
    assert events[1].ts == posted["ts"] and events[1].message["text"] == "hello again"
    assert events[2].user == "U1" and events[2].message["text"] == "psst"
    assert events[3].url == url and events[3].body["replace_original"] is True


# ----- the page in Chromium ---------------------------------------------------------------------


def open_page(page: Any, playground: Playground) -> None:
    page.goto(playground.url)
    page.wait_for_selector("body[data-ready='true']")


def channel_view(page: Any, channel: str = BILLING) -> Any:
    return page.locator(f'[data-testid="channel-view"][data-channel-id="{channel}"]')


@pytest.mark.browser
def test_playground_renders_hostile_text_literally_and_mrkdwn_as_formatting(
    page: Any, playground: Playground, fake_slack: FakeSlack
) -> None:
    alerts: list[str] = []

    def on_dialog(dialog: Any) -> None:
        alerts.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    open_page(page, playground)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": "Account <img src=x onerror=alert(2)>"},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*{HOSTILE_NAME}* _italic_ ~gone~ `a<b` <https://zuora.example/acct|open &amp; see> "
                "<@U0PLAYER01> <#C0BILLOPS1> <!date^1714561680^{date_short_pretty} {time}|fallback>",
            },
            "fields": [{"type": "mrkdwn", "text": "```line one\n&lt;b&gt;two&lt;/b&gt;```"}],
        },
        {
            "type": "context",
            "elements": [
                {"type": "image", "image_url": "https://evil.example/x.png", "alt_text": "logo"},
                {"type": "plain_text", "text": "ctx"},
            ],
        },
    ]
    client = slack_client(fake_slack)
    client.chat_postMessage(channel=BILLING, text="hostile", blocks=blocks)
    client.chat_postMessage(channel=BILLING, text="Fallback *only* &lt;b&gt;")

    messages = channel_view(page).locator('[data-testid="message"]')
    expect(messages).to_have_count(2)
    first, second = messages.nth(0), messages.nth(1)
    assert (
        first.locator('[data-testid="block-header"]').inner_text()
        == "Account <img src=x onerror=alert(2)>"
    )
    section = first.locator('[data-testid="section-text"]')
    assert section.locator('[data-testid="bold"]').inner_text() == (
        "<script>alert(1)</script> <!channel> Smith & Sons"
    )
    assert section.locator('[data-testid="italic"]').inner_text() == "italic"
    assert section.locator('[data-testid="strike"]').inner_text() == "gone"
    assert section.locator('[data-testid="code"]').inner_text() == "a<b"
    anchor = section.locator('[data-testid="link"]')
    assert anchor.inner_text() == "open & see"
    assert anchor.get_attribute("href") == "https://zuora.example/acct"
    assert anchor.get_attribute("target") == "_blank"
    assert section.locator('[data-testid="mention"]').inner_text() == "@you"
    assert section.locator('[data-testid="channel-mention"]').inner_text() == "#billing-ops"
    assert section.locator('[data-testid="date"]').inner_text() == "May 1, 2024 7:08 AM"
    assert first.locator('[data-testid="code-block"]').inner_text() == "line one\n<b>two</b>"
    assert first.locator('[data-testid="context-image"]').inner_text() == "[logo]"
    assert second.locator('[data-testid="message-text"]').inner_text() == "Fallback only <b>"
    assert second.locator('[data-testid="bold"]').inner_text() == "only"
    # Nothing from the messages became markup: no injected elements, no broadcast, no image load.
    assert page.locator("script").count() == 1
    assert page.locator("[data-testid='channel-view'] img").count() == 0
    assert page.locator("[data-testid='broadcast']").count() == 0
    assert alerts == []


@pytest.mark.browser
def test_playground_confirm_dialog_gates_a_danger_button(
    page: Any, playground: Playground, scripted_bot: Any
) -> None:
    scripted_bot.script = card_script
    open_page(page, playground)
    page.get_by_test_id("composer-input").fill("/zuora failures A00000001 7d")
    page.get_by_test_id("composer-input").press("Enter")
    resend_all = page.locator('[data-action-id="zuora.resend_all"]')

    resend_all.click()
    dialog = page.get_by_test_id("confirm-dialog")
    assert dialog.is_visible()
    assert page.get_by_test_id("confirm-title").inner_text() == "Resend 3 failed emails?"
    assert page.get_by_test_id("confirm-ok").inner_text() == "Resend 3"
    page.get_by_test_id("confirm-deny").click()
    assert not dialog.is_visible()
    assert scripted_bot.of_kind("block_actions:button") == []

    resend_all.click()
    page.get_by_test_id("confirm-ok").click()
    assert scripted_bot.wait_for(lambda rs: any(r.kind == "block_actions:button" for r in rs))
    (click,) = scripted_bot.of_kind("block_actions:button")
    assert click.payload["actions"][0]["action_id"] == "zuora.resend_all"


@pytest.mark.browser
def test_playground_url_button_opens_a_tab_and_still_sends_the_action(
    page: Any, playground: Playground, scripted_bot: Any
) -> None:
    target = playground.url + "healthz"
    card = {**failures_card(link_url=target), "replace_original": True}
    scripted_bot.script = lambda request: (None, [card] if request.kind == "command" else [])
    open_page(page, playground)
    page.get_by_test_id("composer-input").fill("/zuora failures A00000001 7d")
    page.get_by_test_id("composer-input").press("Enter")
    button = page.locator('[data-action-id="zuora.open_link"]')
    assert button.get_attribute("data-testid") == "link-button"

    with page.context.expect_page() as opened:
        button.click()

    opened.value.wait_for_load_state()
    assert opened.value.url == target
    assert scripted_bot.wait_for(lambda rs: any(r.kind == "block_actions:button" for r in rs))
    (click,) = scripted_bot.of_kind("block_actions:button")
    assert click.payload["actions"][0]["url"] == target


@pytest.mark.browser
def test_playground_ticks_send_payloads_and_resend_selected_carries_them(
    page: Any, playground: Playground, scripted_bot: Any, artifacts: Path
) -> None:
    scripted_bot.script = card_script
    open_page(page, playground)
    page.get_by_test_id("suggestion").first.click()
    assert page.get_by_test_id("composer-input").input_value() == "/zuora help"
    page.get_by_test_id("composer-input").fill("/zuora failures A00000001 7d")
    page.get_by_test_id("composer-send").click()
    card = (
        channel_view(page)
        .locator('[data-testid="message"][data-author="Zuora Ops"]')
        .filter(has=page.locator('[data-testid="block-header"]'))
    )
    card.locator('[data-testid="block-header"]').wait_for()
    assert card.get_by_test_id("ephemeral-note").inner_text().startswith("Only visible to you")
    assert (
        card.locator('[data-action-id="zuora.resend_selected"]').get_attribute("data-style")
        == "primary"
    )

    # The email group: the card lists its callouts (with their own checkboxes) first.
    options = card.locator('[data-action-id="zuora.select_emails"] [data-testid="checkbox-option"]')
    options.nth(0).click()
    options.nth(2).click()
    assert scripted_bot.wait_for(
        lambda rs: sum(r.kind == "block_actions:checkboxes" for r in rs) == 2
    )
    card.locator('[data-action-id="zuora.resend_selected"]').click()

    outcome = channel_view(page).get_by_text("2 of 2 resent")
    outcome.wait_for()
    ticks = scripted_bot.of_kind("block_actions:checkboxes")
    assert [len(t.payload["actions"][0]["selected_options"]) for t in ticks] == [1, 2]
    (click,) = scripted_bot.of_kind("block_actions:button")
    selected = click.payload["state"]["values"]["emails_0"]["zuora.select_emails"][
        "selected_options"
    ]
    assert [o["value"] for o in selected] == [
        "email:e0000000000000000000000000000001",
        "email:e0000000000000000000000000000003",
    ]
    # Replaced in place (a click's response_url may): the receipt and the outcome, no card.
    bot_messages = channel_view(page).locator('[data-testid="message"][data-author="Zuora Ops"]')
    assert bot_messages.count() == 2
    assert channel_view(page).locator('[data-testid="block-header"]').count() == 0
    page.screenshot(path=str(artifacts / "playground-scripted.png"), full_page=True)


@pytest.mark.browser
def test_playground_shows_channel_posts_live_with_unread_badge_and_updates(
    page: Any, playground: Playground, fake_slack: FakeSlack, scripted_bot: Any
) -> None:
    open_page(page, playground)
    support = DEFAULT_CHANNELS[1]
    client = slack_client(fake_slack)
    posted = client.chat_postMessage(channel=support.id, text="*Digest*: 3 accounts with failures")
    badge = page.locator(
        f'[data-testid="channel-link"][data-channel-id="{support.id}"] [data-testid="unread"]'
    )
    badge.wait_for()
    assert badge.inner_text() == "1"

    page.locator(f'[data-testid="channel-link"][data-channel-id="{support.id}"]').click()
    view = channel_view(page, support.id)
    assert view.is_visible() and not channel_view(page).is_visible()
    client.chat_update(channel=support.id, ts=posted["ts"], text="*Digest*: all clear")
    view.get_by_text("all clear").wait_for()
    assert view.locator('[data-testid="message"]').count() == 1
    assert view.get_by_test_id("edited").is_visible()
    assert page.get_by_test_id("title").inner_text() == TITLE

    page.get_by_test_id("digest-preview").click()
    assert scripted_bot.wait_for(lambda rs: len(rs) == 1)
    (preview,) = scripted_bot.of_kind("command")
    assert (preview.form["text"], preview.form["channel_id"]) == ("digest preview", support.id)


# ----- the real bot against the sandbox tenant ---------------------------------------------------


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    from bot.sandbox.stack import SandboxStack

    with SandboxStack(tmp_path) as stack:
        with Playground.for_stack(stack) as pg:
            yield stack, pg


@pytest.mark.browser
def test_playground_resend_selected_end_to_end_with_the_real_bot(
    page: Any, sandbox: Any, artifacts: Path
) -> None:
    stack, pg = sandbox
    account = stack.tenant.big_account.number
    open_page(page, pg)
    page.get_by_test_id("composer-input").fill(f"/zuora failures {account}")
    page.get_by_test_id("composer-input").press("Enter")

    view = channel_view(page)
    card = view.locator('[data-testid="message"][data-author="Zuora Ops"]').filter(
        has=page.locator('[data-action-id="zuora.select_emails"]')
    )
    replies = view.locator('[data-testid="message"][data-author="Zuora Ops"]')
    replies.filter(has_not_text="the answer follows below").first.wait_for(timeout=30_000)
    assert card.count() == 1, f"no failures card; the bot answered: {replies.last.inner_text()}"
    assert replies.count() == 2, "the receipt and one card, nothing left to be replaced"
    # The email group: the card lists its callouts (with their own checkboxes) first.
    options = card.locator('[data-action-id="zuora.select_emails"] [data-testid="checkbox-option"]')
    options.nth(0).click()
    options.nth(1).click()
    ticked = [str(options.nth(i).get_attribute("data-value")) for i in (0, 1)]
    card.locator('[data-action-id="zuora.resend_selected"]').click()

    outcome = view.get_by_text(re.compile(r"\d of 2 emails resent"))
    outcome.wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "playground-resend.png"), full_page=True)
    calls = stack.zuora.resend_calls("email")
    assert [sorted(call.ids) for call in calls] == [sorted(v.split(":", 1)[1] for v in ticked)]


@pytest.mark.browser
def test_playground_overflow_menus_and_thread_replies(
    page: Any, playground: Playground, scripted_bot: Any, fake_slack: FakeSlack
) -> None:
    open_page(page, playground)
    client = slack_client(fake_slack)
    overflow = {
        "type": "overflow",
        "action_id": "zuora.callout_details",
        "options": [
            {"text": {"type": "plain_text", "text": "Show response"}, "value": "d1"},
            {"text": {"type": "plain_text", "text": "Resend"}, "value": "r1"},
        ],
    }
    parent = client.chat_postMessage(
        channel=BILLING,
        text="callout row",
        blocks=[
            {
                "type": "section",
                "block_id": "row_1",
                "text": {"type": "mrkdwn", "text": "*POST* hooks.acme.example → 502"},
                "accessory": overflow,
            }
        ],
    )
    client.chat_postMessage(channel=BILLING, text="Resent by <@U0PLAYER01>", thread_ts=parent["ts"])

    parent_node = channel_view(page).locator(f'[data-testid="message"][data-ts="{parent["ts"]}"]')
    reply = parent_node.get_by_test_id("thread").locator('[data-testid="message"]')
    expect(reply).to_have_count(1)
    assert "Resent by @you" in reply.inner_text()
    parent_node.get_by_test_id("overflow-toggle").click()
    menu = parent_node.get_by_test_id("overflow-menu")
    assert menu.is_visible()
    menu.locator('[data-testid="overflow-option"][data-value="d1"]').click()

    assert scripted_bot.wait_for(lambda rs: len(rs) == 1)
    (request,) = scripted_bot.requests
    action = request.payload["actions"][0]
    assert request.kind == "block_actions:overflow"
    assert action["selected_option"] == overflow["options"][0]
    assert "value" not in action and action["block_id"] == "row_1"
    assert request.payload["message"]["ts"] == parent["ts"]
    assert not menu.is_visible()


@pytest.mark.browser
def test_playground_shows_a_hostile_sandbox_account_name_literally_with_the_real_bot(
    page: Any, sandbox: Any
) -> None:
    stack, pg = sandbox
    hostile = stack.tenant.account(HOSTILE_ACCOUNT)
    assert hostile is not None and "<!channel>" in hostile.name
    alerts: list[str] = []

    def on_dialog(dialog: Any) -> None:
        alerts.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    open_page(page, pg)
    page.get_by_test_id("composer-input").fill(f"/zuora failures {HOSTILE_ACCOUNT}")
    page.get_by_test_id("composer-input").press("Enter")

    replies = channel_view(page).locator('[data-testid="message"][data-author="Zuora Ops"]')
    reply = replies.filter(has_not_text="the answer follows below").first
    reply.wait_for(timeout=30_000)
    assert hostile.name in reply.inner_text()
    assert page.locator("[data-testid='broadcast']").count() == 0
    assert page.locator("script").count() == 1
    assert alerts == []


@pytest.mark.browser
def test_playground_digest_resend_all_answers_in_the_thread_and_keeps_the_digest(
    page: Any, sandbox: Any
) -> None:
    stack, pg = sandbox
    open_page(page, pg)
    composer = page.get_by_test_id("composer-input")
    composer.fill("/zuora digest subscribe at 09:00 tz UTC")
    composer.press("Enter")
    view = channel_view(page)
    view.get_by_text("Subscribed", exact=False).first.wait_for(timeout=30_000)
    page.get_by_test_id("run-digests").click()
    digest = view.locator('[data-testid="message"][data-author="Zuora Ops"]').filter(
        has=page.locator('[data-action-id="zuora.resend_all"]')
    )
    digest.first.wait_for(timeout=30_000)
    header = digest.locator('[data-testid="block-header"]').inner_text()
    buttons_before = digest.locator("[data-action-id]").count()

    digest.locator('[data-action-id="zuora.resend_all"]').first.click()
    page.get_by_test_id("confirm-ok").click()

    reply = digest.get_by_test_id("thread").locator('[data-testid="message"]')
    reply.get_by_text(re.compile(r"\d+ of \d+ emails? resent")).wait_for(timeout=30_000)
    digest.get_by_text(re.compile(r"resent \d+ of \d+ failed emails?")).wait_for()
    assert reply.count() == 1
    assert digest.count() == 1, "the digest is still the digest"
    assert digest.locator('[data-testid="block-header"]').inner_text() == header
    assert digest.locator("[data-action-id]").count() == buttons_before
    assert len(stack.zuora.resend_calls("email")) == 1


def test_playground_digest_job_runs_on_request_and_reports_in_the_channel(
    fake_slack: FakeSlack, scripted_bot: Any
) -> None:
    runs: list[str] = []

    def job() -> list[str]:
        runs.append("tick")
        slack_client(fake_slack).chat_postMessage(channel=BILLING, text="Daily digest: 2 accounts")
        return ["billing-ops"]

    with Playground(
        slack=fake_slack, bot_url=scripted_bot.url, signing_secret="unused", run_digests=job
    ) as pg:
        answer = api(pg, "/api/digests", {"channel": BILLING})
        shown = [(m["author"], m["ephemeral"], m["text"]) for m in pg.messages(BILLING)]
        with httpx.Client(trust_env=False) as client:
            config = client.get(pg.url + "api/config").json()

    assert answer.json() == {"ok": True, "handled": 1} and runs == ["tick"]
    assert shown[0] == ("Zuora Ops", False, "Daily digest: 2 accounts")
    assert shown[1][:2] == ("Slackbot", True) and "1 subscription(s) handled" in shown[1][2]
    assert config["can_run_digests"] is True
