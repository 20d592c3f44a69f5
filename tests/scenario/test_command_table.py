"""The /zuora command table: every parsed command has exactly one handler, named for its trigger."""

from __future__ import annotations

import typing

from bot.core.command_text import Command
from handlers.commands import COMMANDS


def test_command_table_names_a_handler_for_every_parsed_command() -> None:
    assert set(COMMANDS) == set(typing.get_args(Command))
    assert all(handler.__name__.startswith("handle_") for handler in COMMANDS.values())
