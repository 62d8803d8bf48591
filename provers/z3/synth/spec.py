"""The specification as the search sees it: constraints with helpers inlined, call sites, points.

A *point* is an assignment of the problem's declared variables (a counterexample). A *call
site* is a distinct argument list a synthesised function is applied to in the constraints; a
problem is *single-invocation* when every function has one site whose arguments mention no
synthesised function, so the constraints at a point only ever ask each function for one
output: the point-wise specs that divide and conquer (EUSolver) needs.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from provers.z3.synth.values import Unsupported, dtype_of, evaluate
from provers.z3.terms import (
    APP,
    BOOL,
    CALL,
    VAR,
    Term,
    bv_width,
    instantiate,
    postorder,
    substitute,
    term_text,
)

Point = dict[str, int | bool]
# Probe inputs added to the points of a function that is not single-invocation, so that two
# terms that agree on the few call sites seen so far are not merged too eagerly.
PROBES = 8


@dataclass
class Site:
    """One argument list a synthesised function is called with; `plain` when the arguments
    mention no synthesised function (their values are known at a point without a candidate)."""

    fun: str
    args: tuple[Term, ...]
    plain: bool


class Spec:
    """Constraints and assumptions of a function-synthesis problem, helpers inlined."""

    def __init__(self, compiled):
        problem = compiled.problem
        self.problem = problem
        self.funs = {f.name: f for f in problem.synth_funs}
        for f in problem.synth_funs:
            for sort in (*f.param_sorts, f.sort):
                dtype_of(sort)  # raises Unsupported for what value vectors cannot hold
        for _, sort in problem.variables:
            dtype_of(sort)
        self._helpers: dict[str, Term] = {}
        self._compiled = compiled
        constraints, assumptions = compiled.problem_terms()
        self.constraints = [self._inline(t) for t in constraints]
        self.assumptions = [self._inline(t) for t in assumptions]
        self.variables = list(problem.variables)
        self.sites: dict[str, list[Site]] = {name: [] for name in self.funs}
        self.site_of: dict[int, int] = {}  # id(call node) -> index in self.sites[fun]
        self.mentions: list[set[str]] = []  # per constraint: the functions it calls
        for c in self.constraints:
            self.mentions.append(self._collect_sites(c))
        self.single_invocation = all(
            len(sites) == 1 and sites[0].plain for sites in self.sites.values()
        )

    # -- setup ------------------------------------------------------------------------------

    def helper_body(self, name: str) -> Term:
        """The body of helper `name` with every helper it calls inlined (parameters as VAR i)."""
        if name not in self._helpers:
            self._helpers[name] = self._inline(self._compiled.helper_term(name))
        return self._helpers[name]

    def _inline(self, term: Term) -> Term:
        funs = self.funs

        def mapping(node: Term, args: tuple[Term, ...]) -> Term | None:
            if node.kind == CALL and node.op not in funs:
                return instantiate(self.helper_body(node.op), args)
            return None

        return substitute(term, mapping)

    def _collect_sites(self, root: Term) -> set[str]:
        mentioned: set[str] = set()
        keys: dict[tuple[str, str], int] = {}
        for fun, sites in self.sites.items():
            for i, s in enumerate(sites):
                keys[(fun, " ".join(term_text(a, limit=None) for a in s.args))] = i
        for node in postorder(root):
            if node.kind != CALL or node.op not in self.funs:
                continue
            mentioned.add(node.op)
            key = (node.op, " ".join(term_text(a, limit=None) for a in node.args))
            if key not in keys:
                plain = not any(n.kind == CALL and n.op in self.funs for a in node.args for n in postorder(a))
                keys[key] = len(self.sites[node.op])
                self.sites[node.op].append(Site(node.op, node.args, plain))
            self.site_of[id(node)] = keys[key]
        return mentioned

    def random_point(self, rng: random.Random, spread: int = 8) -> Point:
        return {name: random_value(rng, sort, spread) for name, sort in self.variables}


def random_value(rng: random.Random, sort: str, spread: int):
    if sort == BOOL:
        return rng.random() < 0.5
    width = bv_width(sort)
    if width is not None:
        # Small values, values near the top, and anything: bit tricks differ at the edges.
        r = rng.random()
        top = (1 << width) - 1
        if r < 0.4:
            return rng.randint(0, min(top, spread))
        if r < 0.6:
            return top - rng.randint(0, min(top, spread))
        return rng.randint(0, top)
    return rng.randint(-spread, spread)


class PointSet:
    """The current points with the static part of the spec evaluated on them.

    `inputs[f]` holds the argument vectors function f sees: every plain site at every point
    (site by site), plus random probes for a function that is not single-invocation.
    """

    def __init__(self, spec: Spec, points: list[Point], rng: random.Random | None = None):
        self.spec = spec
        self.points = points
        self.n = len(points)
        self.env = {
            name: np.array([p[name] for p in points], dtype=dtype_of(sort))
            for name, sort in spec.variables
        }
        self.static: dict[int, np.ndarray] = {}
        self.inputs: dict[str, list[np.ndarray]] = {}
        self.site_slices: dict[str, dict[int, slice]] = {}
        rng = rng or random.Random(0)
        for name, f in spec.funs.items():
            columns: list[list[np.ndarray]] = [[] for _ in f.params]
            slices: dict[int, slice] = {}
            at = 0
            for i, site in enumerate(spec.sites[name]):
                if not site.plain:
                    continue
                for j, arg in enumerate(site.args):
                    columns[j].append(self._static(arg))
                slices[i] = slice(at, at + self.n)
                at += self.n
            if not spec.single_invocation:
                for j, (_, sort) in enumerate(f.params):
                    columns[j].append(np.array([random_value(rng, sort, 20) for _ in range(PROBES)], dtype=dtype_of(sort)))
            self.inputs[name] = [
                np.concatenate(c) if c else np.zeros(0, dtype=dtype_of(s))
                for c, (_, s) in zip(columns, f.params)
            ]
            self.site_slices[name] = slices

    def width(self, fun: str) -> int:
        inputs = self.inputs[fun]
        return len(inputs[0]) if inputs else max(self.n, 1)

    def _leaf(self, node: Term) -> np.ndarray:
        return self.env[node.op]

    def _static(self, term: Term) -> np.ndarray:
        def no_call(node, args):
            raise Unsupported("call in a static term")

        return evaluate(term, self.n, self._leaf, no_call, self.static)

    def holds(self, bodies: dict[str, Candidate], constraints: list[int] | None = None) -> np.ndarray:
        """Per point: do the constraints (all, or those listed) hold when each function is its candidate?"""
        memo = dict(self.static)
        spec = self.spec

        def call(node: Term, args: list[np.ndarray]) -> np.ndarray:
            cand = bodies[node.op]
            site = spec.site_of.get(id(node))
            sl = self.site_slices[node.op].get(site) if site is not None else None
            if sl is not None and cand.vec is not None:
                return cand.vec[sl]
            return run(cand.term, args, len(args[0]) if args else self.n, spec)

        out = np.ones(self.n, dtype=bool)
        for i in range(len(spec.constraints)) if constraints is None else constraints:
            out &= evaluate(spec.constraints[i], self.n, self._leaf, call, memo)
        return out | ~self.assumed

    @property
    def assumed(self) -> np.ndarray:
        """Per point: do the assumptions hold (points outside them satisfy the spec vacuously)?"""
        if not hasattr(self, "_assumed"):
            mask = np.ones(self.n, dtype=bool)
            for a in self.spec.assumptions:
                mask &= self._static(a)
            self._assumed = mask
        return self._assumed


@dataclass
class Candidate:
    """A body for one function: its term and (when known) its vector on the function's inputs."""

    term: Term
    vec: np.ndarray | None = None


