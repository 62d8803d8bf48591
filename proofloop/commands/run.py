"""`proofloop run`: expert-iteration rounds in a new run directory, or `--resume` one.

Progress bars go to stderr; stdout carries a table and greppable `key: value` lines per round
and ends with `run_dir: PATH`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from proofloop.errors import ConfigError

log = logging.getLogger(__name__)

class RunUI:
    """Rich progress bars (stderr) and per-round summaries (stdout) for `proofloop run`."""

    def __init__(self, quiet: bool = False):
        from rich.console import Console

        self.err = Console(stderr=True, quiet=quiet)
        self.out = Console(highlight=False, soft_wrap=True)

    @contextmanager
    def progress(self, label: str, total: int | None) -> Iterator[Callable[..., None]]:
        """A progress bar; yields advance(n, total=None, loss=None)."""
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.fields[note]}")]
        with Progress(*columns, console=self.err, transient=True) as bar:
            task = bar.add_task(label, total=total, note="")

            def advance(n: int = 1, total: int | None = None, loss: float | None = None) -> None:
                note = f"loss {loss:.4f}" if loss is not None else ""
                bar.update(task, advance=n, total=total if total is not None else bar.tasks[0].total, note=note)

            yield advance

    def round_summary(self, r: int, metrics: dict[str, float], kept: bool, reason: str, *, k: int) -> None:
        """A rich table and greppable `key: value` lines for a finished round."""
        from rich.table import Table

        lines = summary_lines(r, metrics, kept, reason, k=k)
        table = Table(title=f"round {r}", show_header=False)
        for line in lines[1:]:
            key, _, value = line.partition(": ")
            table.add_row(key, value)
        self.out.print(table)
        for line in lines:
            self.out.print(line, markup=False)


def summary_lines(r: int, metrics: dict[str, float], kept: bool, reason: str, *, k: int) -> list[str]:
    """`key: value` lines for one round, in a fixed order."""
    from proofloop.metrics import CATALOG, with_k

    lines = [f"round: {r}"]
    for metric in CATALOG:
        key = with_k(metric.name, k)
        if metric.line and metrics.get(key) is not None:
            value = metrics[key]
            lines.append(f"{key}: {int(value)}" if metric.count else f"{key}: {value:.4f}")
    lines.append(f"kept: {'yes' if kept else 'no'}")
    lines.append(f"gate: {reason}")
    return lines


def run(
    config: Annotated[Path | None, typer.Option("--config", help="A TOML or YAML run config.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override one key: section.key=value (repeatable).")
    ] = None,
    resume: Annotated[Path | None, typer.Option("--resume", help="Continue the run in this directory.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", help="Parent directory of new run directories.")] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", help="Model rounds after round 0.")] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write the run's report at the end.")] = True,
) -> None:
    """Run expert iteration: sample, check, select, train, evaluate, gate; repeat."""
    from proofloop.config import load_config
    from proofloop.loop import create_run, resume_run, run_loop

    overrides = list(set_ or [])
    if out_dir is not None:
        overrides.append(f"run.out_dir={json.dumps(str(out_dir))}")
    if rounds is not None:
        overrides.append(f"loop.rounds={rounds}")
    _quiet_libraries()
    ui = RunUI()
    if resume is not None:
        if config is not None:
            raise ConfigError("--config cannot be combined with --resume: a run keeps its saved config (use --set)")
        ctx = resume_run(resume, overrides, ui)
        for line in ctx.recheck.lines():
            typer.echo(line)
    else:
        cfg = load_config(config, overrides)
        _check_training_hardware(cfg)  # before the run directory and the base model are made
        ctx = create_run(cfg, ui)
    try:
        _check_training_hardware(ctx.cfg)  # a resumed run may be on another machine
        run_dir = run_loop(ctx)
    finally:
        ctx.checks.close()
        ctx.store.close()
    if report:
        _write_report(run_dir, ui)
    typer.echo(f"run_dir: {run_dir}")


def _check_training_hardware(cfg) -> None:
    """A GPU or bitsandbytes that [train] asks for and is not here fails now, not after round 0's sampling."""
    from proofloop.device import training_placement

    training_placement(cfg.train.device, cfg.train.dtype, quantization=cfg.train.quantization)


def _quiet_libraries() -> None:
    # transformers draws its own tqdm bars for every load and save; ours are enough.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _write_report(run_dir: Path, ui: RunUI) -> None:
    from proofloop.report import write_report

    _, files = write_report(run_dir, None)
    typer.echo(f"report: {files.html}")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
