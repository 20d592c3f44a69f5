"""Placeholders are refused only for the settings a mode uses, including the example Slack IDs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.__main__ import run_socket_mode
from bot.settings import EXAMPLE_SLACK_IDS, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]


def _load_copied_example(tmp_path: Path) -> str:
    env_file = tmp_path / ".env"
    shutil.copy(ROOT / ".env.example", env_file)
    with pytest.raises(SettingsError) as info:
        Settings.load(env_file=str(env_file))
    return str(info.value)


def test_copied_env_example_names_every_placeholder_http_mode_uses(tmp_path: Path) -> None:
    text = _load_copied_example(tmp_path)
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "ZUORA_CLIENT_ID",
        "ZUORA_CLIENT_SECRET",
        "RESEND_ALLOWED_USERS",
        "AUDIT_CHANNEL",
    ):
        assert f"{name} still holds" in text, name
    # HTTP mode never reads the app-level token: its placeholder is no reason to refuse to start.
    assert "SLACK_APP_TOKEN" not in text


def test_example_ids_are_refused_in_the_allow_list_and_audit_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RESEND_ALLOWED_USERS", "U0REAL1,S0456EFGH")
    monkeypatch.setenv("AUDIT_CHANNEL", "C0123ABCD")
    with pytest.raises(SettingsError) as info:
        Settings.load(env_file=None)
    text = str(info.value)
    assert "RESEND_ALLOWED_USERS still holds the example ID S0456EFGH" in text
    assert "AUDIT_CHANNEL still holds the example ID C0123ABCD" in text
    assert {"U0123ABCD", "S0456EFGH", "C0123ABCD"} <= EXAMPLE_SLACK_IDS


def _real_settings(monkeypatch: pytest.MonkeyPatch, app_token: str | None) -> None:
    monkeypatch.chdir(Path("/"))  # no .env here
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
        "SLACK_SIGNING_SECRET": "0123456789abcdef",
        "ZUORA_CLIENT_ID": "4c1a6a3e-5d2b-4c5e-9f1a-2b3c4d5e6f70",
        "ZUORA_CLIENT_SECRET": "s3cr3t-value",
    }.items():
        monkeypatch.setenv(name, value)
    if app_token is None:
        monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    else:
        monkeypatch.setenv("SLACK_APP_TOKEN", app_token)


def test_http_mode_starts_with_the_app_token_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    _real_settings(monkeypatch, "xapp-your-app-token")
    settings = Settings.load(env_file=None)
    assert settings.slack.app_token is not None  # kept, unchecked: HTTP mode does not use it


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("xapp-your-app-token", "SLACK_APP_TOKEN still holds a placeholder"),
        ("xoxb-1-2-3", "SLACK_APP_TOKEN must start with 'xapp-'"),
        (None, "SLACK_APP_TOKEN (xapp-…) is required for --socket-mode"),
    ],
)
def test_socket_mode_refuses_a_placeholder_app_token(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token: str | None,
    message: str,
) -> None:
    _real_settings(monkeypatch, token)
    assert run_socket_mode() == 2
    assert message in capsys.readouterr().err


def test_socket_mode_token_returns_a_real_token(monkeypatch: pytest.MonkeyPatch) -> None:
    _real_settings(monkeypatch, "xapp-1-A0B1C2-123-abc")
    assert Settings.load(env_file=None).slack.socket_mode_token() == "xapp-1-A0B1C2-123-abc"
