"""Fixtures for the Zuora client tests: a manual clock, recorded sleeps, a routing MockTransport."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import Tenant, build_tenant
from bot.zuora.auth import ZuoraOAuth
from bot.zuora.client import ZuoraClient
from tests.support.zuora_fakes import (
    Handler,
    HistoryApi,
    ManualTimer,
    Router,
    Sleeps,
    zuora_settings,
)


@pytest.fixture(scope="module")
def tenant(request: pytest.FixtureRequest) -> Tenant:
    """The seed-11 sandbox tenant as of the test module's NOW."""
    return build_tenant(seed=11, now=request.module.NOW)


@pytest.fixture
def fake(tenant: Tenant, request: pytest.FixtureRequest) -> Iterator[FakeZuora]:
    """FakeZuora serving `tenant`, its clock stopped at the test module's NOW."""
    now = request.module.NOW
    with FakeZuora(tenant, clock=lambda: now) as server:
        yield server


@pytest.fixture
def timer() -> ManualTimer:
    return ManualTimer()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def router() -> Router:
    return Router()


@pytest.fixture
def history(router: Router) -> HistoryApi:
    return HistoryApi(router)


@pytest.fixture
def make_client(
    router: Router, timer: ManualTimer, sleeps: Sleeps
) -> Iterator[Callable[..., ZuoraClient]]:
    """Build a ZuoraClient on a MockTransport; keyword arguments override ZuoraSettings."""
    clients: list[ZuoraClient] = []

    def build(
        *, handler: Handler | None = None, rand: float = 0.5, **overrides: Any
    ) -> ZuoraClient:
        settings = zuora_settings(**overrides)
        http = httpx.Client(
            transport=httpx.MockTransport(handler or router),
            auth=ZuoraOAuth.from_settings(settings, timer=timer),
            timeout=httpx.Timeout(5.0),
        )
        client = ZuoraClient(http, settings, sleep=sleeps, timer=timer, random=lambda: rand)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., ZuoraClient]) -> ZuoraClient:
    return make_client()