def run(body: Term, args: list[np.ndarray], n: int, spec: Spec) -> np.ndarray:
    """A candidate body evaluated on argument vectors (helper calls in grammars are inlined)."""

    def leaf(node: Term) -> np.ndarray:
        if node.value is None:
            raise Unsupported("declared variable in a body")
        return args[node.value]

    def call(node: Term, vals: list[np.ndarray]) -> np.ndarray:
        if node.op in spec.funs:
            raise Unsupported("recursive call")
        return run(spec.helper_body(node.op), vals, n, spec)

    # Arguments may be blocks of vectors (the enumerator's broadcasting); the last axis is the points.
    return evaluate(body, n, leaf, call)


def precondition_maker(spec: Spec, name: str) -> Callable[[Term], Term] | None:
    """For a single-invocation spec whose one call site passes distinct declared variables (and
    mentions no other variable): t -> the spec with `name` := t, over the function's parameters.

    That formula is exactly where t is a correct output, so `ite(pre(t1), t1, ... tk)` is a
    solution as soon as the terms cover every input (cvc5's single-invocation solutions have
    this shape too); None where the spec cannot be written over the parameters.
    """
    if not spec.single_invocation or len(spec.funs) != 1:
        return None
    (site,) = spec.sites[name]
    index: dict[str, int] = {}
    for i, a in enumerate(site.args):
        if a.kind != VAR or a.value is not None or a.op in index:
            return None
        index[a.op] = i
    f = spec.funs[name]
    formulas = spec.constraints + spec.assumptions
    for c in formulas:
        if any(n.kind == VAR and n.value is None and n.op not in index for n in postorder(c)):
            return None
    params = {v: Term(VAR, f.params[i][0], (), f.params[i][1], i) for v, i in index.items()}

    def over_params(term: Term) -> Term:
        def mapping(node: Term, args: tuple[Term, ...]) -> Term | None:
            if node.kind == VAR and node.value is None:
                return params[node.op]
            return None

        return substitute(term, mapping)

    body = _conjoin(spec.constraints)
    if spec.assumptions:
        body = add_app("=>", (_conjoin(spec.assumptions), body))
    body = over_params(body)

    def pre(t: Term) -> Term:
        def mapping(node: Term, args: tuple[Term, ...]) -> Term | None:
            if node.kind == CALL and node.op == name:
                return instantiate(t, args)
            return None

        return substitute(body, mapping)

    return pre


