"""Logging for the entry points: one line per event, level from LOG_LEVEL."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    """Send logs to stderr with time, level and logger; quiet the chattiest libraries."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        force=True,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
