"""manifest.json is valid against Slack's published schema and grants every scope the code uses."""

from __future__ import annotations

import ast
import copy
import json
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

# Scopes the bot needs whatever the code currently calls (see notes on each).
REQUIRED_BOT_SCOPES = {
    "commands",  # the /zuora slash command
    "chat:write",  # cards, digests, thread follow-ups
    "chat:write.public",  # digests into public channels the bot was not invited to
    "channels:history",  # conversations.history: was an interrupted digest post delivered?
    "groups:history",  # the same in private channels
    "usergroups:read",  # allow-list by user group
    "channels:read",  # conversations.info on public channels (digest subscribe checks)
    "groups:read",  # conversations.info on private channels
    "users:read",  # users.info (time zone, display name)
}

# Web API methods (slack_sdk WebClient names) the code may call, and the bot scopes each needs.
METHOD_SCOPES: dict[str, set[str]] = {
    "api_test": set(),
    "auth_test": set(),
    "chat_postMessage": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_delete": {"chat:write"},
    "conversations_history": {"channels:history", "groups:history"},
    "usergroups_users_list": {"usergroups:read"},
    "conversations_info": {"channels:read", "groups:read"},
    "users_info": {"users:read"},
}
# Bolt helpers called by name inside listeners.
HELPER_SCOPES: dict[str, set[str]] = {"say": {"chat:write"}}


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
    """WebClient method names (and Bolt helpers) called anywhere in `source`."""
    known = {
        name
        for name in dir(WebClient)
        if "_" in name and not name.startswith("_") and name not in dir(BaseClient)
    }
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in known:
            found.add(func.attr)
        elif isinstance(func, ast.Attribute) and func.attr == "api_call" and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value.replace(".", "_"))
        elif isinstance(func, ast.Name) and func.id in HELPER_SCOPES:
            found.add(func.id)
    return found


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


def test_manifest_lists_required_bot_scopes() -> None:
    scopes = set(load_manifest()["oauth_config"]["scopes"]["bot"])

    assert REQUIRED_BOT_SCOPES <= scopes


def test_web_methods_called_finds_client_calls() -> None:
    source = (
        "client.chat_postMessage(channel='C', text='t')\n"
        "client.api_call('users.info', params={})\n"
        "say(text='hi')\n"
        "client.token\n"
    )

    assert web_methods_called(source) == {"chat_postMessage", "users_info", "say"}


def test_manifest_grants_every_scope_the_code_uses() -> None:
    scopes = set(load_manifest()["oauth_config"]["scopes"]["bot"])
    used: dict[str, set[str]] = {}
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for method in web_methods_called(path.read_text(encoding="utf-8")):
                used.setdefault(method, set()).add(str(path.relative_to(ROOT)))
    table = METHOD_SCOPES | HELPER_SCOPES

    unknown = {m: sorted(files) for m, files in used.items() if m not in table}
    missing = {m: sorted(table[m] - scopes) for m in used if m in table and table[m] - scopes}

    assert unknown == {}, "add these Web API methods and their scopes to METHOD_SCOPES"
    assert missing == {}