def add_app(op: str, args: tuple[Term, ...]) -> Term:
    from provers.z3.terms import APP

    t = Term(APP, op, args, BOOL, ())
    t.depth = 1 + max(a.depth for a in args)
    return t


def _conjoin(terms: list[Term]) -> Term:
    return terms[0] if len(terms) == 1 else add_app("and", tuple(terms))


def definitions(spec: Spec) -> dict[str, list[tuple[Term, dict[str, int]]]]:
    """Constraints of the form `(= e (g v1 ... vn))` with distinct variables v: per function g,
    the other side e and where each variable sits among g's arguments. Given bodies for the
    functions e calls, g's body follows (see `defined_body`); chains of such constraints
    (f2 = 2 f1, f3 = f1 + f2 - y, ...) are then solved one function after another."""
    out: dict[str, list[tuple[Term, dict[str, int]]]] = {}
    for c in spec.constraints:
        if c.kind != APP or c.op != "=" or len(c.args) != 2:
            continue
        for call, other in ((c.args[1], c.args[0]), (c.args[0], c.args[1])):
            if call.kind != CALL or call.op not in spec.funs:
                continue
            index: dict[str, int] = {}
            for i, a in enumerate(call.args):
                if a.kind != VAR or a.value is not None or a.op in index:
                    break
                index[a.op] = i
            else:
                nodes = postorder(other)
                if any(n.kind == CALL and n.op == call.op for n in nodes):
                    continue
                if any(n.kind == VAR and n.value is None and n.op not in index for n in nodes):
                    continue
                out.setdefault(call.op, []).append((other, index))
    return out


def defined_body(spec: Spec, name: str, other: Term, index: dict[str, int], bodies: dict[str, Term]) -> Term | None:
    """The body `name` must have by a definition constraint, given the bodies of what it calls."""
    f = spec.funs[name]
    params = {v: Term(VAR, f.params[i][0], (), f.params[i][1], i) for v, i in index.items()}

    def mapping(node: Term, args: tuple[Term, ...]) -> Term | None:
        if node.kind == VAR and node.value is None:
            return params[node.op]
        if node.kind == CALL and node.op in spec.funs:
            if node.op not in bodies:
                raise KeyError(node.op)
            return instantiate(bodies[node.op], args)
        return None

    try:
        return substitute(other, mapping)
    except KeyError:
        return None
