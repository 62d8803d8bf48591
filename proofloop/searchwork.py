"""Searches in worker processes: the prover's own search (SyGuS: the synthesizer) on many problems
at once, each in a worker under the limits a check gets: the memory limit, and a hard deadline a
little past the search's budget (a search that runs past it is stopped: `unknown`, "timeout").

`search_many` is what the loop's search policy (proofloop/generate/search.py), `eval --model
search` and benchmarks/guided_search.py run. A search's answer has been verified by the prover's
checker inside the search; whoever counts it checks it again through the check pool (the loop's
`check` phase, `evaluate.recheck_found`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from proofloop.checkwork import CheckOverran, Spec, hard_deadline, in_worker, memory_limit, prover_targets
from proofloop.errors import ProofloopError
from proofloop.prover import SearchResult, get_prover
from proofloop.types import CheckLimits, Problem, Status

log = logging.getLogger(__name__)


def search_deadline_s(budget_s: float) -> float:
    """Wall-clock seconds after which a worker stops a search that did not stop itself."""
    return budget_s * 1.5 + 5.0


def _failed(reason: str, seconds: float = 0.0) -> SearchResult:
    return SearchResult(status=Status.UNKNOWN, proof=None, verdict=None, nodes=0, seconds=seconds, reason=reason)


def search_one(problem: Problem, guide: Any, budget_s: float, limits: CheckLimits, seed: int = 0) -> SearchResult:
    """One search in this process, under the memory limit and the hard deadline; it never raises
    for what the search meets (a ProofloopError becomes an `unknown` result with its message)."""
    from proofloop.generate.base import SamplingParams

    prover = get_prover(problem.prover)
    started = time.perf_counter()
    try:
        with memory_limit(limits.memory_mb), hard_deadline(search_deadline_s(budget_s)) as start_clock:
            start_clock()
            return prover.search(problem, None, params=SamplingParams(seed=seed), time_budget_s=budget_s,
                                 limits=limits, guide=guide)
    except CheckOverran:
        return _failed(f"timeout: past the hard limit of {search_deadline_s(budget_s):g} s", time.perf_counter() - started)
    except MemoryError:
        return _failed(f"resource: out of memory (limit {limits.memory_mb} MB)", time.perf_counter() - started)
    except ProofloopError as e:
        return _failed(f"{type(e).__name__}: {e}", time.perf_counter() - started)


def _init_worker(targets: dict) -> None:
    in_worker().build_provers(targets)


def _search_task(spec: Spec, guide: Any, budget_s: float, limits: CheckLimits, seed: int) -> SearchResult:
    problem = in_worker().problem((spec.prover, spec.id), spec)
    return search_one(problem, guide, budget_s, limits, seed)


def search_many(
    problems: Sequence[Problem],
    *,
    guide: Any = None,
    budget_s: float,
    limits: CheckLimits,
    workers: int = 1,
    seeds: Sequence[int] | None = None,
    guides: Sequence[Any] | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[SearchResult]:
    """One search per problem (with `seeds[i]` and `guides[i]`, where given, for the i-th; else
    `guide` for all), in input order, `workers` at a time."""
    seeds = list(seeds) if seeds is not None else [0] * len(problems)
    guides = list(guides) if guides is not None else [guide] * len(problems)
    if workers <= 1 or len(problems) <= 1:
        results = []
        for problem, seed, one_guide in zip(problems, seeds, guides):
            results.append(search_one(problem, one_guide, budget_s, limits, seed))
            if on_done:
                on_done(1)
        return results
    from proofloop.executors import _mp_context

    targets = prover_targets(sorted({p.prover for p in problems}))
    out: dict[int, SearchResult] = {}
    broken: list[int] = []
    with ProcessPoolExecutor(min(workers, len(problems)), mp_context=_mp_context(targets),
                             initializer=_init_worker, initargs=(targets,)) as pool:
        futures = {pool.submit(_search_task, Spec.of(p), g, budget_s, limits, seed): i
                   for i, (p, seed, g) in enumerate(zip(problems, seeds, guides))}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    out[futures[future]] = future.result()
                except BrokenProcessPool:
                    broken.append(futures[future])
                    continue
                if on_done:
                    on_done(1)
    # A worker died and took the pool with it: the searches that had not finished run again one at
    # a time, each in a pool of its own, so that only the one that kills its worker is lost.
    for i in sorted(broken):
        out[i] = _isolated(problems[i], guides[i], budget_s, limits, seeds[i], targets)
        if on_done:
            on_done(1)
    return [out[i] for i in range(len(problems))]


def _isolated(problem: Problem, guide: Any, budget_s: float, limits: CheckLimits, seed: int, targets: dict) -> SearchResult:
    """One search in a pool of its own: if its worker dies, the search is what killed it."""
    from proofloop.executors import _mp_context

    with ProcessPoolExecutor(1, mp_context=_mp_context(targets), initializer=_init_worker, initargs=(targets,)) as pool:
        try:
            return pool.submit(_search_task, Spec.of(problem), guide, budget_s, limits, seed).result()
        except BrokenProcessPool:
            return _failed("resource: the search's worker process died")
