"""`zuora-ops outages`: JSON and table output against the sandbox Zuora over loopback HTTP, a progress
bar on a terminal and plain lines otherwise, clear usage errors and exit codes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import EXIT_OK, EXIT_USAGE, EXIT_ZUORA, main
from bot.outages.causes import OutageScan
from bot.sandbox.fake_zuora import FakeZuora
from bot.sandbox.tenant import OUTAGE_ACCOUNTS, build_tenant


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeZuora]:
    tenant = build_tenant(seed=7, now=datetime.now(UTC), outage=True)
    with FakeZuora(tenant) as server:
        monkeypatch.setenv("ZUORA_BASE_URL", server.base_url)
        monkeypatch.setenv("ZUORA_CLIENT_ID", server.client_id)
        monkeypatch.setenv("ZUORA_CLIENT_SECRET", server.client_secret)
        monkeypatch.setenv("ZUORA_RETRY_MAX_DELAY", "0.05")
        monkeypatch.chdir("/")  # no .env file
        yield server


def run(*argv: str, err: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), err if err is not None else io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_outages_json_lists_causes_with_hourly_series(fake: FakeZuora) -> None:
    code, out, err = run("outages", "--window", "24h", "--json")

    assert code == EXIT_OK, err
    data = json.loads(out)
    assert data["window"]["label"] == "24h"
    causes = data["causes"]
    top = causes[0]
    assert top["kind"] == "callout" and top["label"].startswith("hooks.ledgerlink.example")
    assert top["accounts"] == OUTAGE_ACCOUNTS and len(top["cause_id"]) == 10
    assert len(top["hourly"]) == 25 and sum(h["count"] for h in top["hourly"]) == top["count"]
    assert top["first"] <= top["last"]
    assert sum(c["count"] for c in causes) == data["callouts"] + data["emails"]
    assert [c["count"] for c in causes] == sorted((c["count"] for c in causes), reverse=True)
    tenant = fake.tenant
    since = tenant.now - timedelta(hours=24)
    assert data["callouts"] == sum(
        1 for c in tenant.callouts if c.failed and c.create_time >= since
    )
    assert "scanning: about 100% done" in err and "\r" not in err  # plain lines when piped


def test_cli_outages_table_with_a_progress_bar_on_a_terminal(fake: FakeZuora) -> None:
    terminal = Terminal()
    code, out, err = run("outages", err=terminal)

    assert code == EXIT_OK
    assert "Outages in the last 24h" in out and "cause id" in out
    assert "hooks.ledgerlink.example/zuora/v2/accounts/*/events → no response" in out
    assert "zuora-ops replay <cause id>" in out
    assert "\rScanning [" in err and "100%" in err


def test_cli_outages_refuses_a_window_over_7_days(fake: FakeZuora) -> None:
    code, out, err = run("outages", "--window", "8d")
    assert code == EXIT_USAGE and "out of range for `outages`: use 5m … 7d" in err and out == ""
    assert not fake.requests("/v1/notification-history/")


def test_cli_outages_zuora_down_exits_3(fake: FakeZuora) -> None:
    fake.set_down(True)
    code, _, err = run("outages", "--json")
    assert code == EXIT_ZUORA and "could not reach Zuora" in err


def test_scan_progress_plain_lines_are_throttled() -> None:
    from bot.cli import ScanProgress
    from bot.zuora.models import CalloutHistory, TimeWindow

    end = datetime(2026, 12, 2, tzinfo=UTC)
    window = TimeWindow.ending_at(end, timedelta(hours=24), "24h")
    stream = io.StringIO()
    progress = ScanProgress(stream, window, tty=False)
    scan = OutageScan()
    record = CalloutHistory.model_validate({"createTime": end - timedelta(hours=12)})
    for _ in range(1000):
        scan.add_callout(record)
        progress.record(scan, record)
    assert stream.getvalue() == ""  # under two seconds: no line yet
    progress.done(scan)
    assert stream.getvalue().count("\n") == 1


def test_cli_outages_says_which_causes_are_over(fake: FakeZuora) -> None:
    code, out, err = run("outages")

    assert code == EXIT_OK, err
    lines = out.split("Is the cause over?")[1].splitlines()
    code, raw, _ = run("outages", "--json")
    causes = {c["label"]: c for c in json.loads(raw)["causes"]}
    down = causes["hooks.ledgerlink.example/zuora/v2/accounts/*/events → no response"]
    bounce = causes["550 5.1.1 user unknown"]
    assert down["recovery"]["state"] == "recovered"
    assert down["recovery"]["text"].endswith("UTC: safe to replay")
    assert bounce["recovery"]["state"] == "still_failing"
    assert "a replay now will probably fail again" in bounce["recovery"]["text"]
    assert any(down["cause_id"] in line and "Recovered at" in line for line in lines)
    assert any(bounce["cause_id"] in line and "Still failing" in line for line in lines)
    failed_only = [r.query.get("failedOnly") for r in fake.requests("/v1/notification-history/")]
    assert ["false"] in failed_only and ["true"] in failed_only
