"""manifest.json is valid against Slack's published schema and grants exactly the bot scopes the code uses."""

from __future__ import annotations

import ast
import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from referencing import Registry, Resource
from slack_sdk import WebClient
from slack_sdk.web.base_client import BaseClient

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_PATH = ROOT / "manifest.json"
SCHEMA_DIR = ROOT / "tests" / "data" / "manifest-schema"
# The root schema points at these absolute URLs; they are served from the vendored copies.
UPSTREAM_SCHEMAS = "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.0.0/schemas/"
SOURCE_DIRS = ("bot", "handlers")
EVENTS_PATH = "/slack/events"

# Bot scopes each Web API method needs (slack_sdk WebClient names), as the method's "Scopes" facts on
# docs.slack.dev/reference/methods/<method> list them; a method the code calls that is missing here
# fails the test, so a new call cannot slip in without its scope.
METHOD_SCOPES: dict[str, frozenset[str]] = {
    "api_test": frozenset(),
    "auth_test": frozenset(),  # "No scopes required"; Bolt calls it too
    # chat:write.public: digests (and the audit channel) may go to public channels the bot was never
    # invited to; bot/channels.py accepts those (docs.slack.dev/reference/scopes/chat.write.public).
    "chat_postMessage": frozenset({"chat:write", "chat:write.public"}),
    "chat_postEphemeral": frozenset({"chat:write"}),
    "chat_update": frozenset({"chat:write"}),
    "chat_delete": frozenset({"chat:write"}),
    "usergroups_users_list": frozenset({"usergroups:read"}),
    # Reading a channel back to see whether an interrupted digest post was delivered (bot/digest.py).
    "conversations_history": frozenset({"channels:history", "groups:history"}),
    # Reading an alert's thread for an interrupted thread reply (bot/alerts/quiet.py); same scopes.
    "conversations_replies": frozenset({"channels:history", "groups:history"}),
    # Public channels need channels:read, private ones groups:read (using-the-conversations-api).
    "conversations_info": frozenset({"channels:read", "groups:read"}),
    "users_info": frozenset({"users:read"}),
    # The Home tab: views.publish needs no scope ("No scopes required" on its reference page).
    "views_publish": frozenset(),
    # Watch DMs open the user's DM first: im:write is the scope for a 1:1 conversation (the page
    # lists channels:manage, groups:write and mpim:write for the other kinds, which we never open).
    "conversations_open": frozenset({"im:write"}),
    # Attaching an unfurl to a shared Zuora account link (handlers/unfurls.py).
    "chat_unfurl": frozenset({"links:write"}),
}
# Bolt listeners registered as `app.<name>(...)` and Bolt helpers called by name inside listeners.
LISTENER_SCOPES: dict[str, frozenset[str]] = {
    "command": frozenset({"commands"}),  # slash commands
    "shortcut": frozenset({"commands"}),
    "event": frozenset(),  # app_home_opened needs no scope (docs.slack.dev/reference/events/app_home_opened)
}
HELPER_SCOPES: dict[str, frozenset[str]] = {"say": frozenset({"chat:write"})}
# Events the code listens for (`app.event("name")`, found as "event:name"), with the bot scope each
# needs to be delivered (docs.slack.dev/reference/events/<name>, "Required scopes").
EVENT_SCOPES: dict[str, frozenset[str]] = {
    "event:link_shared": frozenset({"links:read"}),
    # The Home tab's event: "No scopes required" on its reference page.
    "event:app_home_opened": frozenset(),
}
SCOPE_TABLE = METHOD_SCOPES | LISTENER_SCOPES | HELPER_SCOPES | EVENT_SCOPES


def load_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    return manifest


