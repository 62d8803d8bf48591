"""Invariant search for `synth-inv` problems: candidate atoms, samples, Houdini.

The three kinds of counterexample of an invariant candidate I (SyGuS-IF's inv-constraint):
a *pre* counterexample is a state where pre holds and I does not, a *transition*
counterexample a step from a state in I to one outside it, a *post* counterexample a state in
I where post fails.

1. Samples: reachable states, from models of pre and steps of trans (Z3), evaluated with numpy.
2. Atoms: comparisons of the state variables with the problem's constants, octagonal atoms
   (v - w and v + w against constants), linear equalities that hold on every sample (the affine
   hull of the samples, LoopInvGen-style), the atoms of pre and post; then clauses, disjunctions
   of two atoms from a seed set (Clause2Inv-style), for invariants that need a case split.
3. Houdini: start from every atom and clause true on all samples; drop those a pre or
   transition counterexample falsifies until the conjunction is inductive; it is the strongest
   inductive invariant over those atoms, so if it does not imply post (a post counterexample),
   no conjunction of them does, and the next, larger set of candidates is tried.

A guide prices the families of atoms (cost.py: `atom_family`, in the context of sort `inv`);
one fitted on verified invariants prices the families they use below the others. Where it
prices them apart, or offers seeds (a model's sampled conjuncts), Houdini first runs on a
ladder of growing candidate sets, the likeliest families per candidate first (the conditions
of pre and post and the clauses of two of them are few; octagonal atoms and clauses of any two
seed atoms are most of the candidates): smaller conjunctions, fewer counterexamples. The stages
of a uniform guide follow, minus those inside a stage that already failed, so a wrong guess
costs time, never an answer.

The variables considered are those the transition relation assigns (their primed copy occurs
in it); problems whose loop temporaries are parameters of the invariant (Code2Inv) thereby keep
to the program's variables; where that fails, every parameter is tried.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from fractions import Fraction
from math import lcm

import numpy as np
import z3

from provers.z3.build import to_z3, z3_sort
from provers.z3.constants import problem_literals
from provers.z3.synth.cegis import Stats
from provers.z3.synth.cost import (
    FAMILIES,
    Guide,
    Uniform,
    atom_family,
    atom_key,
    family_context,
    seeds_of,
)
from provers.z3.synth.enumerate import OutOfTime
from provers.z3.synth.oracle import HelperCalls, Unknown
from provers.z3.synth.values import INT_DTYPE, Unsupported, evaluate
from provers.z3.terms import (
    APP,
    BOOL,
    INT,
    LIT,
    VAR,
    Term,
    lit,
    postorder,
    term_text,
    var,
)

MAX_CONSTANTS = 16
MAX_SEED = 60
SAMPLE_STARTS = 8
SAMPLE_STEPS = 12
# Seconds spent at most on shortening an answer, and at most this share of the time left;
# with less than MINIMISE_FLOOR_S left, the answer is checked as found.
MINIMISE_S = 2.0
MINIMISE_SHARE = 0.3
MINIMISE_FLOOR_S = 0.25
# A guide's ladder of candidate sets (InvariantSearch.ladder): the first holds at least this many
# candidates, each next one this many times the last.
FIRST_STAGE = 32
GROWTH = 2


def add_app(op: str, *args: Term, sort: str = BOOL) -> Term:
    t = Term(APP, op, tuple(args), sort, ())
    t.depth = 1 + max(a.depth for a in args)
    return t


class InvariantSearch:
    """The state of one invariant search: the Z3 encoding, samples and candidate atoms."""

    def __init__(
        self, compiled, deadline: float, check, *, stats: Stats | None = None, seed: int = 0,
        guide: Guide | None = None, problem_id: str = "",
    ):
        problem = compiled.problem
        if len(problem.invariants) != 1 or len(problem.synth_funs) != 1:
            raise Unsupported("more than one invariant or function")
        self.compiled = compiled
        self.problem = problem
        self.inv = problem.invariants[0]
        self.fun = problem.synth_funs[0]
        if any(s not in (INT, BOOL) for s in self.fun.param_sorts):
            raise Unsupported("invariant over sorts other than Int and Bool")
        self.deadline = deadline
        self.check = check
        self.guide = guide or Uniform()
        self.problem_id = problem_id
        self.stats = stats or Stats()
        self.stats.strategy = "invariant"
        self.rng = random.Random(seed)
        self.ctx = z3.Context()
        self.params = self.fun.params
        n = len(self.params)
        sorts = [z3_sort(s, self.ctx) for s in self.fun.param_sorts]
        self.X = [z3.Const(f"s{i}", s) for i, s in enumerate(sorts)]
        self.Y = [z3.Const(f"t{i}", s) for i, s in enumerate(sorts)]
        self._call = HelperCalls(self.problem, self.compiled, self.ctx)
        self.pre_term = compiled.helper_term(self.inv.pre)
        self.trans_term = compiled.helper_term(self.inv.trans)
        self.post_term = compiled.helper_term(self.inv.post)
        self.pre = self._z3(self.pre_term, self.X)
        self.trans = self._z3(self.trans_term, self.X + self.Y)
        self.post = self._z3(self.post_term, self.X)
        assigned = {node.value - n for node in postorder(self.trans_term)
                    if node.kind == VAR and node.value is not None and node.value >= n}
        self.assigned = sorted(assigned) or list(range(n))
        self.samples: list[tuple] = []
        self._conditions: list[Term] | None = None
        self._z3_atoms: dict[int, tuple[Term, z3.ExprRef, z3.ExprRef]] = {}

    # -- Z3 ----------------------------------------------------------------------------------------

    def _z3(self, term: Term, args: list[z3.ExprRef]) -> z3.ExprRef:
        return to_z3(term, self.ctx, args, self._call)


    def _solve(self, *formulas, until: float = float("inf")) -> z3.ModelRef | None:
        remaining = min(self.deadline, until) - time.perf_counter()
        if remaining <= 0:
            raise OutOfTime()
        solver = z3.Solver(ctx=self.ctx)
        solver.set("timeout", max(1, int(min(remaining, 10.0) * 1000)))
        solver.add(*formulas)
        result = solver.check()
        if result == z3.sat:
            return solver.model()
        if result == z3.unsat:
            return None
        raise Unknown(solver.reason_unknown())

    def _state(self, model: z3.ModelRef, consts: list[z3.ExprRef]) -> tuple:
        out = []
        for c, (_, sort) in zip(consts, self.params):
            v = model.eval(c, model_completion=True)
            out.append(z3.is_true(v) if sort == BOOL else v.as_long())
        return tuple(out)

    # -- samples -----------------------------------------------------------------------------------

    def collect_samples(self) -> None:
        """Reachable states: a few models of pre, then runs of the transition relation from them."""
        seen: set[tuple] = set()
        starts = []
        block = []
        for _ in range(SAMPLE_STARTS):
            hint = [x == self.rng.randint(-4, 12) for x in self._ints(self.X, self.assigned)]
            model = self._solve(self.pre, *block, *self.rng.sample(hint, min(len(hint), 1))) or self._solve(self.pre, *block)
            if model is None:
                break
            state = self._state(model, self.X)
            block.append(z3.Or(*[x != v for x, v in zip(self.X, state)], self.ctx) if state else z3.BoolVal(False, self.ctx))
            starts.append(state)
        for state in starts:
            current = state
            for _ in range(SAMPLE_STEPS):
                if current not in seen:
                    seen.add(current)
                    self.samples.append(current)
                # Only the program's variables are fixed: the transition picks its temporaries.
                fixed = [self.X[i] == current[i] for i in self.assigned]
                # A step that changes the program's variables (a stutter step only moves temporaries).
                moved = [self.Y[i] != current[i] for i in self.assigned]
                model = self._solve(*fixed, self.trans, z3.Or(*moved, self.ctx))
                if model is None:
                    break
                current = self._state(model, self.Y)

    def _ints(self, consts, indices):
        return [consts[i] for i in indices if self.params[i][1] == INT]

    def _matrix(self, states: list[tuple]) -> list[np.ndarray]:
        cols = []
        for i, (_, sort) in enumerate(self.params):
            dtype = bool if sort == BOOL else INT_DTYPE
            cols.append(np.array([s[i] for s in states], dtype=dtype))
        return cols

    def holds_on(self, atoms: list[Term], states: list[tuple]) -> np.ndarray:
        """atoms x states: truth values (numpy)."""
        if not states:
            return np.ones((len(atoms), 0), dtype=bool)
        cols = self._matrix(states)
        n = len(states)
        memo: dict[int, np.ndarray] = {}

        def no_call(node, args):
            raise Unsupported("call in an atom")

        out = np.empty((len(atoms), n), dtype=bool)
        for k, a in enumerate(atoms):
            out[k] = evaluate(a, n, lambda node: cols[node.value], no_call, memo)
        return out

    # -- atoms -------------------------------------------------------------------------------------

    def variables(self, indices: list[int]) -> list[Term]:
        return [var(self.params[i][0], self.params[i][1], i) for i in indices]

    def atoms(self, indices: list[int]) -> tuple[list[Term], list[Term]]:
        """(atoms, seed atoms for clauses) over the parameters at `indices`."""
        vs = self.variables(indices)
        ints = [v for v in vs if v.sort == INT]
        bools = [v for v in vs if v.sort == BOOL]
        consts = sorted(set(problem_literals(self.problem)[:MAX_CONSTANTS]) | {0, 1, -1}, key=lambda c: (abs(c), c))
        out: list[Term] = []
        seed: list[Term] = []
        for b in bools:
            out += [b, add_app("not", b)]
        for v in ints:
            for c in consts:
                out += [add_app(">=", v, lit(c, INT)), add_app("<=", v, lit(c, INT))]
                seed += [add_app(">=", v, lit(c, INT)), add_app("<=", v, lit(c, INT))]
        for v, w in itertools.combinations(ints, 2):
            out += [add_app("<=", v, w), add_app(">=", v, w), add_app("=", v, w)]
            seed += [add_app("<=", v, w), add_app(">=", v, w), add_app("<", v, w), add_app(">", v, w)]
            diff, total = add_app("-", v, w, sort=INT), add_app("+", v, w, sort=INT)
            for c in consts:
                out += [add_app("<=", diff, lit(c, INT)), add_app(">=", diff, lit(c, INT)),
                        add_app("<=", total, lit(c, INT)), add_app(">=", total, lit(c, INT))]
        out += self.equalities(ints)
        found = self.condition_atoms()
        out += found
        seed = found + seed
        return _dedup(out), _dedup(seed)[:MAX_SEED]

    def condition_atoms(self) -> list[Term]:
        """The comparisons inside pre and post over the invariant's parameters, and those of pre
        and post projected on the program's variables (Z3's quantifier elimination removes the
        temporaries: pre with them existential, post with them universal); each with its negation."""
        if self._conditions is None:
            self._conditions = _dedup(self._find_conditions())
        return self._conditions

    def condition_keys(self) -> frozenset[tuple]:
        """What `atom_family` needs to tell the condition atoms apart."""
        return frozenset(atom_key(a) for a in self.condition_atoms())

    def _find_conditions(self) -> list[Term]:
        out = []
        for term in (self.post_term, self.pre_term):
            for node in postorder(term):
                if node.kind == APP and node.sort == BOOL and node.op in ("<", "<=", ">", ">=", "=") and _pure(node):
                    if node.args[0].sort == INT:
                        out.append(node)
                        out.append(add_app("not", node))
        others = [self.X[i] for i in range(len(self.params)) if i not in self.assigned]
        if others:
            for formula in (z3.ForAll(others, self.post), z3.Exists(others, self.pre)):
                for atom in self._projected_atoms(formula):
                    out += [atom, add_app("not", atom)]
        return out

    def _projected_atoms(self, formula: z3.ExprRef) -> list[Term]:
        try:
            goal = z3.Goal(ctx=self.ctx)
            goal.add(formula)
            tactic = z3.TryFor(z3.Then("qe", "simplify", ctx=self.ctx), 2000)
            result = tactic(goal)
        except z3.Z3Exception:
            return []
        index = {self.X[i].get_id(): i for i in range(len(self.params))}
        out = []
        seen: set[int] = set()
        stack = [e for sub in result for e in sub]
        while stack:
            e = stack.pop()
            if e.get_id() in seen:
                continue
            seen.add(e.get_id())
            if z3.is_le(e) or z3.is_ge(e) or z3.is_lt(e) or z3.is_gt(e) or (z3.is_eq(e) and z3.is_int(e.arg(0))):
                term = _from_z3(e, index, self.params)
                if term is not None:
                    out.append(term)
            elif z3.is_and(e) or z3.is_or(e) or z3.is_not(e) or z3.is_implies(e):
                stack.extend(e.children())
        return out

    def equalities(self, ints: list[Term]) -> list[Term]:
        """Linear equalities over `ints` that hold on every sample (a basis of the affine hull)."""
        if not self.samples or not ints or len(ints) > 12:
            return []
        rows = [[Fraction(s[v.value]) for v in ints] + [Fraction(1)] for s in self.samples]
        out = []
        for vec in _nullspace(rows, len(ints) + 1):
            scale = lcm(*[x.denominator for x in vec])
            coeffs = [int(x * scale) for x in vec]
            terms = []
            for c, v in zip(coeffs[:-1], ints):
                if c == 1:
                    terms.append(v)
                elif c != 0:
                    terms.append(add_app("*", lit(c, INT), v, sort=INT))
            if not terms:
                continue
            lhs = terms[0] if len(terms) == 1 else add_app("+", *terms, sort=INT)
            out.append(add_app("=", lhs, lit(-coeffs[-1], INT)))
        return out

    # -- Houdini -----------------------------------------------------------------------------------

    def _pair(self, atom: Term) -> tuple[z3.ExprRef, z3.ExprRef]:
        key = id(atom)
        if key not in self._z3_atoms:
            self._z3_atoms[key] = (atom, self._z3(atom, self.X), self._z3(atom, self.Y))
        _, x, y = self._z3_atoms[key]
        return x, y

    def houdini(self, atoms: list[Term]) -> list[Term]:
        """The largest subset of `atoms` whose conjunction holds initially and is inductive."""
        keep = list(atoms)
        while keep:
            self.stats.candidates += 1
            xs = [self._pair(a)[0] for a in keep]
            model = self._solve(self.pre, z3.Not(z3.And(*xs)))
            if model is not None:
                state = self._state(model, self.X)
                self._add_sample(state)
                keep = [a for a, ok in zip(keep, self.holds_on(keep, [state])[:, 0]) if ok]
                self.stats.counterexamples += 1
                continue
            ys = [self._pair(a)[1] for a in keep]
            model = self._solve(*xs, self.trans, z3.Not(z3.And(*ys)))
            if model is None:
                return keep
            after = self._state(model, self.Y)
            keep = [a for a, ok in zip(keep, self.holds_on(keep, [after])[:, 0]) if ok]
            self.stats.counterexamples += 1
        return keep

    def _add_sample(self, state: tuple) -> None:
        if state not in self.samples:
            self.samples.append(state)
            self.stats.points = len(self.samples)

    def safe(self, conj: list[Term]) -> bool:
        xs = [self._pair(a)[0] for a in conj]
        return self._solve(*xs, z3.Not(self.post)) is None

    def _body(self, conj: list[Term]) -> Term:
        if not conj:
            return lit(True, BOOL)
        return conj[0] if len(conj) == 1 else add_app("and", *conj)

    def minimise(self, conj: list[Term], stop: float) -> list[Term]:
        """A shorter inductive and safe subset of the inductive and safe `conj`, within `stop`: the
        atoms post needs (`support`), then atoms dropped one by one (last first) while the rest
        stays inductive and safe. A query that does not finish by then ends the shortening, never
        the search: what was found so far is returned."""
        try:
            keep = self.support(conj, stop)
        except (Unknown, OutOfTime):
            return conj
        for a in reversed(list(keep)):
            if time.perf_counter() > stop:
                break
            trial = [b for b in keep if b is not a]
            xs = [self._pair(b)[0] for b in trial]
            ys = [self._pair(b)[1] for b in trial]
            try:
                if self._solve(self.pre, z3.Not(z3.And(*xs, self.ctx)), until=stop) is not None:
                    continue
                if self._solve(*xs, self.trans, z3.Not(z3.And(*ys, self.ctx)), until=stop) is not None:
                    continue
                if self._solve(*xs, z3.Not(self.post), until=stop) is not None:
                    continue
            except (Unknown, OutOfTime):
                break
            keep = trial
        return keep

    def support(self, conj: list[Term], stop: float) -> list[Term]:
        """The atoms of `conj` that post needs (an unsat core of conj and not post), closed under
        what their own step needs (cores of conj, trans and not S'): the result S implies post and
        S and trans imply S', and pre implies S as it implies conj. A handful of queries, where
        dropping atoms one by one takes three an atom (hundreds of atoms: seconds)."""
        solver = z3.Solver(ctx=self.ctx)
        marks = [z3.Bool(f"keep{i}", self.ctx) for i in range(len(conj))]
        for m, a in zip(marks, conj):
            solver.add(z3.Implies(m, self._pair(a)[0]))
        index = {m.get_id(): i for i, m in enumerate(marks)}

        def core(*formulas) -> set[int]:
            remaining = stop - time.perf_counter()
            if remaining <= 0:
                raise OutOfTime()
            solver.set("timeout", max(1, int(remaining * 1000)))
            solver.push()
            solver.add(*formulas)
            result = solver.check(*marks)
            if result != z3.unsat:
                raise Unknown(solver.reason_unknown() if result == z3.unknown else "not inductive")
            found = {index[m.get_id()] for m in solver.unsat_core()}
            solver.pop()
            return found

        needed = core(z3.Not(self.post))
        while True:
            ys = [self._pair(conj[i])[1] for i in sorted(needed)]
            more = core(self.trans, z3.Not(z3.And(*ys, self.ctx)))
            if more <= needed:
                return [conj[i] for i in sorted(needed)]
            needed |= more

    # -- the search --------------------------------------------------------------------------------

    def run(self) -> dict[str, Term] | None:
        self.collect_samples()
        self.stats.points = len(self.samples)
        for candidates in self.stages():
            self.stats.stages += 1
            filtered = self._on_samples(candidates)
            self.stats.terms += len(candidates)
            self.stats.kept += len(filtered)
            conj = self.houdini(filtered)
            if self.safe(conj):
                return self._answer(conj)
        return None

    def stages(self):
        """The candidate sets Houdini runs on, in order: the atoms over the variables trans
        assigns, then with clauses, then both over every parameter; first, where the guide has a
        preference, its ladder (see `ladder`); the guide's seeds join every set. A set inside one
        that already failed is skipped: Houdini's answer on a set is the strongest inductive
        conjunction of it, so a subset's is weaker and no safer."""
        seeds = self._seeds()
        failed: list[set[int]] = []
        tried: set[tuple[int, ...]] = set()
        for indices in (self.assigned, list(range(len(self.params)))):
            if tuple(indices) in tried:
                continue
            atoms, seed = self.atoms(indices)
            clauses = self.clauses(seed)
            first = self.ladder(atoms, clauses, bool(seeds)) if not tried else []
            tried.add(tuple(indices))
            for candidates in (*first, atoms, atoms + clauses):
                candidates = _dedup(seeds + candidates) if seeds else candidates
                ids = {id(a) for a in candidates}
                if not any(ids <= f for f in failed):
                    yield candidates
                    failed.append(ids)

    def ladder(self, atoms: list[Term], clauses: list[Term], seeded: bool = False) -> list[list[Term]]:
        """Growing candidate sets by the guide's family prices, none where it prices every family
        alike and offers no seeds (a uniform guide: the stages stay as they were).

        The families (`atom_family`; the clauses of two conditions `clause:cond`, the other
        clauses of two seed atoms `clause`) are taken in order of price + log2(size), most likely
        answer per candidate first; a stage ends where the set has grown to FIRST_STAGE, then to
        GROWTH times the last stage, so a failed stage costs about what the next one does. The
        last stage without a guide (every atom and clause) ends the ladder."""
        context = family_context(self.problem_id, self.fun.name)
        price = {f: self.guide.cost(f, context) for f in FAMILIES}
        if len(set(price.values())) == 1 and not seeded:
            return []
        keys = self.condition_keys()
        groups: dict[str, list[Term]] = {f: [] for f in FAMILIES}
        for a in atoms + clauses:
            groups[atom_family(a, keys)].append(a)
        order = sorted((f for f in FAMILIES if groups[f]), key=lambda f: (price[f] + math.log2(len(groups[f])), f))
        stages: list[list[Term]] = []
        current: list[Term] = []
        for f in order:
            current += groups[f]
            if len(current) == len(atoms) + len(clauses):
                break  # every candidate: the last stage without a guide
            if len(current) >= max(FIRST_STAGE, GROWTH * (len(stages[-1]) if stages else 0)):
                stages.append(list(current))
        return stages

    def _seeds(self) -> list[Term]:
        """The guide's seed conjuncts that are Boolean formulas over the parameters alone and that
        the sample vectors can evaluate."""
        out = []
        for t in seeds_of(self.guide, self.problem_id).get(self.fun.name, []):
            if t.sort != BOOL or not _pure(t):
                continue
            try:
                self.holds_on([t], self.samples[:1])
            except (Unsupported, ArithmeticError):
                continue
            out.append(t)
        return out

    def clauses(self, seed: list[Term]) -> list[Term]:
        return [add_app("or", a, b) for a, b in itertools.combinations(seed, 2)]

    def _on_samples(self, atoms: list[Term]) -> list[Term]:
        if not self.samples:
            return list(atoms)
        ok = self.holds_on(atoms, self.samples).all(axis=1)
        return [a for a, k in zip(atoms, ok) if k]

    def _answer(self, conj: list[Term]) -> dict[str, Term] | None:
        """The checker's verdict on the inductive, safe conjunction, shortened first if time allows
        (within MINIMISE_SHARE of what is left): shortening never costs the answer its budget."""
        attempts = [conj]
        remaining = self.deadline - time.perf_counter()
        if remaining >= MINIMISE_FLOOR_S:
            short = self.minimise(conj, time.perf_counter() + min(MINIMISE_S, MINIMISE_SHARE * remaining))
            if len(short) < len(conj):
                attempts.insert(0, short)
        for attempt in attempts:
            bodies = {self.fun.name: self._body(attempt)}
            if self.check(bodies).verified:
                return bodies
        return None


_Z3_CMP = {z3.Z3_OP_LE: "<=", z3.Z3_OP_GE: ">=", z3.Z3_OP_LT: "<", z3.Z3_OP_GT: ">", z3.Z3_OP_EQ: "="}


def _from_z3(e: z3.ExprRef, index: dict[int, int], params) -> Term | None:
    """A linear integer Z3 term over the state constants as a Term over the parameters (None if
    it is anything else)."""
    kind = e.decl().kind() if z3.is_app(e) else None
    if kind in _Z3_CMP:
        args = [_from_z3(a, index, params) for a in e.children()]
        return None if any(a is None for a in args) or len(args) != 2 else add_app(_Z3_CMP[kind], *args)
    if z3.is_int_value(e):
        return lit(e.as_long(), INT)
    if z3.is_const(e) and e.get_id() in index:
        i = index[e.get_id()]
        return var(params[i][0], params[i][1], i) if params[i][1] == INT else None
    ops = {z3.Z3_OP_ADD: "+", z3.Z3_OP_SUB: "-", z3.Z3_OP_MUL: "*", z3.Z3_OP_UMINUS: "-"}
    if kind in ops:
        args = [_from_z3(a, index, params) for a in e.children()]
        if any(a is None for a in args):
            return None
        if kind == z3.Z3_OP_MUL and sum(1 for a in args if a.kind != LIT) > 1:
            return None
        return add_app(ops[kind], *args, sort=INT)
    return None


def _pure(node: Term) -> bool:
    """No helper or function calls and no declared variables: only parameters and literals."""
    return all(n.kind in (APP, LIT) or (n.kind == VAR and n.value is not None) for n in postorder(node))


def _dedup(atoms: list[Term]) -> list[Term]:
    seen: set[str] = set()
    out = []
    for a in atoms:
        key = term_text(a, limit=None)
        if key not in seen:
            seen.add(key)
            out.append(a)
    return out


def _nullspace(rows: list[list[Fraction]], width: int) -> list[list[Fraction]]:
    """A basis of {v : row . v = 0 for every row}, by Gauss-Jordan elimination over the rationals."""
    m = [list(r) for r in rows]
    pivots: list[int] = []
    r = 0
    for c in range(width):
        pivot = next((i for i in range(r, len(m)) if m[i][c] != 0), None)
        if pivot is None:
            continue
        m[r], m[pivot] = m[pivot], m[r]
        inv = 1 / m[r][c]
        m[r] = [x * inv for x in m[r]]
        for i in range(len(m)):
            if i != r and m[i][c] != 0:
                f = m[i][c]
                m[i] = [a - f * b for a, b in zip(m[i], m[r])]
        pivots.append(c)
        r += 1
        if r == len(m):
            break
    free = [c for c in range(width) if c not in pivots]
    basis = []
    for f in free:
        v = [Fraction(0)] * width
        v[f] = Fraction(1)
        for i, c in enumerate(pivots):
            v[c] = -m[i][f]
        basis.append(v)
    return basis


def condition_keys(compiled, seconds: float = 10.0) -> frozenset[tuple]:
    """The `atom_key`s of a problem's condition atoms, as the invariant search finds them (empty
    for a problem it does not handle): what `atom_family` needs to classify a verified answer's
    conjuncts as the search classifies its candidates."""
    try:
        return InvariantSearch(compiled, time.perf_counter() + seconds, check=None).condition_keys()
    except (Unsupported, Unknown, OutOfTime):
        return frozenset()
