"""The shipped deployment files agree with each other, with the Procfile and with the README's guide."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "deploy" / "systemd"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((UNITS / name).read_text(encoding="utf-8"))
    return parser


def _procfile() -> dict[str, list[str]]:
    lines = (ROOT / "Procfile").read_text(encoding="utf-8").splitlines()
    return {k: shlex.split(v) for k, _, v in (line.partition(": ") for line in lines if line)}


def test_units_run_the_procfile_processes() -> None:
    procfile = _procfile()
    web = shlex.split(_unit("zuora-ops-web.service")["Service"]["ExecStart"])
    clock = shlex.split(_unit("zuora-ops-clock.service")["Service"]["ExecStart"])
    assert Path(web[0]).name == procfile["web"][0] == "gunicorn"
    assert web[-1] == procfile["web"][-1] == "bot.wsgi:application"
    assert clock[1:] == procfile["clock"][1:] == ["-m", "bot.clock"]


def test_units_read_the_settings_file_the_readme_names() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("zuora-ops-web.service", "zuora-ops-clock.service"):
        service = _unit(name)["Service"]
        assert service["EnvironmentFile"] == "/etc/zuora-ops/zuora-ops.env"
        assert service["Restart"] == "always"
        assert f"`{name}`" in readme or f"**`{name}`**" in readme
    assert "`/etc/zuora-ops/zuora-ops.env`" in readme


def test_reverse_proxy_forwards_to_where_the_web_unit_listens() -> None:
    web = shlex.split(_unit("zuora-ops-web.service")["Service"]["ExecStart"])
    bind = web[web.index("--bind") + 1]
    assert bind.startswith("127.0.0.1:")  # only the proxy reaches it
    caddy = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    assert re.search(rf"reverse_proxy\s+{re.escape(bind)}\b", caddy)


def test_readme_guide_names_the_zuora_permissions_and_slack_tokens() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for needed in (
        "Events & Notifications View Access",
        "Events & Notifications Resend Access",
        "Run Data Queries (In UI Or API)",
        "Settings → Administration → Manage Users",
        "`connections:write`",
        "heroku-postgresql",
        "ps:scale web=1 clock=1",
        "pg_advisory_xact_lock",
        "BEGIN IMMEDIATE",
    ):
        assert needed in readme, needed
    for host in (
        "rest.zuora.com",
        "rest.apisandbox.zuora.com",
        "rest.eu.zuora.com",
        "rest.ap.zuora.com",
    ):
        assert f"`https://{host}`" in readme, host
