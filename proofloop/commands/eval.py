"""`proofloop eval --model PATH --problems PATH`: pass@k of a checkpoint on any problem set.

Each problem gets n samples and its distinct candidates are checked; the work is done by
proofloop.evaluate, this module parses options and prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from proofloop.errors import ProofloopError

if TYPE_CHECKING:
    from proofloop.evaluate import EvalResult, ProblemResult


def eval_command(
    model: Annotated[
        str, typer.Option("--model", help="A checkpoint directory or Hugging Face id, 'grammar' for the grammar sampler, "
                          "or 'search' for the prover's own search (SyGuS: the synthesizer; one run per problem).")
    ],
    problems: Annotated[
        Path, typer.Option("--problems", help="A problem file (.sl, .jsonl, ...) or a directory of them.")
    ],
    n: Annotated[int, typer.Option("--n", min=1, help="Samples per problem.")] = 16,
    k: Annotated[
        list[int] | None, typer.Option("--k", min=1, help="Report pass@k for this k (repeatable; default 1 and min(8, n)).")
    ] = None,
    time_budget_s: Annotated[
        float | None,
        typer.Option("--time-budget-s", min=0.001, help="Sampling + checking seconds allowed per problem; over it, the problem fails."),
    ] = None,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0, help="Sampling temperature.")] = 1.0,
    top_p: Annotated[float, typer.Option("--top-p", min=0.0, max=1.0, help="Nucleus sampling mass.")] = 1.0,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, help="Most tokens per sample.")] = 128,
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed.")] = 0,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Evaluate at most this many problems.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.001, help="Time limit per check, in seconds.")] = 10.0,
    memory_mb: Annotated[int, typer.Option("--memory-mb", min=16, help="Memory a check may use, in MB.")] = 2048,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Parallel checks (default: the CPU count).")] = None,
    guide: Annotated[
        Path | None,
        typer.Option("--guide", help="--model search: the search's guide, e.g. RUN/checkpoints/round-3/guide.json "
                     "of a run with the search policy (default: the uniform cost)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else on stdout.")] = False,
) -> None:
    """pass@k of a checkpoint (or the grammar sampler) on any problem set, with a time budget per problem."""
    from proofloop.evaluate import SEARCH, EvalResult, generator_for_model, load_eval_problems
    from proofloop.generate.base import SamplingParams
    from proofloop.types import CheckLimits

    if guide is not None and model != SEARCH:
        raise ProofloopError("--guide is the search's guide: use it with --model search")
    if model == SEARCH:
        n, k = 1, [1]  # a search runs once per problem: pass@1 is its solved share
    ks = tuple(sorted(set(k))) if k else tuple(sorted({1, min(8, n)}))
    too_big = [x for x in ks if x > n]
    if too_big:
        raise ProofloopError(f"--k {too_big[0]} is larger than --n {n}; draw at least k samples per problem")
    loaded, skipped = load_eval_problems(problems, limit)
    for path, reason in skipped:
        typer.echo(f"note: skipped {path}: {reason}", err=True)
    limits = CheckLimits(timeout_s=timeout, memory_mb=memory_mb)
    if model == SEARCH:
        results = _search_with_progress(loaded, limits, time_budget_s, workers, _load_guide(guide, loaded))
    else:
        generator = generator_for_model(model, loaded)
        params = SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
        results = _run_with_progress(generator, loaded, n, params, limits, time_budget_s, workers)
    outcome = EvalResult(model, str(problems), n, ks, time_budget_s, results, skipped)
    if as_json:
        typer.echo(json.dumps(outcome.to_dict()))
        return
    _print_outcome(outcome)


def _run_with_progress(generator, problems, n, params, limits, budget_s, workers) -> list["ProblemResult"]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from proofloop.evaluate import evaluate_problems
    from proofloop.executors import CheckPool

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar, CheckPool("local", workers) as pool:
        sampling = bar.add_task("sampling", total=len(problems))
        checking = bar.add_task("checking", total=None)
        return evaluate_problems(
            generator, problems, n, params, limits, pool=pool, budget_s=budget_s,
            on_sampled=lambda m: bar.advance(sampling, m),
            on_checked=lambda m: bar.advance(checking, m),
        )


def _load_guide(path: Path | None, problems) -> object:
    """The guide file at `path`, read by the prover of the problems (None: no guide)."""
    if path is None:
        return None
    from proofloop.prover import get_prover

    if not path.is_file():
        raise ProofloopError(f"--guide {path}: no such file")
    try:
        return get_prover(problems[0].prover).load_guide(path)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ProofloopError(f"--guide {path}: not a guide file ({type(e).__name__}: {e})") from None


def _search_with_progress(problems, limits, budget_s, workers, guide) -> list["ProblemResult"]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from proofloop.config import cpu_count
    from proofloop.evaluate import search_problems
    from proofloop.executors import CheckPool

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar, CheckPool("local", workers) as pool:
        task = bar.add_task("searching", total=len(problems))
        return search_problems(problems, limits, pool, budget_s=budget_s, guide=guide, workers=workers or cpu_count(),
                               on_done=lambda m: bar.advance(task, m))


def _print_outcome(outcome: "EvalResult") -> None:
    from rich.console import Console
    from rich.table import Table

    from proofloop.metrics import pass_at_k

    table = Table(box=None, pad_edge=False)
    table.add_column("problem", overflow="fold")
    table.add_column("verified", justify="right", no_wrap=True)
    for k in outcome.ks:
        table.add_column(f"pass@{k}", justify="right", no_wrap=True)
    table.add_column("seconds", justify="right", no_wrap=True)
    table.add_column("note", no_wrap=True)
    for r in outcome.results:
        cells = [f"{pass_at_k(r.n, r.counted, k):.3f}" for k in outcome.ks]
        note = "over budget" if r.over_budget else ""
        table.add_row(r.problem_id, f"{r.verified}/{r.n}", *cells, f"{r.seconds:.2f}", note)
    Console().print(table)
    typer.echo(f"model: {outcome.model}")
    typer.echo(f"problems: {len(outcome.results)}")
    typer.echo(f"solved: {sum(1 for r in outcome.results if r.counted)}")
    if outcome.skipped:
        typer.echo(f"skipped_files: {len(outcome.skipped)}")
    if outcome.budget_s is not None:
        typer.echo(f"over_budget: {len(outcome.over_budget)}")
        if outcome.over_budget:
            typer.echo(f"over_budget_problems: {' '.join(outcome.over_budget)}")
    for k in outcome.ks:
        typer.echo(f"pass@{k}: {outcome.pass_at(k):.4f}")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
