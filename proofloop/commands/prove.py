"""`proofloop prove PROBLEM [--model PATH|grammar] [--search|--sample]`: one problem until a candidate verifies.

Sampling: samples come in batches of n; each distinct candidate (by the prover's canonical form)
is checked once, in the order drawn, and sampling stops at the first verified one. Search: the
prover's own search (Lean: best-first tactic search over the REPL's proof states, guided by the
model; SyGuS: the synthesizer of provers/z3/synth). A prover whose search needs no model (the
SyGuS one, `Prover.search_by_default`) searches unless a model is given or `--sample` is.
The work is done by proofloop.evaluate; this module parses options and prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from proofloop.types import CheckLimits

EXIT_HELP = """Exit codes: 0 a verified candidate was found, 1 none was found, 2 bad input or usage."""


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
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Processes that check a batch's candidates (1: this process).")
    ] = 1,
    search: Annotated[
        bool | None,
        typer.Option("--search/--sample", help="The prover's own search (Lean: tactic search; SyGuS: the synthesizer) "
                     "or whole-candidate sampling; default: search where the prover's search needs no model "
                     "(SyGuS) and no --model is given, else sampling."),
    ] = None,
    budget_s: Annotated[float, typer.Option("--budget-s", min=0.1, help="Time budget of the search, in seconds.")] = 300.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else.")] = False,
) -> None:
    """Draft candidates for one problem with a model (or the grammar sampler) until one verifies."""
    from rich.console import Console

    from proofloop.evaluate import generator_for_model, prove_by_sampling, prove_by_search
    from proofloop.executors import CheckPool
    from proofloop.generate import SamplingParams
    from proofloop.problemfile import load_problem
    from proofloop.prover import get_prover
    from proofloop.render import print_verdict

    problem = load_problem(problem_file, theorem)
    if search is None:
        search = get_prover(problem.prover).search_by_default and model == "grammar"
    generator = generator_for_model(model, [problem])
    params = SamplingParams(temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    limits = CheckLimits(timeout_s=timeout, memory_mb=memory_mb)
    with CheckPool("local", workers) as pool:
        if search:
            outcome = prove_by_search(problem, generator, n, params, limits, budget_s, pool)
        else:
            outcome = prove_by_sampling(problem, generator, n, batches, params, limits, pool)
    if as_json:
        typer.echo(json.dumps(outcome.to_dict()))
    else:
        console = Console(highlight=False, soft_wrap=True)
        if outcome.verdict is not None:
            console.print(outcome.candidate, markup=False)
            print_verdict(console, outcome.verdict)
        else:
            tried = ", ".join(f"{k} x{v}" for k, v in outcome.reasons.most_common()) or "nothing to check"
            what = "search nodes" if outcome.search else "samples"
            console.print(f"[bold red]NOT PROVED[/]: no verified candidate in {outcome.samples} {what} "
                          f"({outcome.distinct} distinct): {tried}")
        if outcome.search:
            shown = "  ".join(f"{k}: {v}" for k, v in outcome.search.items())
            console.print(f"{shown}  seconds: {outcome.seconds:.2f}", style="dim")
        else:
            console.print(f"samples: {outcome.samples}  distinct: {outcome.distinct}  seconds: {outcome.seconds:.2f}",
                          style="dim")
    raise typer.Exit(0 if outcome.candidate is not None else 1)


def register(app: typer.Typer) -> None:
    app.command("prove", epilog=EXIT_HELP)(prove)
