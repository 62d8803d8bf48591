"""`proofloop problems audit`: duplicates and train/held-out overlap of a problem set, given as a
path or as the problems a run config loads (`--config`, with its include, split and limits)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

problems_app = typer.Typer(help="Inspect problem sets.", no_args_is_help=True)


@problems_app.command("audit")
def audit_command(
    path: Annotated[Path | None, typer.Argument(help="A problem file or directory (or give --config).")] = None,
    prover: Annotated[
        str | None, typer.Option("--prover", help="The prover that reads the problems (default: the one their files name).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Audit the problems this run config loads, split as the run splits them.")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="With --config: override one key, section.key=value (repeatable).")
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

    if (path is None) == (config is None):
        raise ConfigError("problems audit: give a problem PATH or --config FILE (one of them)")
    if config is not None:
        if prover is not None:
            raise ConfigError("problems audit: --prover comes from the config's problems.prover with --config")
        problems, source, skipped = _config_problems(config, list(set_ or []))
        for file, reason in skipped:
            typer.echo(f"note: skipped {file}: {reason}", err=True)
    else:
        if set_:
            raise ConfigError("problems audit: --set needs --config")
        problems, source, skipped = load_problems(path, prover=prover), str(path), []
    provers = sorted({p.prover for p in problems})
    if len(provers) > 1:
        raise ConfigError(f"{source} holds problems for {', '.join(provers)}; audit one prover's at a time (--prover)")
    result = audit(get_prover(provers[0]), problems)
    if config is not None:
        typer.echo(f"train: {sum(p.split == 'train' for p in problems)}")
        typer.echo(f"heldout: {sum(p.split == 'heldout' for p in problems)}")
        typer.echo(f"skipped_files: {len(skipped)}")
    for line in result.lines():
        typer.echo(line)
    if not allow_overlap:
        refuse_overlap(result, source)


def _config_problems(config: Path, overrides: list[str]):
    """The problems a run with this config loads, where they come from, and the skipped files."""
    from proofloop.config import load_config
    from proofloop.loop import configured_prover
    from proofloop.problemset import load_run_problem_set

    cfg = load_config(config, overrides)
    problems, skipped = load_run_problem_set(cfg, configured_prover(cfg))
    return problems, str(cfg.problems.path or "the bundled problems"), skipped


def register(app: typer.Typer) -> None:
    app.add_typer(problems_app, name="problems")