def manifest_validator() -> jsonschema.protocols.Validator:
    root = json.loads((SCHEMA_DIR / "manifest.schema.json").read_text(encoding="utf-8"))
    resources = []
    for path in sorted((SCHEMA_DIR / "schemas").glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((UPSTREAM_SCHEMAS + path.name, Resource.from_contents(contents)))
    # No `retrieve` callback: an unknown $ref raises instead of reaching the network.
    registry: Registry[Any] = Registry().with_resources(resources)
    validator_class = jsonschema.validators.validator_for(root)
    validator_class.check_schema(root)
    return validator_class(root, registry=registry)


def web_methods_called(source: str) -> set[str]:
    """WebClient methods, Bolt listener kinds (`app.command`) and Bolt helpers called in `source`."""
    known = {
        name
        for name in dir(WebClient)
        if "_" in name and not name.startswith("_") and name not in dir(BaseClient)
    }
    found: set[str] = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in known:
            found.add(func.attr)
        elif isinstance(func, ast.Attribute) and func.attr == "api_call" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value.replace(".", "_"))
        elif _is_app_call(func, "event") and node.args:
            found.update(f"event:{name}" for name in _constant_text(tree, node.args[0]))
        elif (
            isinstance(func, ast.Attribute)
            and func.attr in LISTENER_SCOPES
            and isinstance(func.value, ast.Name)
            and func.value.id == "app"
        ):
            found.add(func.attr)
        elif isinstance(func, ast.Name) and func.id in HELPER_SCOPES:
            found.add(func.id)
    return found


def _is_app_call(func: ast.expr, name: str) -> bool:
    """`app.<name>(...)`: a Bolt listener registration."""
    return (
        isinstance(func, ast.Attribute)
        and func.attr == name
        and isinstance(func.value, ast.Name)
        and func.value.id == "app"
    )


