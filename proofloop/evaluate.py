"""Evaluation, in one place: sampling a problem set with a policy, checking, and scoring.

`proofloop run` (the loop's held-out, probe and baseline metrics), `proofloop eval` (pass@k of
a checkpoint on any problem set) and `proofloop prove` (sampling one problem until a candidate
verifies) all score through this module, so a pass@k means the same thing everywhere. The CLI
commands only parse options and print; see docs/architecture.md for where this sits.

In `eval`, time spent on a problem is its sampling time plus the checker's time on its distinct
candidates (summed, so the number does not depend on how many checks ran in parallel); a problem
over the budget counts as failed.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proofloop.errors import ProofloopError
from proofloop.generate.base import Completion
from proofloop.metrics import bootstrap_ci, distinct_n, mean_pass_at_k, mean_token_entropy, pass_at_k_by_problem
from proofloop.metrics import unique_per_solved as unique_per_solved_metric
from proofloop.problemfile import load_each_file, problem_files
from proofloop.prover import SearchResult, get_prover
from proofloop.types import CheckLimits, Problem, Status, Verdict

if TYPE_CHECKING:
    from proofloop.executors import CheckPool
    from proofloop.generate.base import Generator, SamplingParams

log = logging.getLogger(__name__)

# -- eval: pass@k of a policy on a problem set ------------------------------------------------

GRAMMAR = "grammar"
# `eval --model search`: the prover's own search, one run per problem (pass@1).
SEARCH = "search"
DEFAULT_SEARCH_BUDGET_S = 30.0


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


def load_eval_problems(path: Path, limit: int | None = None) -> tuple[list[Problem], list[tuple[str, str]]]:
    """Problems under `path` (a file or a directory, loaded file by file) and the refused files.

    A file a prover refuses (bad syntax, an unsupported feature) is skipped and reported as
    (path, reason) instead of failing the whole set, so any benchmark track can be evaluated.
    """
    path = Path(path)
    if not path.exists():
        raise ProofloopError(f"{path}: no such file or directory")
    root, files = (path, problem_files(path)) if path.is_dir() else (path.parent, [path])
    problems, skipped = load_each_file(root, files, skip_unreadable=True, limit=limit)
    if not problems:
        raise ProofloopError(f"{path}: no problems could be loaded ({len(skipped)} file(s) refused)")
    return problems, skipped


def generator_for_model(model: str, problems: Sequence[Problem]) -> "Generator":
    """The grammar sampler for `model == "grammar"`, else the transformers backend on `model`."""
    from proofloop.generate import GeneratorConfig, make_generator

    if model == GRAMMAR:
        provers = {p.prover for p in problems}
        if len(provers) != 1:
            raise ProofloopError(f"--model grammar samples for one prover at a time; the problems use {sorted(provers)}")
        prover = get_prover(provers.pop())
        return make_generator(GeneratorConfig(backend="grammar"), prover=prover, problems=list(problems))
    return make_generator(GeneratorConfig(backend="hf", model=model))


@dataclass
class _Sampled:
    problem: Problem
    seconds: float
    forms: list[str]
    candidates: dict[str, str]  # canonical form -> the first candidate with that form


def evaluate_problems(
    generator: "Generator",
    problems: Sequence[Problem],
    n: int,
    params: "SamplingParams",
    limits: CheckLimits,
    *,
    pool: "CheckPool",
    budget_s: float | None = None,
    on_sampled: Callable[[int], None] | None = None,
    on_checked: Callable[[int], None] | None = None,
) -> list[ProblemResult]:
    """Sample every problem, check all distinct candidates in one batch of `pool`; one result per problem."""
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
    verdicts = iter(pool.check_batch(items, limits, progress=on_checked))
    checked = {s.problem.id: {form: next(verdicts) for form in s.candidates} for s in to_check}
    return [_result(s, checked.get(s.problem.id), n, budget_s) for s in sampled]


def search_problems(
    problems: Sequence[Problem],
    limits: CheckLimits,
    pool: "CheckPool",
    *,
    budget_s: float | None = None,
    guide: Any = None,
    guides: Sequence[Any] | None = None,
    workers: int = 1,
    on_done: Callable[[int], None] | None = None,
) -> list[ProblemResult]:
    """The prover's own search on every problem (no model): one result per problem, n = 1.

    Each search gets `budget_s` (default DEFAULT_SEARCH_BUDGET_S) and `guide` (None: the uniform
    cost; `guides`: one per problem), `workers` at a time in worker processes; its answer counts only when the check pool,
    with the same limits as every other check, verifies it again (`recheck_found`).
    A prover without a search that needs no model is refused."""
    from proofloop.searchwork import search_many

    budget = budget_s if budget_s is not None else DEFAULT_SEARCH_BUDGET_S
    for problem in problems:
        prover = get_prover(problem.prover)
        if not (prover.can_search and prover.search_by_default):
            raise ProofloopError(f"--model search: the {problem.prover} prover has no search that runs without a model")
    found = search_many(problems, guide=guide, guides=guides, budget_s=budget, limits=limits, workers=workers,
                        on_done=on_done)
    results = []
    for problem, result in zip(problems, found):
        result = recheck_found(result, problem, limits, pool)
        verified = int(result.verdict is not None and result.verdict.verified)
        status = "verified" if verified else f"{result.status.value}:{result.reason.split(':')[0] or 'none'}"
        results.append(ProblemResult(problem.id, 1, verified, result.seconds, False, {status: 1}))
    return results


def sample_problem(generator: "Generator", problem: Problem, n: int, params: "SamplingParams") -> _Sampled:
    """n samples of one problem, timed, with their candidates extracted and deduplicated."""
    prover = get_prover(problem.prover)
    started = time.perf_counter()
    prompt = prover.prompt(problem)
    params = replace(params, stop=tuple(dict.fromkeys(params.stop + prover.stop)))
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


# -- prove: one problem until a candidate verifies -------------------------------------------


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
    search: dict[str, Any] = field(default_factory=dict)  # what a search tried (SearchResult.stats)

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
            **({"search": self.search} if self.search else {}),
        }


def prove_by_sampling(
    problem: Problem, generator: "Generator", n: int, batches: int, params: "SamplingParams", limits: CheckLimits,
    pool: "CheckPool",
) -> ProveOutcome:
    """Sample up to `batches` x `n` candidates; check each batch's new canonical forms in `pool` and
    stop at the first (in sampling order) that verifies."""
    outcome = ProveOutcome(problem.id)
    seen: set[str] = set()
    started = time.perf_counter()
    for batch in range(batches):
        batch_params = replace(params, seed=None if params.seed is None else params.seed + batch)
        sampled = sample_problem(generator, problem, n, batch_params)
        outcome.samples += len(sampled.forms)
        new = [candidate for form, candidate in sampled.candidates.items() if form not in seen]
        seen.update(sampled.candidates)
        for candidate, verdict in zip(new, pool.check_batch([(problem, c) for c in new], limits)):
            if verdict.verified:
                outcome.candidate, outcome.verdict = candidate, verdict
                break
            outcome.reasons[f"{verdict.status.value}:{verdict.reason}"] += 1
        if outcome.candidate is not None:
            break
    outcome.distinct = len(seen)
    outcome.seconds = time.perf_counter() - started
    return outcome


def recheck_found(result: SearchResult, problem: Problem, limits: CheckLimits, pool: "CheckPool") -> SearchResult:
    """A search's answer checked again, whole, through the check pool (the one checking path: its
    memory limit, hard deadline and error handling); an answer the pool does not verify is not one."""
    if result.proof is None or result.verdict is None or not result.verdict.verified:
        return result
    (verdict,) = pool.check_batch([(problem, result.proof)], limits)
    if verdict.verified:
        return replace(result, verdict=verdict)
    return replace(result, status=verdict.status, proof=None, verdict=verdict,
                   reason=f"recheck: {verdict.reason or verdict.status.value}")


def prove_by_search(
    problem: Problem, generator, n: int, params, limits: CheckLimits, budget_s: float, pool: "CheckPool"
) -> ProveOutcome:
    """The prover's proof search (Lean: best-first tactic search, SyGuS: the synthesizer); the
    proof found is re-checked whole through the check pool."""
    prover = get_prover(problem.prover)
    if not prover.can_search:
        raise ProofloopError(f"--search is the prover's own search, which the {problem.prover} prover does not have")
    result = prover.search(problem, generator, params=params, samples=n, time_budget_s=budget_s, limits=limits)
    result = recheck_found(result, problem, limits, pool)
    outcome = ProveOutcome(problem.id, samples=result.nodes, distinct=result.nodes, seconds=result.seconds,
                           search=dict(result.stats) or {"nodes": result.nodes})
    if result.verdict is not None and result.verdict.verified:
        outcome.candidate, outcome.verdict = result.proof, result.verdict
    elif result.reason:
        outcome.reasons[f"{result.status.value}:{result.reason}"] += 1
    return outcome


# -- run: the loop's metrics over stored attempts -------------------------------------------


def problem_counts(attempts: Sequence[dict]) -> dict[str, tuple[int, int]]:
    """problem id -> (samples, verified samples)."""
    counts: dict[str, tuple[int, int]] = {}
    for a in attempts:
        n, c = counts.get(a["problem_id"], (0, 0))
        counts[a["problem_id"]] = (n + 1, c + (a["status"] == Status.VERIFIED.value))
    return counts


def coverage_ks(n: int) -> list[int]:
    """k = 1, 2, 4, ... up to n (and n itself): the points of a coverage curve from n samples."""
    ks = [1 << i for i in range(n.bit_length()) if 1 << i <= n]
    return ks if ks[-1] == n else [*ks, n]


def coverage_metrics(attempts: Sequence[dict], n: int, prefix: str = "coverage") -> dict[str, float]:
    """pass@k for every k of `coverage_ks(n)`, over the problems that have n samples."""
    counts = {pid: nc for pid, nc in problem_counts(attempts).items() if nc[0] >= n}
    if not counts:
        return {}
    return {f"{prefix}_pass@{k}": mean_pass_at_k(counts, k) for k in coverage_ks(n)}


def pass_metrics(attempts: Sequence[dict], k: int, prefix: str, *, seed: int = 0) -> dict[str, float]:
    """pass@1, pass@k with its 95% bootstrap interval over problems, and the solved fraction and count."""
    counts = problem_counts(attempts)
    lo, hi = bootstrap_ci(list(pass_at_k_by_problem(counts, k).values()), seed=seed)
    solved = sum(c > 0 for _, c in counts.values())
    return {
        f"{prefix}_pass@1": mean_pass_at_k(counts, 1),
        f"{prefix}_pass@{k}": mean_pass_at_k(counts, k),
        f"{prefix}_pass@{k}_lo": lo,
        f"{prefix}_pass@{k}_hi": hi,
        f"{prefix}_solved": solved / len(counts) if counts else 0.0,
        f"{prefix}_solved_count": float(solved),
    }


def diversity_metrics(attempts: Sequence[dict]) -> dict[str, float]:
    """Unique verified solutions per solved problem, distinct-2 of the samples, mean token entropy."""
    verified: dict[str, set[str]] = {}
    for a in attempts:
        if a["status"] == Status.VERIFIED.value:
            verified.setdefault(a["problem_id"], set()).add(a["canonical_hash"])
    completions = [Completion(a["completion"], a["num_tokens"] or 0, a["logprob"] or 0.0) for a in attempts]
    return {
        "unique_per_solved": unique_per_solved_metric(verified),
        "distinct_2": distinct_n([a["completion"] for a in attempts], 2),
        "entropy": mean_token_entropy(completions),
    }
