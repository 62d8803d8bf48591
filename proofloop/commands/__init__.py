"""CLI commands, one small module each. Each module exposes `register(app)`."""

COMMAND_MODULES: list[str] = []
