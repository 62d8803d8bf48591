"""`proofloop report RUN_DIR`: plots and an HTML page of a run, built from its store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    run_dir: Annotated[Path, typer.Argument(help="The run directory (holds store.sqlite).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the plots and report.html (default: RUN_DIR/report).")
    ] = None,
) -> None:
    """Write PNG plots and one self-contained HTML page of a run; print its per-round table."""
    from rich.console import Console

    from proofloop.report import gate_lines, rich_table, write_report

    summary, files = write_report(run_dir, out)
    Console().print(rich_table(summary))
    for line in gate_lines(summary):
        typer.echo(line)
    for path in files.plots.values():
        typer.echo(f"plot: {path}")
    typer.echo(f"report: {files.html}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
