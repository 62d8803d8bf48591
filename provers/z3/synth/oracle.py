"""The verifier inside CEGIS: Z3 asked for a counterexample to a candidate.

The problem's prelude is read once into a private Z3 context (synthesised functions
uninterpreted, as in checker.py); a candidate's bodies replace them with `substitute_funs`
and Z3 looks for a point where a constraint fails. Small counterexamples are asked for first
(|v| <= BOUND): they keep value vectors far from int64 overflow and read well. The oracle only
steers the search; every answer it lets through is checked again by the real checker.
"""

from __future__ import annotations

import time

import z3

from provers.z3.build import to_z3, z3_sort
from provers.z3.synth.spec import Point
from provers.z3.terms import BOOL, Term

BOUND = 1000


class Unknown(Exception):
    """Z3 gave no answer (timeout, incomplete)."""


class HelperCalls:
    """Calls of the problem's `define-fun` helpers, as Z3 terms in one context: each helper's body
    is translated once (with de Bruijn variables) and substituted at every call."""

    def __init__(self, problem, compiled, ctx: z3.Context):
        self.problem, self.compiled, self.ctx = problem, compiled, ctx
        self.bodies: dict[str, z3.ExprRef] = {}

    def __call__(self, name: str, args: list[z3.ExprRef]) -> z3.ExprRef:
        if name not in self.bodies:
            helper = self.problem.helper(name)
            params = [z3.Var(i, z3_sort(s, self.ctx)) for i, s in enumerate(helper.param_sorts)]
            self.bodies[name] = to_z3(self.compiled.helper_term(name), self.ctx, params, self)
        return z3.substitute_vars(self.bodies[name], *args) if args else self.bodies[name]


class FunOracle:
    def __init__(self, compiled):
        self.compiled = compiled
        self.problem = compiled.problem
        self.ctx = z3.Context()
        parsed = z3.parse_smt2_string(compiled.prelude, ctx=self.ctx)
        n = len(self.problem.constraints)
        self.constraints = [parsed[i] for i in range(n)]
        self.assumptions = [parsed[i] for i in range(n, len(parsed))]
        self.goal = z3.And(*self.constraints) if len(self.constraints) > 1 else self.constraints[0]
        self.decls = {
            f.name: z3.Function(f.name, *[z3_sort(s, self.ctx) for s in f.param_sorts], z3_sort(f.sort, self.ctx))
            for f in self.problem.synth_funs
        }
        self.consts = {name: z3.Const(name, z3_sort(sort, self.ctx)) for name, sort in self.problem.variables}
        self._call_helper = HelperCalls(self.problem, compiled, self.ctx)
        self.queries = 0

    def body(self, name: str, term: Term) -> z3.ExprRef:
        f = self.problem.synth_fun(name)
        params = [z3.Var(i, z3_sort(s, self.ctx)) for i, s in enumerate(f.param_sorts)]
        return to_z3(term, self.ctx, params, self._call_helper)


    def counterexample(self, bodies: dict[str, Term], deadline: float) -> Point | None:
        """A point where the candidate fails, or None when it satisfies the spec; raises Unknown
        (also when `deadline`, a time.perf_counter() value, passes)."""
        self.queries += 1
        subst = [(self.decls[name], self.body(name, term)) for name, term in bodies.items()]
        goal = z3.substitute_funs(self.goal, *subst)
        solver = z3.Solver(ctx=self.ctx)
        solver.add(*self.assumptions)
        solver.add(z3.Not(goal))
        solver.push()
        ints = [c for name, c in self.consts.items() if c.sort() != z3.BoolSort(self.ctx)]
        if ints:
            solver.add(*[z3.And(c >= -BOUND, c <= BOUND) for c in ints])
            _limit(solver, deadline)
            result = solver.check()
            if result == z3.sat:
                return self._point(solver.model())
            solver.pop()
        _limit(solver, deadline)
        result = solver.check()
        if result == z3.unsat:
            return None
        if result == z3.sat:
            return self._point(solver.model())
        raise Unknown(solver.reason_unknown())

    def _point(self, model: z3.ModelRef) -> Point:
        point: Point = {}
        for (name, sort), c in zip(self.problem.variables, self.consts.values()):
            v = model.eval(c, model_completion=True)
            point[name] = z3.is_true(v) if sort == BOOL else v.as_long()
        return point


def _limit(solver: z3.Solver, deadline: float) -> None:
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise Unknown("the search's time budget passed")
    solver.set("timeout", max(1, int(remaining * 1000)))


def parse_value(text: str, sort: str) -> int | bool | None:
    """A model value as the checker prints it ("5", "(- 5)", "true"); None if it is not one."""
    text = text.strip()
    if sort == BOOL:
        return {"true": True, "false": False}.get(text)
    if text.startswith("#x"):
        return int(text[2:], 16)
    if text.startswith("#b"):
        return int(text[2:], 2)
    negative = text.startswith("(-") and text.endswith(")")
    digits = text[2:-1].strip() if negative else text
    if not digits.isdigit():
        return None
    return -int(digits) if negative else int(digits)


def counterexample_point(verdict, spec) -> Point | None:
    """The point of a checker's counterexample verdict (function problems), or None."""
    evidence = verdict.counterexample
    if verdict.reason != "counterexample" or not isinstance(evidence, dict) or "values" not in evidence:
        return None
    point: Point = {}
    for name, sort in spec.variables:
        value = parse_value(str(evidence["values"].get(name, "0")), sort)
        if value is None:
            return None
        point[name] = value
    return point
