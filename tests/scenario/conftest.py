"""Fixtures of the scenario tests: the production App over the sandbox Zuora and the fake Slack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack_fixtures import Harness, dispatch_harness


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    with dispatch_harness(tmp_path) as started:
        yield started
