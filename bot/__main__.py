"""`python -m bot --socket-mode` runs the bot over Socket Mode; any other arguments go to the CLI."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

logger = logging.getLogger(__name__)


def run_socket_mode() -> int:
    """Settings -> Deps -> App -> Socket Mode (development: no public URL, no request signing)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app
    from bot.deps import build_deps
    from bot.log_config import configure_logging
    from bot.settings import Settings, SettingsError

    try:
        settings = Settings.load()
    except SettingsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    configure_logging(settings.runtime.log_level)
    try:
        app_token = settings.slack.socket_mode_token()
    except SettingsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    deps = build_deps(settings)
    try:
        handler = SocketModeHandler(create_app(deps, verify_token=True), app_token)
        handler.start()  # type: ignore[no-untyped-call]
    finally:
        deps.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--socket-mode"]:
        return run_socket_mode()
    from bot.cli import main as cli_main

    exit_code: int = cli_main(args)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
