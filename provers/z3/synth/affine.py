"""Affine terms fitted to the outputs the spec forces at the points (for point-wise specs).

Where the spec pins the function's output at a point (Z3 is asked for one output per point), the
required outputs of many points are often one affine function of the inputs on a region
(`3x - 5y + 7z + 9` on one side of a guard). Random samples of n+1 points (RANSAC) are solved
exactly over the rationals; an integral solution becomes a term `(+ (* c1 x1) ... c0)` whose
cover is then computed like any enumerated term's. Terms of the default grammar would need a
dozen levels to reach such coefficients.
"""

from __future__ import annotations

import random
import time
from fractions import Fraction

import z3

from provers.z3.build import z3_sort
from provers.z3.terms import APP, INT, Term, lit, var

TRIES = 2000
MAX_TERMS = 12


def forced_outputs(compiled, name: str, points: list[dict], deadline: float) -> list[int | None]:
    """Per point: an output the spec allows the function there (None if Z3 finds none in time)."""
    problem = compiled.problem
    ctx = z3.Context()
    parsed = z3.parse_smt2_string(compiled.prelude, ctx=ctx)
    constraints = [parsed[i] for i in range(len(problem.constraints))]
    f = problem.synth_fun(name)
    decl = z3.Function(f.name, *[z3_sort(s, ctx) for s in f.param_sorts], z3_sort(f.sort, ctx))
    out_var = z3.Int("__out", ctx)
    goal = z3.substitute_funs(z3.And(*constraints), (decl, out_var))
    consts = {n: z3.Const(n, z3_sort(s, ctx)) for n, s in problem.variables}
    solver = z3.Solver(ctx=ctx)
    solver.set("timeout", 200)
    outputs: list[int | None] = []
    for p in points:
        if time.perf_counter() > deadline:
            outputs.append(None)
            continue
        solver.push()
        for n, c in consts.items():
            v = p[n]
            solver.add(c == (z3.BoolVal(v, ctx) if isinstance(v, bool) else z3.IntVal(v, ctx)))
        solver.add(goal)
        value = None
        # One model per point, not a proof that it is the only one: a point whose output is free
        # gives a value no affine function shares, and RANSAC outvotes it.
        if solver.check() == z3.sat:
            value = solver.model().eval(out_var, model_completion=True).as_long()
        solver.pop()
        outputs.append(value)
    return outputs


def affine_terms(
    params, inputs: list[list[int]], outputs: list[int | None], rng: random.Random, deadline: float = float("inf")
) -> list[Term]:
    """Affine terms over the integer parameters that agree with many forced outputs."""
    ints = [i for i, (_, s) in enumerate(params) if s == INT]
    rows = [(tuple(inp[i] for i in ints), o) for inp, o in zip(inputs, outputs) if o is not None]
    k = len(ints) + 1
    if not ints or len(rows) < k:
        return []
    found: dict[tuple, int] = {}
    for _ in range(TRIES):
        if time.perf_counter() > deadline:
            break
        sample = rng.sample(rows, k)
        coeffs = _solve([[Fraction(x) for x in r] + [Fraction(1)] for r, _ in sample], [Fraction(o) for _, o in sample])
        if coeffs is None or any(c.denominator != 1 for c in coeffs):
            continue
        cs = tuple(int(c) for c in coeffs)
        if cs in found:
            continue
        found[cs] = sum(1 for r, o in rows if sum(c * x for c, x in zip(cs, r)) + cs[-1] == o)
    best = sorted(found, key=lambda cs: -found[cs])[:MAX_TERMS]
    return [_term(params, ints, cs) for cs in best if found[cs] >= 2]


def _term(params, ints, cs) -> Term:
    parts: list[Term] = []
    for c, i in zip(cs, ints):
        if c == 0:
            continue
        v = var(params[i][0], INT, i)
        parts.append(v if c == 1 else add_app("*", lit(c, INT), v))
    if cs[-1] != 0 or not parts:
        parts.append(lit(cs[-1], INT))
    out = parts[0]
    for p in parts[1:]:
        out = add_app("+", out, p)
    return out


def add_app(op: str, *args: Term) -> Term:
    t = Term(APP, op, args, INT, ())
    t.depth = 1 + max(a.depth for a in args)
    return t


def _solve(a: list[list[Fraction]], b: list[Fraction]) -> list[Fraction] | None:
    """The unique solution of a square system, or None (Gauss-Jordan over the rationals)."""
    n = len(a)
    m = [row[:] + [rhs] for row, rhs in zip(a, b)]
    for c in range(n):
        pivot = next((r for r in range(c, n) if m[r][c] != 0), None)
        if pivot is None:
            return None
        m[c], m[pivot] = m[pivot], m[c]
        inv = 1 / m[c][c]
        m[c] = [x * inv for x in m[c]]
        for r in range(n):
            if r != c and m[r][c] != 0:
                f = m[r][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[r][n] for r in range(n)]


__all__ = ["affine_terms", "forced_outputs"]
