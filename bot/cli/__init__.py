"""`zuora-ops`, the CLI: the parser and main in `parser`, one module per subcommand beside it."""

from __future__ import annotations

from bot.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    EXIT_ZUORA,
    WINDOW_LIMITS,
    cli_window,
    plural,
)
from bot.cli.outages import ScanProgress
from bot.cli.parser import build_parser, main

__all__ = [
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "EXIT_ZUORA",
    "WINDOW_LIMITS",
    "ScanProgress",
    "build_parser",
    "cli_window",
    "main",
    "plural",
]
