"""`proofloop problems audit PATH`: duplicates and train/held-out overlap of a problem set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

problems_app = typer.Typer(help="Inspect problem sets.", no_args_is_help=True)


@problems_app.command("audit")
def audit_command(
    path: Annotated[Path, typer.Argument(help="A problem file or directory.")],
    prover: Annotated[
        str | None, typer.Option("--prover", help="The prover that reads the problems (default: the one their files name).")
    ] = None,
    allow_overlap: Annotated[
        bool, typer.Option("--allow-overlap", help="Exit 0 even when held-out problems duplicate train ones.")
    ] = False,
) -> None:
    """Print duplicates, held-out/train overlaps and near-duplicates; fail on overlap unless allowed."""
    from proofloop.audit import audit, refuse_overlap
    from proofloop.errors import ConfigError
    from proofloop.problemfile import load_problems
    from proofloop.prover import get_prover

    problems = load_problems(path, prover=prover)
    provers = sorted({p.prover for p in problems})
    if len(provers) > 1:
        raise ConfigError(f"{path} holds problems for {', '.join(provers)}; audit one prover's at a time (--prover)")
    result = audit(get_prover(provers[0]), problems)
    for line in result.lines():
        typer.echo(line)
    if not allow_overlap:
        refuse_overlap(result, str(path))


def register(app: typer.Typer) -> None:
    app.add_typer(problems_app, name="problems")
