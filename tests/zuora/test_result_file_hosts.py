"""Data Query result files come over https from an allowed file host only (ZUORA_RESULT_FILE_HOSTS).

The job answer names the file's URL; the bot fetches exactly that URL (no redirects) and only when it is
https on a host the setting allows (`*.amazonaws.com` by default: Zuora's files are pre-signed S3 URLs).
The sandbox's "S3" is plain http on a second port, so the sandbox configures it; by default it is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import build_tenant
from bot.zuora.client import ZuoraClient
from bot.zuora.dataquery import EMAIL_TABLE, sample_row_query
from bot.zuora.errors import ZuoraQueryError
from tests.support.dataquery import job_body, manual_client
from tests.support.zuora_fakes import ManualTimer, Router, Sleeps, settings_for

NOW = datetime(2026, 5, 11, 17, 0, tzinfo=UTC)
TRACK = "zops-dq-hosts"


@pytest.fixture
def fake() -> Iterator[FakeZuora]:
    with FakeZuora(build_tenant(seed=5, now=NOW, days=2), clock=lambda: NOW) as server:
        yield server


def test_result_file_over_http_is_refused_by_default_and_never_fetched(fake: FakeZuora) -> None:
    strict = settings_for(fake, result_file_hosts="*.amazonaws.com")
    with (
        ZuoraClient.from_settings(strict) as client,
        pytest.raises(ZuoraQueryError, match="not https on an allowed file host"),
    ):
        client.run_query(sample_row_query(EMAIL_TABLE), track_id=TRACK)
    assert fake.data_file_requests() == []


def test_result_file_on_another_port_than_the_configured_one_is_refused(fake: FakeZuora) -> None:
    elsewhere = settings_for(fake, result_file_hosts=fake.base_url)  # the API port, not the files'
    with ZuoraClient.from_settings(elsewhere) as client, pytest.raises(ZuoraQueryError):
        client.run_query(sample_row_query(EMAIL_TABLE), track_id=TRACK)
    assert fake.data_file_requests() == []
    with ZuoraClient.from_settings(settings_for(fake)) as client:  # the files' own origin
        assert client.run_query(sample_row_query(EMAIL_TABLE), track_id=TRACK) is not None
    assert len(fake.data_file_requests()) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/files/j.json?X-Amz-Signature=abc",
        "http://example.s3.us-west-2.amazonaws.com/files/j.json?X-Amz-Signature=abc",
        "https://example.s3.amazonaws.com.evil.example/files/j.json",
        "https://user@example.s3.amazonaws.com/files/j.json",
    ],
)
def test_result_file_url_must_be_https_on_an_s3_host(url: str) -> None:
    router, timer, sleeps = Router(), ManualTimer(), Sleeps()
    router.route("POST", "/query/jobs")(
        lambda _: httpx.Response(200, json=job_body("j9", "completed", dataFile=url))
    )
    fetched: list[httpx.Request] = []

    def s3(request: httpx.Request) -> httpx.Response:
        fetched.append(request)
        return httpx.Response(200, content=b'{"id": "a1"}\n')

    client = manual_client(router, httpx.MockTransport(s3), timer, sleeps)
    try:
        with pytest.raises(ZuoraQueryError, match="ZUORA_RESULT_FILE_HOSTS"):
            client.run_query("SELECT Id FROM notificationhistoryemail", track_id=TRACK)
    finally:
        client.close()
    assert fetched == []
