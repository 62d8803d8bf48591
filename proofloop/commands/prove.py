"""`proofloop prove PROBLEM --model PATH|grammar`: draft candidates for one problem until one verifies.

Samples come in batches of n; each distinct candidate (by the prover's canonical form) is checked
once, in the order drawn, and the search stops at the first verified one. For Lean, `--search`
runs best-first tactic search over the REPL's proof states instead of whole-proof sampling.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from proofloop.errors import ProofloopError
from proofloop.types import CheckLimits, Problem, Verdict

EXIT_HELP = """Exit codes: 0 a verified candidate was found, 1 none was found, 2 bad input or usage."""


@dataclass
class ProveOutcome:
    """What one `prove` call found: the verified candidate, if any, and what it tried."""

    problem_id: str
    candidate: str | None = None
    verdict: Verdict | None = None
    samples: int = 0
    distinct: int = 0
    seconds: float = 0.0
    reasons: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "problem": self.problem_id,
            "status": "proved" if self.candidate is not None else "not_proved",
            "candidate": self.candidate,
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "samples": self.samples,
            "distinct": self.distinct,
            "seconds": round(self.seconds, 3),
            "rejections": dict(self.reasons),
        }


def prove_by_sampling(problem: Problem, generator, n: int, batches: int, params, limits: CheckLimits) -> ProveOutcome:
    """Sample up to `batches` x `n` candidates; check each new canonical form until one verifies."""
    from dataclasses import replace

    from proofloop.prover import get_prover

    prover = get_prover(problem.prover)
    prompt = prover.prompt(problem)
    outcome = ProveOutcome(problem.id)
    seen: set[str] = set()
    started = time.perf_counter()
    for batch in range(batches):
        batch_params = replace(params, seed=None if params.seed is None else params.seed + batch)
        (completions,) = generator.generate([prompt], n, batch_params)
        outcome.samples += len(completions)
        for completion in completions:
            candidate = prover.extract(completion.text, prompt)
            form = prover.canonical(candidate)
            if form in seen:
                continue
            seen.add(form)
            verdict = prover.check(problem, candidate, limits)
            if verdict.verified:
                outcome.candidate, outcome.verdict = candidate, verdict
                break
            outcome.reasons[f"{verdict.status.value}:{verdict.reason}"] += 1
        if outcome.candidate is not None:
            break
    outcome.distinct = len(seen)
    outcome.seconds = time.perf_counter() - started
    return outcome


def prove_by_search(problem: Problem, generator, n: int, params, limits: CheckLimits, budget_s: float) -> ProveOutcome:
    """Best-first tactic search (Lean only); the found proof is re-checked as a whole proof."""
    from proofloop.prover import get_prover

    if problem.prover != "lean":
        raise ProofloopError(f"--search is tactic-mode search, which only the Lean prover has (this is a {problem.prover} problem)")
    from provers.lean import best_first_search

    result = best_first_search(
        get_prover("lean"), problem, generator, params=params, samples=n, time_budget_s=budget_s, limits=limits
    )
    outcome = ProveOutcome(problem.id, samples=result.nodes, distinct=result.nodes, seconds=result.seconds)
    if result.verdict is not None and result.verdict.verified:
        outcome.candidate, outcome.verdict = result.proof, result.verdict
    elif result.reason:
        outcome.reasons[f"{result.status.value}:{result.reason}"] += 1
    return outcome


def prove(
    problem_file: Annotated[Path, typer.Argument(metavar="PROBLEM", help="A problem file (.sl, .lean, .jsonl).")],
    model: Annotated[
        str, typer.Option("--model", "-m", help="A checkpoint directory or Hugging Face id, or 'grammar'.")
    ] = "grammar",
    theorem: Annotated[str | None, typer.Option("--theorem", "-t", help="The problem, when the file holds several.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Samples per batch.")] = 16,
    batches: Annotated[int, typer.Option("--batches", min=1, help="Batches to draw before giving up.")] = 8,
    temperature: Annotated[float, typer.Option("--temperature", min=0.0)] = 1.0,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1)] = 128,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for reproducible sampling.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.001, help="Time limit per check, in seconds.")] = 10.0,
    memory_mb: Annotated[int, typer.Option("--memory-mb", min=16, help="Memory a check may use, in MB.")] = 2048,
    search: Annotated[bool, typer.Option("--search", help="Lean: best-first tactic search instead of whole proofs.")] = False,
    budget_s: Annotated[float, typer.Option("--budget-s", min=1.0, help="Time budget of --search, in seconds.")] = 300.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else.")] = False,
) -> None:
    """Draft candidates for one problem with a model (or the grammar sampler) until one verifies."""
    from rich.console import Console

    from proofloop.commands.check import load_problem
    from proofloop.commands.eval import make_eval_generator
    from proofloop.generate import SamplingParams
    from proofloop.render import print_verdict

    problem = load_problem(problem_file, theorem)
    generator = make_eval_generator(model, [problem])
    params = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    limits = CheckLimits(timeout_s=timeout, memory_mb=memory_mb)
    if search:
        outcome = prove_by_search(problem, generator, n, params, limits, budget_s)
    else:
        outcome = prove_by_sampling(problem, generator, n, batches, params, limits)
    if as_json:
        typer.echo(json.dumps(outcome.to_dict()))
    else:
        console = Console(highlight=False, soft_wrap=True)
        if outcome.verdict is not None:
            console.print(outcome.candidate, markup=False)
            print_verdict(console, outcome.verdict)
        else:
            tried = ", ".join(f"{k} x{v}" for k, v in outcome.reasons.most_common()) or "nothing to check"
            console.print(f"[bold red]NOT PROVED[/]: no verified candidate in {outcome.samples} samples "
                          f"({outcome.distinct} distinct): {tried}")
        console.print(f"samples: {outcome.samples}  distinct: {outcome.distinct}  seconds: {outcome.seconds:.2f}",
                      style="dim")
    raise typer.Exit(0 if outcome.candidate is not None else 1)


def register(app: typer.Typer) -> None:
    app.command("prove", epilog=EXIT_HELP)(prove)
