"""Helpers of the Data Query tests: a job's JSON body and a client over a manual clock."""

from __future__ import annotations

import httpx

from bot.zuora.auth import ZuoraOAuth
from bot.zuora.client import ZuoraClient
from tests.support.zuora_fakes import ManualTimer, Router, Sleeps, zuora_settings

# -- back-off and timeout on a manual clock ---------------------------------------------------------


def job_body(job_id: str, status: str, **extra: object) -> dict[str, object]:
    return {"data": {"id": job_id, "queryStatus": status, **extra}}


def manual_client(
    router: Router,
    files: httpx.MockTransport,
    timer: ManualTimer,
    sleeps: Sleeps,
    **overrides: object,
) -> ZuoraClient:
    settings = zuora_settings(**overrides)
    http = httpx.Client(
        transport=httpx.MockTransport(router),
        auth=ZuoraOAuth.from_settings(settings, timer=timer),
        base_url=settings.base_url,
    )

    def sleep(seconds: float) -> None:
        sleeps(seconds)
        timer.advance(seconds)

    return ZuoraClient(
        http, settings, sleep=sleep, timer=timer, files_http=httpx.Client(transport=files)
    )
