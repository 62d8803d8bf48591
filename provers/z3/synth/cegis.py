"""CEGIS for function synthesis: propose a candidate that fits the points, ask Z3, learn a point.

Two ways to propose (`Search.propose`):
- divide and conquer (EUSolver) where the spec is single-invocation, the problem has one
  function and its grammar has `ite` over its start symbol: enumerate terms until every point
  is covered by some term, enumerate predicates, unify them with a decision tree;
- plain enumeration otherwise: terms of each function cheapest first, with observational
  equivalence on the function's inputs; several functions are assigned one after another,
  each constraint checked as soon as the functions it calls have bodies.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import numpy as np

from provers.z3.synth.cost import Context, Guide
from provers.z3.synth.enumerate import Enumerator, OutOfTime
from provers.z3.synth.grammars import rules_for, shape
from provers.z3.synth.oracle import FunOracle
from provers.z3.synth.spec import Candidate, PointSet, Spec, run
from provers.z3.synth.unify import learn, to_term
from provers.z3.constants import problem_constants
from provers.z3.terms import Term


@dataclass
class Stats:
    """What a search tried: reported in SearchResult.stats and `prove --json`."""

    strategy: str = ""
    terms: int = 0  # terms built by the enumerators (kept or pruned)
    kept: int = 0  # terms kept after observational equivalence
    points: int = 0
    counterexamples: int = 0
    candidates: int = 0  # candidates sent to Z3
    rejected_by_checker: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Search:
    """The state of one CEGIS run: the spec, the points and what was tried."""

    compiled: object
    problem_id: str
    guide: Guide
    deadline: float
    accept: object  # callable(bodies) -> bool: the real checker's verdict
    max_cells: int = 50_000_000
    seed: int = 0
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        problem = self.compiled.problem
        self.spec = Spec(self.compiled)
        self.oracle = FunOracle(self.compiled)
        self.rng = random.Random(self.seed)
        self.constants = problem_constants(problem)
        self.rules = {f.name: rules_for(problem, f, self.constants["Int"]) for f in problem.synth_funs}
        self.shapes = {name: shape(r) for name, r in self.rules.items()}
        only = problem.synth_funs[0].name
        self.divide = (
            len(problem.synth_funs) == 1 and self.spec.single_invocation and self.shapes[only].ite is not None
        )
        self.stats.strategy = "divide-and-conquer" if self.divide else "enumeration"
        self.points = [self.spec.random_point(self.rng)]
        self.blocked: set[str] = set()

    def run(self) -> dict[str, Term] | None:
        while time.perf_counter() < self.deadline:
            bodies = self.propose()
            if bodies is None:
                return None
            self.stats.candidates += 1
            point = self.oracle.counterexample(bodies, max(0.05, self.deadline - time.perf_counter()))
            if point is None:
                if self.accept(bodies):
                    return bodies
                self.stats.rejected_by_checker += 1
                self.blocked.add(_key(bodies))
                continue
            if point in self.points:
                # The vectors judged a candidate right where Z3 finds it wrong (int64 overflow):
                # never propose it again.
                self.blocked.add(_key(bodies))
            else:
                self.points.append(point)
                self.stats.counterexamples += 1
                self.stats.points = len(self.points)
        raise OutOfTime()

    def _enumerator(self, name: str, ps: PointSet, exclude=frozenset()) -> Enumerator:
        f = self.spec.funs[name]
        return Enumerator(
            self.rules[name], f.params, ps.inputs[name], ps.width(name), self.guide,
            Context(self.problem_id, name, self.rules[name].start, f.sort), self.constants,
            exclude=exclude, deadline=self.deadline, max_cells=self.max_cells,
            call=lambda op, args, w: run(self.spec.helper_body(op), args, w, self.spec),
        )

    def propose(self) -> dict[str, Term] | None:
        ps = PointSet(self.spec, self.points, random.Random(self.seed + len(self.points)))
        if self.divide:
            return self._divide_and_conquer(ps)
        return self._enumerate(ps)

    def _count(self, enums) -> None:
        for e in enums:
            self.stats.terms += e.tried
            self.stats.kept += e.count

    # -- divide and conquer --------------------------------------------------------------------

    def _divide_and_conquer(self, ps: PointSet) -> dict[str, Term] | None:
        name = next(iter(self.spec.funs))
        rules, sh = self.rules[name], self.shapes[name]
        enum = self._enumerator(name, ps, frozenset({(rules.start, sh.ite)}))
        terms: list[Term] = []
        covers: list[np.ndarray] = []
        union = np.zeros(ps.n, dtype=bool)
        tried_preds = -1
        try:
            while time.perf_counter() < self.deadline:
                new = enum.grow()
                for t, row in new.get(rules.start, []):
                    cover = ps.holds({name: Candidate(t, row)})
                    if cover.all():
                        if _key({name: t}) not in self.blocked:
                            return {name: t}
                        continue
                    if not cover.any():
                        continue
                    if covers and np.any(np.all(np.stack(covers) >= cover, axis=1)):
                        continue
                    terms.append(t)
                    covers.append(cover)
                    union |= cover
                if not union.all():
                    continue
                preds = enum.terms(sh.condition)
                if not preds or len(preds) == tried_preds:
                    continue
                tried_preds = len(preds)
                tree = learn(np.stack(covers), terms, np.stack([r for _, r, _ in preds]), [t for t, _, _ in preds])
                if tree is not None:
                    bodies = {name: to_term(tree)}
                    if _key(bodies) not in self.blocked:
                        return bodies
                if enum.level > 200:
                    return None
        finally:
            self._count([enum])
        raise OutOfTime()

    # -- plain enumeration ---------------------------------------------------------------------

    def _enumerate(self, ps: PointSet) -> dict[str, Term] | None:
        names = list(self.spec.funs)
        enums = {n: self._enumerator(n, ps) for n in names}
        # Constraint i is checked once every function it calls has a body: after the last of them.
        ready: list[list[int]] = [[] for _ in names]
        for i, mentioned in enumerate(self.spec.mentions):
            last = max((names.index(m) for m in mentioned), default=0)
            ready[last].append(i)
        try:
            bound = len(names)
            while time.perf_counter() < self.deadline:
                for n in names:
                    while enums[n].level < bound - (len(names) - 1):
                        enums[n].grow()
                found = self._assign(ps, names, enums, ready, 0, bound, {})
                if found is not None:
                    return {n: c.term for n, c in found.items()}
                bound += 1
                if bound > 200:
                    return None
        finally:
            self._count(enums.values())
        raise OutOfTime()

    def _assign(self, ps, names, enums, ready, i, budget, bodies) -> dict[str, Candidate] | None:
        name = names[i]
        rest = len(names) - i - 1
        last = i == len(names) - 1
        for t, row, cost in enums[name].terms(enums[name].rules.start):
            if cost > budget - rest:
                break
            if last and cost != budget:
                continue  # cheaper tuples were tried at an earlier bound
            if time.perf_counter() > self.deadline:
                raise OutOfTime()
            bodies[name] = Candidate(t, row)
            if ready[i] and not ps.holds(bodies, ready[i]).all():
                continue
            if last:
                if _key({n: c.term for n, c in bodies.items()}) not in self.blocked:
                    return dict(bodies)
                continue
            found = self._assign(ps, names, enums, ready, i + 1, budget - cost, bodies)
            if found is not None:
                return found
        bodies.pop(name, None)
        return None


def _key(bodies: dict[str, Term]) -> str:
    from provers.z3.terms import term_text

    return "\n".join(f"{n} {term_text(t, limit=None)}" for n, t in sorted(bodies.items()))
