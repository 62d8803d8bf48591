"""A SyGuS synthesizer: enumeration with observational equivalence, CEGIS, decision trees,
and invariant search; the "expert" of expert iteration (docs/search.md).

`synthesize(problem, guide=..., time_budget_s=...)` is what `Z3Prover.search` runs. Its
answers are candidates like any other: each goes through the prover's checker before it is
returned as verified. The search is anytime and bounded: it stops at the first verified
candidate, when its time budget passes or its memory bound is reached, and a problem it cannot
handle gives status `unknown` with the reason, never an exception.
"""

from __future__ import annotations

import logging
import time

from proofloop.errors import ProofloopError
from proofloop.prover import SearchResult
from proofloop.types import CheckLimits, Problem, Status, Verdict
from provers.z3.sexpr import symbol_text
from provers.z3.synth.cegis import Search, Stats
from provers.z3.synth.cost import PCFG, Context, Guide, Uniform
from provers.z3.synth.enumerate import OutOfSpace, OutOfTime
from provers.z3.synth.guides import (
    PHOG,
    Mix,
    ModelGuide,
    fit_guide,
    load_guide,
    save_guide,
)
from provers.z3.synth.oracle import Unknown
from provers.z3.synth.values import Unsupported
from provers.z3.terms import Term, term_text

log = logging.getLogger(__name__)

# Share of the memory limit the enumerators' value vectors may take (8 bytes a value).
VECTOR_MEMORY_SHARE = 0.4


def candidate_text(problem, bodies: dict[str, Term]) -> str:
    """The define-fun text of `bodies`, in the order of the problem's synth-funs."""
    out = []
    for f in problem.synth_funs:
        params = " ".join(f"({symbol_text(p)} {s})" for p, s in f.params)
        out.append(f"(define-fun {symbol_text(f.name)} ({params}) {f.sort} {term_text(bodies[f.name], limit=None)})")
    return "\n".join(out)


def synthesize(
    problem: Problem,
    *,
    guide: Guide | None = None,
    time_budget_s: float = 30.0,
    limits: CheckLimits | None = None,
    seed: int = 0,
) -> SearchResult:
    """Search for a verified solution of a SyGuS problem within `time_budget_s`."""
    from provers.z3 import Z3Prover
    from provers.z3.checker import compiled_for

    limits = limits or CheckLimits()
    started = time.perf_counter()
    deadline = started + time_budget_s
    guide = guide or Uniform()
    stats = Stats(guide=guide.name)
    prover = Z3Prover()
    found: list[tuple[str, Verdict]] = []

    def check(bodies: dict[str, Term]) -> Verdict:
        """The prover's own checker on the candidate's text: every answer counts only through it."""
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise OutOfTime()
        text = candidate_text(compiled.problem, bodies)
        # The search's budget bounds its checks (not the per-check default): a large candidate
        # may take Z3 most of it.
        verdict = prover.check(problem, text, CheckLimits(remaining, limits.memory_mb))
        if verdict.verified:
            found.append((text, verdict))
        return verdict

    def result(status: Status, reason: str = "") -> SearchResult:
        text, verdict = found[-1] if found else (None, None)
        return SearchResult(
            status=status, proof=text, verdict=verdict, nodes=stats.terms,
            seconds=time.perf_counter() - started, reason=reason, stats=stats.to_dict(),
        )

    max_cells = int(limits.memory_mb * 2**20 * VECTOR_MEMORY_SHARE / 8)
    try:
        compiled = compiled_for(problem)
        if compiled.problem.invariants:
            from provers.z3.synth.invariant import InvariantSearch

            search = InvariantSearch(
                compiled, deadline, check, stats=stats, seed=seed, guide=guide, problem_id=problem.id
            )
        else:
            search = Search(compiled, problem.id, guide, deadline, check, max_cells, seed, stats)
        bodies = search.run()
    except OutOfTime:
        return result(Status.UNKNOWN, "timeout")
    except OutOfSpace as e:
        return result(Status.UNKNOWN, f"resource: {e}")
    except Unknown as e:
        return result(Status.UNKNOWN, f"incomplete: Z3 answered unknown ({e})")
    except Unsupported as e:
        return result(Status.UNKNOWN, f"unsupported: {e}")
    except MemoryError:
        return result(Status.UNKNOWN, "resource: out of memory")
    except ProofloopError as e:
        return result(Status.UNKNOWN, f"{type(e).__name__}: {e}")
    except Exception as e:
        log.exception("search error on %s", problem.id)
        return result(Status.UNKNOWN, f"search-error: {type(e).__name__}: {' '.join(str(e).split())[:200]}")
    if bodies is None or not found:
        return result(Status.UNKNOWN, "exhausted: no candidate within the enumeration bounds")
    return result(Status.VERIFIED)


__all__ = [
    "PCFG", "PHOG", "Context", "Guide", "Mix", "ModelGuide", "Uniform", "candidate_text", "fit_guide", "load_guide",
    "save_guide", "synthesize",
]
