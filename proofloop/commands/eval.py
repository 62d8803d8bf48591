"""`proofloop eval --model PATH --problems PATH`: pass@k of a checkpoint on any problem set.

Each problem gets n samples and its distinct candidates are checked. Time spent on a problem is
its sampling time plus the checker's time on its distinct candidates (summed, so the number does
not depend on how many checks ran in parallel); a problem over the budget counts as failed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from proofloop.errors import ProblemFormatError, ProofloopError

if TYPE_CHECKING:
    from proofloop.generate.base import Generator, SamplingParams
    from proofloop.types import CheckLimits, Problem

log = logging.getLogger(__name__)

GRAMMAR = "grammar"


@dataclass(frozen=True)
class ProblemResult:
    """One problem's outcome: samples drawn, how many verified, and the time it took."""

    problem_id: str
    n: int
    verified: int
    seconds: float
    over_budget: bool
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def counted(self) -> int:
        """Verified samples as pass@k counts them (none for a problem over its budget)."""
        return 0 if self.over_budget else self.verified


@dataclass(frozen=True)
class EvalResult:
    """pass@k of one model on one problem set."""

    model: str
    problems_path: str
    n: int
    ks: tuple[int, ...]
    budget_s: float | None
    results: list[ProblemResult]
    skipped: list[tuple[str, str]]

    def pass_at(self, k: int) -> float:
        from proofloop.metrics import mean_pass_at_k

        return mean_pass_at_k({r.problem_id: (r.n, r.counted) for r in self.results}, k)

    @property
    def over_budget(self) -> list[str]:
        return [r.problem_id for r in self.results if r.over_budget]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "problems": self.problems_path,
            "n": self.n,
            "time_budget_s": self.budget_s,
            **{f"pass@{k}": self.pass_at(k) for k in self.ks},
            "solved": sum(1 for r in self.results if r.counted),
            "total": len(self.results),
            "over_budget": self.over_budget,
            "skipped": [{"path": p, "reason": why} for p, why in self.skipped],
            "per_problem": [
                {"id": r.problem_id, "n": r.n, "verified": r.verified, "seconds": round(r.seconds, 4),
                 "over_budget": r.over_budget, "statuses": r.statuses}
                for r in self.results
            ],
        }


# -- loading ----------------------------------------------------------------------------------


def load_eval_problems(path: Path, limit: int | None = None) -> tuple[list["Problem"], list[tuple[str, str]]]:
    """Problems under `path` (a file or a directory, loaded file by file) and the refused files.

    A file a prover refuses (bad syntax, an unsupported feature) is skipped and reported as
    (path, reason) instead of failing the whole set, so any benchmark track can be evaluated.
    """
    from proofloop.problemfile import load_problems

    path = Path(path)
    if not path.exists():
        raise ProofloopError(f"{path}: no such file or directory")
    files = _problem_files(path) if path.is_dir() else [path]
    problems: list[Problem] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for file in files:
        try:
            loaded = load_problems(file)
        except ProblemFormatError as e:
            skipped.append((str(file), f"line {e.line}: {e.message}" if e.line else e.message))
            continue
        folder = file.parent.relative_to(path).as_posix() if path.is_dir() else "."
        for problem in loaded:
            if folder != ".":
                # Ids relative to the directory, as a whole-directory load names them.
                problem = dataclasses.replace(problem, id=f"{folder}/{problem.id}")
            if problem.id in seen:
                raise ProofloopError(f"{file}: problem id {problem.id!r} is used twice under {path}")
            seen.add(problem.id)
            problems.append(problem)
        if limit is not None and len(problems) >= limit:
            break
    if limit is not None:
        problems = problems[:limit]
    if not problems:
        raise ProofloopError(f"{path}: no problems could be loaded ({len(skipped)} file(s) refused)")
    return problems, skipped


def _problem_files(directory: Path) -> list[Path]:
    from proofloop.problemfile import JSONL_SUFFIX
    from proofloop.prover import get_prover, prover_names

    suffixes = {JSONL_SUFFIX}
    for name in prover_names():
        suffixes.update(get_prover(name).suffixes)
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and p.suffix in suffixes and not any(s.startswith(".") for s in p.relative_to(directory).parts)
    )


# -- evaluating -------------------------------------------------------------------------------


def make_eval_generator(model: str, problems: Sequence["Problem"]) -> "Generator":
    """The grammar sampler for `model == "grammar"`, else the transformers backend on `model`."""
    from proofloop.generate import GeneratorConfig, make_generator
    from proofloop.prover import get_prover

    if model == GRAMMAR:
        provers = {p.prover for p in problems}
        if len(provers) != 1:
            raise ProofloopError(f"--model grammar samples for one prover at a time; the problems use {sorted(provers)}")
        prover = get_prover(provers.pop())
        return make_generator(GeneratorConfig(backend="grammar"), prover=prover, problems=list(problems))
    return make_generator(GeneratorConfig(backend="hf", model=model))


