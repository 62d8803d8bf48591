"""CLI commands, one small module each. Each module exposes `register(app)`."""

COMMAND_MODULES: list[str] = [
    "run", "check", "prove", "eval", "export", "report", "init_model", "import_leandojo", "problems",
]
