"""The proofloop command line: thin. Each command lives in proofloop/commands/.

The library raises; this module is the one place that turns a ProofloopError into a one-line
`error: ...` message and an exit code. Set PROOFLOOP_DEBUG=1 to see the traceback instead.
"""

from __future__ import annotations

import importlib
import os

import typer
from typer.core import TyperGroup

from proofloop.commands import COMMAND_MODULES
from proofloop.errors import ProofloopError


class _ErrorsAsMessages(TyperGroup):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ProofloopError as e:
            if os.environ.get("PROOFLOOP_DEBUG"):
                raise
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("error: interrupted", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    name="proofloop",
    cls=_ErrorsAsMessages,
    help="A formal-verification feedback loop: draft, check, train on what verifies, repeat.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each command module defines `register(app)`; heavy imports (torch, transformers) stay inside
# command bodies so that `proofloop check` starts fast.
for _name in COMMAND_MODULES:
    importlib.import_module(f"proofloop.commands.{_name}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