def _constant_text(tree: ast.Module, arg: ast.expr) -> list[str]:
    """A string literal, or a module-level NAME = "literal" the argument names; else nothing."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.Name):
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if any(isinstance(t, ast.Name) and t.id == arg.id for t in targets):
                return _constant_text(tree, node.value)  # type: ignore[union-attr]
    return []


def registered_in_code(kind: str) -> set[str]:
    """Every id bot/ and handlers/ register with `app.<kind>(...)` (event names, callback ids)."""
    found: set[str] = set()
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and _is_app_call(node.func, kind) and node.args:
                    found.update(_constant_text(tree, node.args[0]))
    return found


def calls_in_code() -> dict[str, list[str]]:
    """Every Web API method, listener kind and helper bot/ and handlers/ call, with the files."""
    used: dict[str, set[str]] = {}
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for method in web_methods_called(path.read_text(encoding="utf-8")):
                used.setdefault(method, set()).add(str(path.relative_to(ROOT)))
    return {method: sorted(files) for method, files in used.items()}


def needed_scopes(methods: Iterable[str]) -> set[str]:
    """The bot scopes the given methods need, from SCOPE_TABLE."""
    return {scope for method in methods for scope in SCOPE_TABLE[method]}


def scope_problems(needed: set[str], granted: set[str]) -> tuple[list[str], list[str]]:
    """(scopes the code needs that the manifest lacks, scopes the manifest grants that nothing needs)."""
    return sorted(needed - granted), sorted(granted - needed)


def manifest_bot_scopes() -> set[str]:
    return set(load_manifest()["oauth_config"]["scopes"]["bot"])


def test_manifest_schema_selects_draft_from_dollar_schema() -> None:
    validator = manifest_validator()

    assert isinstance(validator, jsonschema.Draft7Validator)


def test_manifest_is_valid_against_slack_schema() -> None:
    errors = sorted(manifest_validator().iter_errors(load_manifest()), key=str)

    assert errors == []


@pytest.mark.parametrize(
    ("path", "bad_value"),
    [
        (("features", "slash_commands", 0, "command"), "zuora"),
        (("settings", "interactivity", "request_url"), "ftp://example.com/slack/events"),
        (("display_information", "name"), "x" * 36),
        (("settings", "not_a_setting"), True),
    ],
)
def test_manifest_schema_rejects_broken_manifest(path: tuple[Any, ...], bad_value: Any) -> None:
    broken = copy.deepcopy(load_manifest())
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad_value

    assert not manifest_validator().is_valid(broken)


def test_manifest_defines_zuora_command_on_the_events_url() -> None:
    manifest = load_manifest()
    commands = {c["command"]: c for c in manifest["features"]["slash_commands"]}

    command_url = urlsplit(commands["/zuora"]["url"])
    interactivity = manifest["settings"]["interactivity"]
    interactivity_url = urlsplit(interactivity["request_url"])

    assert interactivity["is_enabled"] is True
    assert command_url.path == EVENTS_PATH
    assert interactivity_url.path == EVENTS_PATH
    assert command_url.netloc == interactivity_url.netloc
    # Slack then sends `#channel` as <#C123|name>, which `digest subscribe #channel` needs.
    assert commands["/zuora"]["should_escape"] is True
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_web_methods_called_finds_client_calls() -> None:
    source = (
        "client.chat_postMessage(channel='C', text='t')\n"
        "client.api_call('users.info', params={})\n"
        "say(text='hi')\n"
        "client.token\n"
        "@app.command('/zuora')\n"
        "def handle(ack): ack()\n"
        "parsed.command('not a listener')\n"
    )

    assert web_methods_called(source) == {"chat_postMessage", "users_info", "say", "command"}


def test_scope_problems_flags_a_missing_and_an_unused_scope() -> None:
    methods = web_methods_called(
        "@app.command('/zuora')\ndef f(ack):\n    client.usergroups_users_list(usergroup='S1')\n"
    )

    missing, unused = scope_problems(needed_scopes(methods), {"commands", "users:read"})

    assert (missing, unused) == (["usergroups:read"], ["users:read"])


def test_scope_problems_would_catch_users_read_granted_but_unused() -> None:
    # users:read (users.info) was in manifest.json without any users.info call in the code.
    needed = needed_scopes(calls_in_code())

    assert scope_problems(needed, manifest_bot_scopes() | {"users:read"})[1] == ["users:read"]


def test_manifest_requests_exactly_the_bot_scopes_the_code_uses() -> None:
    used = calls_in_code()
    unknown = {method: files for method, files in used.items() if method not in SCOPE_TABLE}
    assert unknown == {}, "add these Web API methods and their documented scopes to METHOD_SCOPES"

    missing, unused = scope_problems(needed_scopes(used), manifest_bot_scopes())

    assert missing == [], f"manifest.json lacks scopes the code needs: {missing}"
    assert unused == [], f"manifest.json grants scopes no code needs (drop them): {unused}"


def test_web_methods_called_finds_events_by_literal_or_module_constant() -> None:
    source = "EVENT = 'link_shared'\napp.event(EVENT)(f)\napp.event('app_home_opened')(g)\n"

    assert web_methods_called(source) == {"event:link_shared", "event:app_home_opened"}


def test_manifest_subscribes_to_exactly_the_events_the_code_listens_for() -> None:
    settings = load_manifest()["settings"]
    subscriptions = settings["event_subscriptions"]

    assert set(subscriptions["bot_events"]) == registered_in_code("event")
    assert urlsplit(subscriptions["request_url"]).path == EVENTS_PATH


def test_manifest_declares_exactly_the_shortcuts_the_code_answers() -> None:
    shortcuts = load_manifest()["features"]["shortcuts"]

    assert {s["callback_id"] for s in shortcuts} == registered_in_code("shortcut")
    assert {s["type"] for s in shortcuts} == {"message"}, "the code reads the message it runs on"


def test_manifest_unfurl_domains_cover_the_default_zuora_ui_host() -> None:
    from bot.zuora.settings import ZuoraSettings

    domains = load_manifest()["features"]["unfurl_domains"]
    ui_host = urlsplit(str(ZuoraSettings.model_fields["ui_url"].default)).hostname or ""

    # Slack sends link_shared for a registered domain and its subdomains.
    assert any(ui_host == d or ui_host.endswith("." + d) for d in domains), (ui_host, domains)
    assert registered_in_code("event") >= {"link_shared"}, "unfurl domains without a listener"


def test_manifest_enables_the_home_tab_the_app_home_opened_listener_publishes() -> None:
    app_home = load_manifest()["features"]["app_home"]

    assert app_home["home_tab_enabled"] is True
