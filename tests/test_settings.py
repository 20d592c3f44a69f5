"""Settings: validation messages name the variable; README and .env.example never drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.settings import (
    DigestSettings,
    ResendSettings,
    Settings,
    SettingsError,
    StoreSettings,
    ZuoraSettings,
    setting_docs,
)

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "0123456789abcdef",
    "ZUORA_CLIENT_ID": "4c1a6a3e-5d2b-4c5e-9f1a-2b3c4d5e6f70",
    "ZUORA_CLIENT_SECRET": "s3cr3t-value",
}


def _readme_rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(r"^\| `([A-Z_]+)` \| (.*?) \| (.*) \|$", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    return rows


def test_readme_configuration_table_matches_settings_descriptions() -> None:
    documented = _readme_rows()
    expected = {doc.env: (doc.default, doc.description) for doc in setting_docs()}
    assert documented == expected


def test_env_example_lists_every_setting() -> None:
    names = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert names == {doc.env for doc in setting_docs()}


def test_settings_every_field_has_a_description() -> None:
    assert all(doc.description for doc in setting_docs())


def test_settings_load_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RESEND_ALLOWED_USERS", " U0AAA, S0BBB ,W0CCC")
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db:5432/x")
    settings = Settings.load(env_file=None)
    assert settings.resend.resend_allowed_users == {"U0AAA", "S0BBB", "W0CCC"}
    assert settings.store.database_url == "postgresql+psycopg://u@db:5432/x"
    assert settings.slack.api_url == "https://slack.com/api/"
    assert settings.zuora.tenant_timezone == "America/Los_Angeles"


def test_settings_missing_values_are_named_together() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(env_file=None)
    text = str(info.value)
    for name in REQUIRED:
        assert f"{name} is not set" in text


def test_settings_env_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("\n".join(f"{k}={v}" for k, v in REQUIRED.items()) + "\n")
    settings = Settings.load(env_file=str(env_file))
    assert settings.slack.bot_token.get_secret_value() == REQUIRED["SLACK_BOT_TOKEN"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SLACK_BOT_TOKEN", "xoxb-your-bot-token", "SLACK_BOT_TOKEN still holds a placeholder"),
        ("SLACK_BOT_TOKEN", "xoxp-1-2-3", "SLACK_BOT_TOKEN must start with 'xoxb-'"),
        ("SLACK_SIGNING_SECRET", "changeme", "SLACK_SIGNING_SECRET still holds a placeholder"),
        ("ZUORA_CLIENT_SECRET", "<secret>", "ZUORA_CLIENT_SECRET still holds a placeholder"),
        ("ZUORA_BASE_URL", "rest.zuora.com", "ZUORA_BASE_URL must be an http(s) URL"),
        ("ZUORA_TENANT_TIMEZONE", "Mars/Olympus", "ZUORA_TENANT_TIMEZONE 'Mars/Olympus'"),
        ("ZUORA_MAX_CONCURRENCY", "41", "ZUORA_MAX_CONCURRENCY"),
        ("RESEND_ALLOWED_USERS", "alice", "RESEND_ALLOWED_USERS: 'alice' is not a Slack user"),
        ("AUDIT_CHANNEL", "#billing", "AUDIT_CHANNEL must be a channel ID"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL must be a sqlite:/// or postgresql:// URL"),
        ("DIGEST_DEFAULT_TIME", "25:00", "DIGEST_DEFAULT_TIME must look like 09:00"),
    ],
)
def test_settings_reject_bad_values_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    for key, good in REQUIRED.items():
        monkeypatch.setenv(key, good)
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        Settings.load(env_file=None)
    assert message in str(info.value)


def test_settings_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, good in REQUIRED.items():
        monkeypatch.setenv(key, good)
    settings = Settings.load(env_file=None)
    shown = repr(settings) + str(settings.model_dump())
    assert REQUIRED["ZUORA_CLIENT_SECRET"] not in shown
    assert REQUIRED["SLACK_SIGNING_SECRET"] not in shown


def test_allow_list_star_and_empty() -> None:
    assert ResendSettings(_env_file=None, resend_allowed_users="*").resend_allowed_users == {"*"}
    assert ResendSettings(_env_file=None).resend_allowed_users == frozenset()


def test_store_default_is_a_sqlite_file_in_the_working_directory() -> None:
    assert StoreSettings(_env_file=None).database_url == "sqlite:///zuora-ops.db"


def test_zuora_optional_headers_blank_means_unset() -> None:
    settings = ZuoraSettings(
        _env_file=None, client_id="abc123", client_secret="s3cr3t-value", entity_id=" "
    )
    assert settings.entity_id is None


def test_digest_default_time_reads_as_hour_and_minute() -> None:
    assert DigestSettings(_env_file=None, default_time="07:05").default_hour_minute == (7, 5)
