"""Block Kit card builders, one module per card family; import them from `bot.blocks`."""
