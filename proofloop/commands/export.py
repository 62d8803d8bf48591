"""`proofloop export RUN_DIR`: a run's verified (prompt, candidate) pairs with provenance."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from proofloop.export import ExportFormat


class ProblemSplit(str, Enum):
    TRAIN = "train"
    HELDOUT = "heldout"


class Origin(str, Enum):
    VERIFIED = "verified"
    REFERENCE = "reference"


def export(
    run_dir: Annotated[Path, typer.Argument(help="The run directory (holds store.sqlite).")],
    format: Annotated[ExportFormat, typer.Option("--format", help="Output format.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (jsonl, parquet) or directory (hf, or any split).")],
    round: Annotated[
        list[int] | None, typer.Option("--round", help="Only rows added in this round (repeatable).")
    ] = None,
    prover: Annotated[str | None, typer.Option("--prover", help="Only problems of this prover.")] = None,
    split: Annotated[
        list[ProblemSplit] | None, typer.Option("--split", help="Only problems of this split (repeatable).")
    ] = None,
    origin: Annotated[Origin | None, typer.Option("--origin", help="Only model-verified or reference rows.")] = None,
    eval_split_fraction: Annotated[
        float | None,
        typer.Option("--eval-split-fraction", help="Put this fraction of the problems in a test part (by problem)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the train/test split.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
) -> None:
    """Export verified (prompt, candidate) pairs, each with the problem text and its provenance."""
    from proofloop.export import ExportFilter, export_run

    flt = ExportFilter(
        rounds=tuple(round or ()),
        prover=prover,
        splits=tuple(s.value for s in split or ()),
        origin=origin.value if origin else None,
    )
    result = export_run(
        run_dir, format, out, flt, eval_split_fraction=eval_split_fraction, seed=seed, force=force
    )
    for part, path in result.paths.items():
        label = "rows" if part == "all" else f"{part}_rows"
        typer.echo(f"{label}: {result.rows[part]}")
        typer.echo(f"{'problems' if part == 'all' else part + '_problems'}: {result.problems[part]}")
        if part != "all" and format is not ExportFormat.HF:
            typer.echo(f"{part}: {path}")
    if result.stale:
        typer.echo(f"left_out_stale: {result.stale} (verified under other checker rules; "
                   f"`proofloop run --resume {run_dir}` checks them again)")
    typer.echo(f"out: {out}")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
