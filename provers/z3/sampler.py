"""The grammar sampler: random size-bounded derivations, the round-0 policy.

`sample` draws n candidates per problem. Size budgets are stratified over the n draws and
skewed to small terms, smallest first (easy solutions are often small). A draw that repeats an
earlier sample is redrawn with a growing budget, so the n samples are distinct wherever the
grammar has that many terms; only when it has fewer are the distinct ones cycled.

Problems with a grammar (and those whose logic has no integer default) are derived from their
rules (derive.py); integer problems without a grammar use the default grammar of linear integer
arithmetic (lia.py). Constants come from constants.py.
"""

from __future__ import annotations

import random

from provers.z3.constants import IntPool, problem_constants, problem_literals
from provers.z3.derive import INF, GrammarDeriver
from provers.z3.grammar import Rules, compile_grammar, default_rules
from provers.z3.lia import LiaGenerator
from provers.z3.prompt import header
from provers.z3.sygus import SygusProblem, SynthFun
from provers.z3.terms import BOOL, INT, FunSig

# Draws of one sample slot that may come out as repeats before the slot takes a last resort.
REDRAWS = 12


def rules_for(problem: SygusProblem, fun: SynthFun, constants: dict[str, list]) -> Rules:
    """The grammar of `fun` as rules, or the default grammar of the logic when it has none."""
    if fun.grammar is not None:
        helpers = {h.name: FunSig(h.name, h.param_sorts, h.sort) for h in problem.helpers}
        return compile_grammar(fun, helpers, problem.theories, problem.logic)
    return default_rules(fun.params, fun.sort, problem.theories, constants, _is_invariant(problem, fun))


def _is_invariant(problem: SygusProblem, fun: SynthFun) -> bool:
    return fun.invariant or any(inv.inv == fun.name for inv in problem.invariants)


def _generator(problem: SygusProblem, fun: SynthFun, constants: dict[str, list], pool: IntPool):
    """The default integer grammar where it applies, else derivations from the rules."""
    has_ints = any(s == INT for _, s in fun.params)
    if fun.grammar is None and "int" in problem.theories and has_ints and fun.sort in (INT, BOOL):
        return LiaGenerator(fun, problem.theories, pool, _is_invariant(problem, fun) and fun.sort == BOOL)
    return GrammarDeriver(rules_for(problem, fun, constants), fun, constants, pool)


def _budget(least: int, max_size: int, quantile: float, redraw: int) -> int:
    """The size budget of a slot: small quantiles get small budgets; each redraw allows more."""
    top = max(max_size, least)
    return min(top, least + int((top - least) * quantile**2 + 0.5) + redraw)


def sample(problem: SygusProblem, n: int, rng: random.Random, max_size: int = 16) -> list[str]:
    """`n` candidates drawn from the grammars, smallest first (distinct where the grammar allows); [] if none derive."""
    constants = problem_constants(problem)
    pool = IntPool(problem_literals(problem), rng)
    gens = [(f, _generator(problem, f, constants, pool)) for f in problem.synth_funs]
    if n <= 0 or any(g.least >= INF for _, g in gens):
        return []
    out: list[str] = []
    seen: set[tuple] = set()
    texts: set[str] = set()
    for slot in range(n):
        quantile = (slot + rng.random()) / n  # stratified: every part of the size range gets its share
        spare = None
        for redraw in range(REDRAWS):
            drawn = [g.body(_budget(g.least, max_size, quantile, redraw)) for _, g in gens]
            text = "\n".join(header(f) + body + ")" for (f, _), (body, _) in zip(gens, drawn))
            if text in texts:
                continue
            key = tuple(k for _, k in drawn)
            if key not in seen and not any(g.flawed for _, g in gens):
                spare = (key, text)
                break
            # New text, but it behaves like an earlier sample on every probe (or simplifies
            # away): a last resort, should every redraw of this slot be a repeat.
            spare = spare or (key, text)
        if spare is not None:
            seen.add(spare[0])
            texts.add(spare[1])
            out.append(spare[1])
    distinct = list(out)
    while distinct and len(out) < n:
        out.append(distinct[len(out) % len(distinct)])
    return out
