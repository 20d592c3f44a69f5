"""The environment a bot process gets to run against the sandbox fakes, under the real setting names."""

from __future__ import annotations

from bot.sandbox.fake_slack import FakeSlack
from bot.sandbox.fake_zuora import FakeZuora


def fakes_env(
    slack: FakeSlack,
    zuora: FakeZuora,
    *,
    bot_token: str,
    signing_secret: str,
    timezone: str,
) -> dict[str, str]:
    """SLACK_* and ZUORA_* settings pointing a bot process at `slack` and `zuora`."""
    return {
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": slack.base_url,
        "SLACK_RESPONSE_URL_HOSTS": slack.root_url,
        "ZUORA_RESULT_FILE_HOSTS": zuora.files_base_url,
        "ZUORA_BASE_URL": zuora.base_url,
        "ZUORA_UI_URL": zuora.base_url,
        "ZUORA_CLIENT_ID": zuora.client_id,
        "ZUORA_CLIENT_SECRET": zuora.client_secret,
        "ZUORA_TENANT_TIMEZONE": timezone,
    }