@dataclass
class _Sampled:
    problem: "Problem"
    seconds: float
    forms: list[str]
    candidates: dict[str, str]  # canonical form -> the first candidate with that form


def evaluate(
    generator: "Generator",
    problems: Sequence["Problem"],
    n: int,
    params: "SamplingParams",
    limits: "CheckLimits",
    *,
    budget_s: float | None = None,
    workers: int | None = None,
    on_sampled: Callable[[int], None] | None = None,
    on_checked: Callable[[int], None] | None = None,
) -> list[ProblemResult]:
    """Sample every problem, check all distinct candidates in one batch; one result per problem."""
    from dataclasses import replace

    from proofloop.executors import check_batch

    if budget_s is not None:
        # No single check may outlast the whole budget.
        limits = replace(limits, timeout_s=min(limits.timeout_s, budget_s))
    sampled = []
    for problem in problems:
        sampled.append(sample_problem(generator, problem, n, params))
        if on_sampled:
            on_sampled(1)
    # A problem whose sampling alone used up its budget is failed without checking.
    to_check = [s for s in sampled if budget_s is None or s.seconds <= budget_s]
    items = [(s.problem, cand) for s in to_check for cand in s.candidates.values()]
    verdicts = iter(check_batch(items, limits, workers=workers, progress=on_checked))
    checked = {s.problem.id: {form: next(verdicts) for form in s.candidates} for s in to_check}
    return [_result(s, checked.get(s.problem.id), n, budget_s) for s in sampled]


def sample_problem(generator: "Generator", problem: "Problem", n: int, params: "SamplingParams") -> _Sampled:
    """n samples of one problem, timed, with their candidates extracted and deduplicated."""
    from proofloop.prover import get_prover

    prover = get_prover(problem.prover)
    started = time.perf_counter()
    prompt = prover.prompt(problem)
    (completions,) = generator.generate([prompt], n, params)
    seconds = time.perf_counter() - started
    candidates = [prover.extract(c.text, prompt) for c in completions]
    forms = [prover.canonical(c) for c in candidates]
    distinct: dict[str, str] = {}
    for form, cand in zip(forms, candidates):
        distinct.setdefault(form, cand)
    return _Sampled(problem, seconds, forms, distinct)


def _result(s: _Sampled, verdicts: dict | None, n: int, budget_s: float | None) -> ProblemResult:
    if verdicts is None:
        return ProblemResult(s.problem.id, n, 0, s.seconds, True, {"unchecked": n})
    statuses = Counter(verdicts[form].status.value for form in s.forms)
    seconds = s.seconds + sum(v.seconds for v in verdicts.values())
    return ProblemResult(
        problem_id=s.problem.id,
        n=n,
        verified=statuses.get("verified", 0),
        seconds=seconds,
        over_budget=budget_s is not None and seconds > budget_s,
        statuses=dict(sorted(statuses.items())),
    )


# -- the command --------------------------------------------------------------------------------


def eval_command(
    model: Annotated[
        str, typer.Option("--model", help="A checkpoint directory or Hugging Face id, or 'grammar' for the grammar sampler.")
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else on stdout.")] = False,
) -> None:
    """pass@k of a checkpoint (or the grammar sampler) on any problem set, with a time budget per problem."""
    from proofloop.generate.base import SamplingParams
    from proofloop.types import CheckLimits

    ks = tuple(sorted(set(k))) if k else tuple(sorted({1, min(8, n)}))
    too_big = [x for x in ks if x > n]
    if too_big:
        raise ProofloopError(f"--k {too_big[0]} is larger than --n {n}; draw at least k samples per problem")
    loaded, skipped = load_eval_problems(problems, limit)
    for path, reason in skipped:
        typer.echo(f"note: skipped {path}: {reason}", err=True)
    generator = make_eval_generator(model, loaded)
    params = SamplingParams(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed)
    limits = CheckLimits(timeout_s=timeout, memory_mb=memory_mb)
    results = _run_with_progress(generator, loaded, n, params, limits, time_budget_s, workers)
    outcome = EvalResult(model, str(problems), n, ks, time_budget_s, results, skipped)
    if as_json:
        typer.echo(json.dumps(outcome.to_dict()))
        return
    _print_outcome(outcome)


def _run_with_progress(generator, problems, n, params, limits, budget_s, workers) -> list[ProblemResult]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        sampling = bar.add_task("sampling", total=len(problems))
        checking = bar.add_task("checking", total=None)
        return evaluate(
            generator, problems, n, params, limits, budget_s=budget_s, workers=workers,
            on_sampled=lambda m: bar.advance(sampling, m),
            on_checked=lambda m: bar.advance(checking, m),
        )


def _print_outcome(outcome: EvalResult) -> None:
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
