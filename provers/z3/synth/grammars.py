"""The grammar a function is enumerated from: its own, or the default CLIA grammar.

The default grammar of an integer function is EUSolver's: parameters, the problem's constants,
`+`, `-` and `ite` over comparisons (`<=`, `<`, `=`) joined by `and`, `or`, `not`. A Boolean
function gets the comparisons and connectives at its start symbol.
"""

from __future__ import annotations

from dataclasses import dataclass

from provers.z3.grammar import Production, Rules, add_app, add_leaves, compile_grammar
from provers.z3.grammar import default_rules as logic_rules
from provers.z3.sygus import SygusProblem, SynthFun
from provers.z3.terms import BOOL, CALL, INT, FunSig


@dataclass(frozen=True)
class Shape:
    """Where divide and conquer may act: the start symbol's `ite` production, if it has one
    whose branches are the start symbol, and the nonterminal of its condition."""

    ite: int | None  # index of the ite production in rules.productions[start]
    condition: str | None


# Problem helpers of at most this many integer arguments join the default grammar.
MAX_HELPER_ARITY = 3


def default_rules(fun: SynthFun, int_constants: list[int], helpers: tuple = ()) -> Rules:
    """EUSolver's default grammar over the parameters of `fun` (Int or Bool valued), with the
    problem's integer helpers (`five_times`, `plus_3`, ...) that a candidate may call."""
    rules = Rules()
    if fun.sort == INT:
        start = rules.nonterminal("Start", INT)
        cond = rules.nonterminal("Cond", BOOL)
        term = start
    else:
        start = rules.nonterminal("Start", BOOL)
        cond = start
        term = rules.nonterminal("Term", INT)
    add_leaves(rules, term, INT, fun.params, int_constants)
    add_app(rules, term, "+", term, term)
    add_app(rules, term, "-", term, term)
    for h in helpers:
        if h.uses_variables or h.sort != INT or not 0 < len(h.params) <= MAX_HELPER_ARITY:
            continue
        if all(s == INT for _, s in h.params):
            key = (CALL, h.name, ())
            children = (term,) * len(h.params)
            rules.apps[(key, len(children))].append((term, children))
            rules.productions[term].append(Production("app", key, children))
    add_leaves(rules, cond, BOOL, fun.params, [True, False] if fun.sort == BOOL else [])
    for op in ("<=", "<", "="):
        add_app(rules, cond, op, term, term)
    add_app(rules, cond, "and", cond, cond)
    add_app(rules, cond, "or", cond, cond)
    add_app(rules, cond, "not", cond)
    if fun.sort == INT:
        add_app(rules, start, "ite", cond, start, start)
    return rules


def rules_for(problem: SygusProblem, fun: SynthFun, constants: dict[str, list]) -> Rules:
    if fun.grammar is not None:
        helpers = {h.name: FunSig(h.name, h.param_sorts, h.sort) for h in problem.helpers}
        return compile_grammar(fun, helpers, problem.theories, problem.logic)
    if fun.sort in (INT, BOOL) and all(s in (INT, BOOL) for s in fun.param_sorts):
        return default_rules(fun, constants[INT], problem.helpers)
    # Bit-vectors: the sampler's default grammar of the logic (bvadd, bvand, shifts, ite, ...).
    return logic_rules(fun.params, fun.sort, problem.theories, constants, False)


def shape(rules: Rules) -> Shape:
    for i, p in enumerate(rules.productions[rules.start]):
        if p.kind == "app" and p.payload[1] == "ite" and len(p.children) == 3:
            c, a, b = p.children
            if a == rules.start and b == rules.start:
                return Shape(i, c)
    return Shape(None, None)
