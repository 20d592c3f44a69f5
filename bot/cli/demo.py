"""`zuora-ops demo`: sandbox Zuora, the real bot, its clock and the Slack playground, offline."""

from __future__ import annotations

import argparse
import shlex
import tempfile
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bot.cli.common import EXIT_OK, time_now
from bot.core.command_text import UsageError

if TYPE_CHECKING:
    from bot.sandbox.stack import SandboxStack

DEMO_TICK = 2.0  # seconds between the demo clock's ticks (the real clock ticks every minute)


def demo_exports(stack: SandboxStack) -> list[str]:
    """`export` lines that point the CLI (and `python -m bot.clock`) at a running demo, ready to paste."""
    settings = stack.settings()
    values = {
        "ZUORA_BASE_URL": settings.zuora.base_url,
        "ZUORA_UI_URL": settings.zuora.ui_url,
        "ZUORA_CLIENT_ID": settings.zuora.client_id.get_secret_value(),
        "ZUORA_CLIENT_SECRET": settings.zuora.client_secret.get_secret_value(),
        "ZUORA_TENANT_TIMEZONE": settings.zuora.tenant_timezone,
        "SLACK_BOT_TOKEN": settings.slack.bot_token.get_secret_value(),
        "SLACK_SIGNING_SECRET": settings.slack.signing_secret.get_secret_value(),
        "SLACK_API_URL": settings.slack.api_url,
        "DATABASE_URL": settings.store.database_url,
        "RESEND_ALLOWED_USERS": ",".join(sorted(settings.resend.resend_allowed_users)),
        "AUDIT_CHANNEL": settings.resend.audit_channel or "",
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def cmd_demo(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    """Start sandbox Zuora, the real bot, its clock and the Slack playground on 127.0.0.1 until Ctrl-C."""
    from bot.log_config import configure_logging
    from bot.sandbox.live import LiveSpike
    from bot.sandbox.playground import Playground
    from bot.sandbox.retry_tenant import add_retry_account
    from bot.sandbox.stack import SandboxStack
    from bot.sandbox.tenant import build_tenant

    if args.alert_check < 1 or args.spike_every < 0:
        raise UsageError("--alert-check must be at least 1 second and --spike-every 0 or more.")
    configure_logging("WARNING" if not args.verbose else "INFO")
    with tempfile.TemporaryDirectory(prefix="zuora-ops-demo-") as workdir:
        # The sandbox tenant has an outage in it (an endpoint down, a bouncing mail domain).
        tenant = build_tenant(seed=7, now=time_now(), outage=True)
        add_retry_account(tenant, time_now())  # every state of Zuora's own retries (issue 18)
        stack = SandboxStack(
            Path(workdir),
            tenant=tenant,
            audit_channel="C0AUDIT01",
            bot_port=args.bot_port,
            alert_check_interval=args.alert_check,
        )
        with stack, Playground.for_stack(stack, port=args.port) as playground:
            zuora = stack.zuora
            # The clock, as `python -m bot.clock` runs it, at demo speed; and a spike going on now.
            stack.start_clock(tick=min(DEMO_TICK, args.alert_check))
            live = LiveSpike(zuora, every=args.spike_every).start() if args.spike_every else None
            exports = "\n".join(f"  {line}" for line in demo_exports(stack))
            out.write(
                "\nZuora Ops for Slack — offline demo (nothing leaves this machine)\n\n"
                f"  Slack playground:  {playground.url}\n"
                f"  Bot (real code):   {stack.bot_url}\n"
                f"  Clock:             digests every {DEMO_TICK:g}s, spike alerts every "
                f"{args.alert_check:g}s (the real clock: every minute, every 5 minutes)\n"
                f"  Sandbox Zuora:     {zuora.base_url}\n"
                f"    client id:       {zuora.client_id}\n"
                f"    client secret:   {zuora.client_secret}\n"
                f"  Store (SQLite):    {workdir}/zuora-ops.db\n\n"
                "Open the playground and type:  /zuora failures A00000001 7d\n"
                "               or, for the sandbox's outage:  /zuora outages\n"
                + (
                    f"  A webhook endpoint is failing right now (one callout every "
                    f"{args.spike_every:g}s):\n"
                    "  /zuora alerts subscribe  posts a spike alert at the next check.\n"
                    if live is not None
                    else ""
                )
                + "\nThe CLI against this demo: paste these lines into another shell, then run e.g. "
                "`.venv/bin/zuora-ops outages`:\n\n"
                f"{exports}\n\n"
                "Press Ctrl-C to stop.\n"
            )
            out.flush()
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                out.write("\nStopping…\n")
            finally:
                if live is not None:
                    live.stop()
    return EXIT_OK
