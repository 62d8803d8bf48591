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

from proofloop.types import Status
from provers.z3.constants import problem_constants, problem_literals
from provers.z3.grammar import derivations
from provers.z3.synth.affine import affine_terms, forced_outputs
from provers.z3.synth.cost import Context, Guide, seeds_of
from provers.z3.synth.enumerate import Enumerator, OutOfTime
from provers.z3.synth.grammars import rules_for, shape
from provers.z3.synth.oracle import counterexample_point
from provers.z3.synth.simplify import simplify
from provers.z3.synth.spec import (
    Candidate,
    PointSet,
    Spec,
    defined_body,
    definitions,
    precondition_maker,
    run,
)
from provers.z3.synth.unify import learn, leaves, to_term
from provers.z3.terms import APP, Term, bv_width

RANDOM_POINTS = 64
MAX_CONSTANTS = 40
JITTER = 3
JITTERED = 3
# Levels of predicates tried on the terms that first cover the points before terms grow again.
TERM_PAUSE = 2
# The enumeration level at which affine terms fitted to forced outputs join the terms.
AFFINE_AT = 4
# Points whose forced outputs affine fitting looks at, at most.
AFFINE_POINTS = 128
# A decision tree with at most this many leaves is tried before the chain of preconditions.
SMALL_TREE = 6


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
    stages: int = 0  # candidate sets the invariant search ran Houdini on
    guide: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Search:
    """The state of one CEGIS run: the spec, the points and what was tried."""

    compiled: object
    problem_id: str
    guide: Guide
    deadline: float
    check: object  # callable(bodies) -> Verdict: the prover's checker on the candidate's text
    max_cells: int = 50_000_000
    seed: int = 0
    stats: Stats = field(default_factory=Stats)

    def __post_init__(self) -> None:
        problem = self.compiled.problem
        self.spec = Spec(self.compiled)
        self.rng = random.Random(self.seed)
        self.constants = problem_constants(problem)
        # Every literal of the problem (array-search problems compare with up to 20 indices).
        self.constants["Int"] = sorted(set(problem_literals(problem)[:MAX_CONSTANTS]) | {0, 1}, key=lambda v: (abs(v), v))
        self.rules = {f.name: rules_for(problem, f, self.constants) for f in problem.synth_funs}
        self.shapes = {name: shape(r) for name, r in self.rules.items()}
        self.seeds = {f.name: self._seeds(f.name) for f in problem.synth_funs}
        only = problem.synth_funs[0].name
        self.divide = (
            len(problem.synth_funs) == 1 and self.spec.single_invocation and self.shapes[only].ite is not None
        )
        self.stats.strategy = "divide-and-conquer" if self.divide else "enumeration"
        # Random points besides the counterexamples (point-wise specs only: there any point is a
        # sample of the spec): Z3's counterexamples are small and full of ties, on which a
        # comparison with a constant separates as well as the right one.
        self.random_points = RANDOM_POINTS if self.spec.single_invocation else 0
        self.precondition = precondition_maker(self.spec, only) if self.divide and self.rules[only] is not None and problem.synth_funs[0].grammar is None else None
        self.points = [self.spec.random_point(self.rng, 40) for _ in range(1 + self.random_points)]
        self.blocked: set[str] = set()
        self.definitions = definitions(self.spec)
        self.forced: dict[tuple, int | None] = {}  # point -> the output the spec forces there
        self.stats.points = len(self.points)

    def run(self) -> dict[str, Term] | None:
        while time.perf_counter() < self.deadline:
            proposals = self.propose()
            if proposals is None:
                return None
            for bodies in proposals:
                if self._verify(bodies):
                    return bodies
        raise OutOfTime()

    def _verify(self, bodies: dict[str, Term]) -> bool:
        """Ask the checker; a counterexample becomes a point (and a few jittered copies of it)."""
        self.stats.candidates += 1
        verdict = self.check(bodies)
        if verdict.verified:
            return True
        point = counterexample_point(verdict, self.spec)
        if point is None:
            if verdict.status is Status.UNKNOWN and time.perf_counter() >= self.deadline:
                raise OutOfTime()
            # Rejected without a counterexample, or Z3 could not decide it in time: another
            # candidate may fare better.
            self.stats.rejected_by_checker += 1
            self.blocked.add(_key(bodies))
            return False
        if point in self.points:
            # The vectors judged a candidate right where Z3 finds it wrong (int64 overflow):
            # never propose it again.
            self.blocked.add(_key(bodies))
        else:
            self.points.append(point)
            if self.random_points:
                self.points.extend(self._jitter(point) for _ in range(JITTERED))
            self.stats.counterexamples += 1
        self.stats.points = len(self.points)
        return False

    def _jitter(self, point):
        out = {}
        for name, sort in self.spec.variables:
            v = point[name]
            if isinstance(v, bool):
                out[name] = v
            else:
                v += self.rng.randint(-JITTER, JITTER)
                width = bv_width(sort)
                out[name] = v % (1 << width) if width is not None else v
        return out

    def _enumerator(self, name: str, ps: PointSet, exclude=frozenset()) -> Enumerator:
        f = self.spec.funs[name]
        return Enumerator(
            self.rules[name], f.params, ps.inputs[name], ps.width(name), self.guide,
            Context(self.problem_id, name, self.rules[name].start, f.sort), self.constants,
            exclude=exclude, deadline=self.deadline, max_cells=self.max_cells,
            call=lambda op, args, w: run(self.spec.helper_body(op), args, w, self.spec),
            seeds=self.seeds[name],
        )

    def _seeds(self, name: str) -> list[tuple[str, Term]]:
        """The guide's seeds for function `name`, each with the nonterminals that may hold it: those
        whose grammar derives it, or, in the default grammar (no grammar to obey), every
        nonterminal of its sort."""
        rules = self.rules[name]
        out = []
        for t in seeds_of(self.guide, self.problem_id).get(name, []):
            if _no_grammar(self, name):
                nts = [nt for nt, sort in rules.sorts.items() if sort == t.sort]
            else:
                nts = sorted(derivations(rules, t)[0][id(t)])
            out += [(nt, t) for nt in nts]
        return out

    def propose(self) -> list[dict[str, Term]] | None:
        """Candidates that fit every point, to be tried in order; None when the search is exhausted."""
        ps = PointSet(self.spec, self.points, random.Random(self.seed + len(self.points)))
        if self.divide:
            return self._divide_and_conquer(ps)
        return self._enumerate(ps)

    def _count(self, enums) -> None:
        for e in enums:
            self.stats.terms += e.tried
            self.stats.kept += e.count

    # -- divide and conquer --------------------------------------------------------------------

    def _divide_and_conquer(self, ps: PointSet) -> list[dict[str, Term]] | None:
        name = next(iter(self.spec.funs))
        rules, sh = self.rules[name], self.shapes[name]
        enum = self._enumerator(name, ps, frozenset({(rules.start, sh.ite)}))
        terms: list[Term] = []
        levels: list[int] = []
        covers: list[np.ndarray] = []
        union = np.zeros(ps.n, dtype=bool)
        covered_at = None  # the level at which the terms first covered every point
        tried = (-1, -1)
        try:
            while time.perf_counter() < self.deadline:
                new = enum.grow()
                # EUSolver stops adding terms once they cover the points; here a few more
                # levels of predicates are tried first, then terms grow again.
                if covered_at is None or enum.level > covered_at + TERM_PAUSE:
                    for t, row in new.get(rules.start, []):
                        if time.perf_counter() > self.deadline:
                            raise OutOfTime()
                        cover = ps.holds({name: Candidate(t, row)})
                        if cover.all():
                            if _key({name: t}) not in self.blocked:
                                return [{name: t}]
                            continue
                        if not cover.any() or (covers and np.any(np.all(np.stack(covers) >= cover, axis=1))):
                            continue
                        terms.append(t)
                        levels.append(enum.level)
                        covers.append(cover)
                        union |= cover
                if not union.all() and enum.level == AFFINE_AT and self.precondition is not None:
                    for t in self._affine(name, ps):
                        row = run(t, ps.inputs[name], ps.width(name), self.spec)
                        cover = ps.holds({name: Candidate(t, row)})
                        if cover.all():
                            return [{name: t}]
                        if cover.any():
                            terms.append(t)
                            levels.append(enum.level)
                            covers.append(cover)
                            union |= cover
                if not union.all():
                    continue
                covered_at = covered_at or enum.level
                preds = enum.terms(sh.condition)
                if (len(terms), len(preds)) == tried:
                    continue
                tried = (len(terms), len(preds))
                proposals = self._unify(name, terms, levels, covers, preds)
                if proposals:
                    return proposals
                if enum.level > 200:
                    return None
        finally:
            self._count([enum])
        raise OutOfTime()

    def _unify(self, name, terms, levels, covers, preds) -> list[dict[str, Term]]:
        """The decision tree over the predicates and the chain of preconditions, as available."""
        tree = None
        if preds:
            order = np.argsort(levels, kind="stable")
            tree = learn(
                np.stack(covers)[order], [terms[i] for i in order],
                np.stack([r for _, r, _ in preds]), [t for t, _, _ in preds], self.deadline,
            )
        proposals = []
        if tree is not None:
            proposals.append({name: to_term(tree)})
        if self.precondition is not None:
            chain = {name: self._chain(terms, levels, covers)}
            if tree is not None and leaves(tree) <= SMALL_TREE:
                proposals.append(chain)
            else:
                proposals.insert(0, chain)
        return [b for b in proposals if _key(b) not in self.blocked]

    def _affine(self, name: str, ps: PointSet) -> list[Term]:
        """Affine terms fitted to the outputs the spec forces at the points (see affine.py)."""
        points = ps.points[-AFFINE_POINTS:]
        todo = [p for p in points if _point_key(p) not in self.forced]
        for p, value in zip(todo, forced_outputs(self.compiled, name, todo, self.deadline)):
            self.forced[_point_key(p)] = value
        outputs = [self.forced.get(_point_key(p)) for p in points]
        inputs = [list(row) for row in zip(*[v.tolist() for v in ps.inputs[name]])][-len(points):]
        return affine_terms(self.spec.funs[name].params, inputs, outputs, self.rng, self.deadline)

    def _chain(self, terms: list[Term], levels: list[int], covers: list[np.ndarray]) -> Term:
        """ite(pre(t1), t1, ite(pre(t2), t2, ... tk)) over a greedy cover of the points, the
        cheapest terms first (a costly term that covers many points is often a coincidence)."""
        left = np.ones(len(covers[0]), dtype=bool)
        chosen: list[Term] = []
        while left.any():
            gains = [int((c & left).sum()) for c in covers]
            best = max(range(len(terms)), key=lambda i: (gains[i] > 0, -levels[i], gains[i]))
            if gains[best] == 0:
                break
            chosen.append(terms[best])
            left &= ~covers[best]
        body = chosen[-1]
        for t in reversed(chosen[:-1]):
            body = Term(APP, "ite", (simplify(self.precondition(t)), t, body), t.sort, ())
            body.depth = 1 + max(a.depth for a in body.args)
        return body

    # -- plain enumeration ---------------------------------------------------------------------

    def _enumerate(self, ps: PointSet) -> list[dict[str, Term]] | None:
        names = list(self.spec.funs)
        enums = {n: self._enumerator(n, ps) for n in names}
        # Constraint i is checked once every function it calls has a body: after the last of them.
        ready: list[list[int]] = [[] for _ in names]
        for i, mentioned in enumerate(self.spec.mentions):
            last = max((names.index(m) for m in mentioned), default=0)
            ready[last].append(i)
        try:
            # Iterative deepening on the level each function's term may reach: a function that
            # the constraints pin down given the earlier ones is found at once, whatever their number.
            cap = 1
            while time.perf_counter() < self.deadline:
                for n in names:
                    while enums[n].level < cap:
                        enums[n].grow()
                found = self._assign(ps, names, enums, ready, 0, cap, {})
                if found is not None:
                    return [{n: c.term for n, c in found.items()}]
                cap += 1
                if cap > 200:
                    return None
        finally:
            self._count(enums.values())
        raise OutOfTime()

    def _choices(self, name, enums, bodies):
        """The terms to try for `name`: first any body a definition constraint gives it (no
        grammar to obey), then the enumerated terms, cheapest first."""
        if _no_grammar(self, name):
            for other, index in self.definitions.get(name, []):
                body = defined_body(self.spec, name, other, index, {n: c.term for n, c in bodies.items()})
                if body is not None:
                    yield simplify(body), None, 0
        yield from enums[name].terms(enums[name].rules.start)

    def _assign(self, ps, names, enums, ready, i, cap, bodies) -> dict[str, Candidate] | None:
        name = names[i]
        last = i == len(names) - 1
        for t, row, cost in self._choices(name, enums, bodies):
            if cost > cap:
                break
            if time.perf_counter() > self.deadline:
                raise OutOfTime()
            bodies[name] = Candidate(t, row)
            if ready[i] and not ps.holds(bodies, ready[i]).all():
                continue
            if last:
                if _key({n: c.term for n, c in bodies.items()}) not in self.blocked:
                    return dict(bodies)
                continue
            found = self._assign(ps, names, enums, ready, i + 1, cap, bodies)
            if found is not None:
                return found
        bodies.pop(name, None)
        return None


def _point_key(point: dict) -> tuple:
    return tuple(sorted(point.items()))


def _no_grammar(search: Search, name: str) -> bool:
    return search.spec.funs[name].grammar is None


def _key(bodies: dict[str, Term]) -> str:
    from provers.z3.terms import term_text

    return "\n".join(f"{n} {term_text(t, limit=None)}" for n, t in sorted(bodies.items()))
