"""The default grammar of integer problems: linear integer arithmetic, drawn with fingerprints.

Integer problems without a grammar are sampled by `LiaGenerator`: parameters, constants, linear
forms (sums of parameters scaled by constants, plus a constant), `ite` over comparisons
(<, <=, >, >=, =) of parameters with constants, with each other or with terms, and `div`/`mod`
by constants; invariants are conjunctions and disjunctions of such comparisons and of linear
equalities. A constant used once in a sample is likely to recur (a threshold in a test is often
the value of a branch).

Terms are built together with their values at a fixed set of probe points (a fingerprint), so
that a test that is always true or false, an application that equals one of its own arguments
or a constant, and a sample that behaves like an earlier one are seen and redrawn. A collision
of fingerprints can only cost a sample, never admit a wrong one: every sample is still checked
in full. How often each shape is drawn is set by `LiaWeights`.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable
from dataclasses import dataclass

from provers.z3.constants import IntPool
from provers.z3.derive import RETRIES, leaf_weight, shares
from provers.z3.sexpr import atom_text, symbol_text
from provers.z3.sygus import SynthFun
from provers.z3.terms import BOOL, INT


# A term's values at the probe points, and a term with them: (text, values).
Vec = tuple
Probed = tuple[str, Vec]

_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq}
_COMPARISONS = ("<", "<=", ">", ">=", "=")
_INVARIANT_COMPARISONS = ("<=", ">=", "=", "<", ">")
PROBES = 24


@dataclass(frozen=True)
class LiaWeights:
    """How often `LiaGenerator` draws each shape: the tuned knobs of the default integer grammar.

    `*_weight` fields are relative weights among the options of one choice (an option whose
    size does not fit the budget is left out); `*_share` fields are probabilities in [0, 1].
    They were tuned by hand for problems solved per sample on the bundled problems and on
    SyGuS-Comp tracks (benchmarks/grammar_sampler.py measures that); a change of any of them
    changes every seeded sample.
    """

    # An integer term: a parameter, a constant (both scaled by derive.leaf_weight, so that larger
    # budgets draw fewer leaves), a linear form, `(- a b)`/`(+ a b)`, `(* c t)`, `(div t c)` or
    # `(mod t c)`, `(* s t)` (only in nonlinear logics), or an `ite`.
    var_weight: float = 3.0
    const_weight: float = 1.5
    linear_weight: float = 2.5
    arith_weight: float = 0.8
    scale_weight: float = 0.6
    divmod_weight: float = 0.2
    mul_weight: float = 0.6
    ite_weight: float = 4.0
    # Share of integer samples that may be a bare constant (constant functions are rare answers).
    constant_body_share: float = 0.1
    # Each parameter of a linear form is written as `x` (plain share), `(- x)` (negated share)
    # or `(* c x)` (the rest); a form of several terms gets a constant offset at this share.
    linear_plain_share: float = 0.6
    linear_negated_share: float = 0.2
    linear_offset_share: float = 0.5
    # `(* c t)` and `div`/`mod`: the inner term is a parameter at this share; c is positive at
    # the positive share.
    scale_of_var_share: float = 0.8
    scale_positive_share: float = 0.7
    # `(- a b)`/`(+ a b)`: one side is a constant at this share, on the right at the next.
    arith_constant_share: float = 0.5
    arith_constant_right_share: float = 0.6
    # An `ite` tests a comparison (whose operands may become its branches) at this share, else
    # any Boolean test; its branches are both operands of the comparison (both share), one of
    # them and a new term (one share), or two new terms (the rest), as in max, min and clamp.
    ite_compare_share: float = 0.8
    branches_both_share: float = 0.4
    branches_one_share: float = 0.3
    # A Boolean test: a comparison, a Boolean parameter, its negation, `and`, `or`.
    test_compare_weight: float = 4.0
    test_bool_weight: float = 1.5
    test_not_weight: float = 0.4
    test_and_weight: float = 0.6
    test_or_weight: float = 0.4
    # A comparison's operator (in the order <, <=, >, >=, =); it compares a parameter with a
    # constant (constant share), two parameters (pair share), or else two terms.
    comparison_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0, 0.6)
    compare_constant_share: float = 0.45
    compare_pair_share: float = 0.35
    # An invariant: one, two or three atoms, joined by `and` (and share) or `or`; three atoms are
    # nested as (op a (other b c)) at the nested share.
    conjunction_size_weights: tuple[float, float, float] = (0.35, 0.45, 0.2)
    conjunction_and_share: float = 0.8
    conjunction_nested_share: float = 0.25
    # An invariant atom: a bound, a relation of two parameters, a linear equation, a sum of two
    # parameters against a constant, a residue `(= (mod x c) r)`, a Boolean parameter; its
    # operator (in the order <=, >=, =, <, >).
    bound_weight: float = 3.0
    relate_weight: float = 3.0
    atom_linear_weight: float = 2.0
    sum_weight: float = 1.0
    mod_weight: float = 0.3
    atom_bool_weight: float = 1.0
    invariant_comparison_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 0.4, 0.4)
    # A Boolean atom is the parameter (not its negation) at this share; a residue is 0 at this share.
    atom_bool_plain_share: float = 0.6
    mod_zero_share: float = 0.6


DEFAULT_WEIGHTS = LiaWeights()


def _pick(rng: random.Random, options: list[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in options], weights=[w for _, w in options])[0]


def probe_points(ints: int, bools: int, literals: list[int]) -> list[tuple]:
    """Fixed inputs (int values, then bool values) where fingerprints are taken.

    Every parameter takes each literal, its neighbours and a few small values somewhere (a
    threshold test at a literal is told from one next to it), some rows hold equal or adjacent
    parameters (relations between parameters), and the rest are spread wide.
    """
    rng = random.Random(7919)  # its own stream: probes never consume the sampler's draws
    special = sorted({v + d for v in literals for d in (-1, 0, 1)} | set(range(-3, 7)))
    rows = max(PROBES, len(special))
    columns = []
    for _ in range(ints):
        column = [special[i % len(special)] for i in range(rows)]
        rng.shuffle(column)
        columns.append([v if rng.random() < 0.75 else rng.randint(-60, 60) for v in column])
    points = [tuple(col[r] for col in columns) for r in range(rows)]
    if ints > 1:
        points += [(base,) * ints for base in special]
        for base in rng.sample(special, min(4, len(special))):
            points += [tuple(base + i for i in range(ints)), tuple(base - i for i in range(ints))]
    flags = [tuple(rng.random() < 0.5 for _ in range(bools)) for _ in points]
    return [p + f for p, f in zip(points, flags)]


class LiaGenerator:
    """Samples of the default linear-integer grammar over a function's parameters."""

    def __init__(
        self, fun: SynthFun, theories: frozenset[str], pool: IntPool, invariant: bool,
        weights: LiaWeights = DEFAULT_WEIGHTS,
    ):
        self.w = weights
        self.ints = [symbol_text(p) for p, s in fun.params if s == INT]
        self.bools = [symbol_text(p) for p, s in fun.params if s == BOOL]
        self.invariant = invariant
        self.boolean = fun.sort == BOOL
        self.nonlinear = "nonlinear" in theories
        self.pool = pool
        self.rng = pool.rng
        self.least = 1 if not self.boolean or self.bools else 3
        self.flawed = False  # degenerate draws are redrawn or replaced, never kept
        points = probe_points(len(self.ints), len(self.bools), pool.literals)
        columns = list(zip(*points))
        self.vec = {name: columns[i] for i, name in enumerate(self.ints + self.bools)}
        self.width = len(points)

    def body(self, budget: int) -> Probed:
        """One sample of at most `budget` nodes, with its fingerprint."""
        self.pool.used = []
        if self.invariant:
            return self.conjunction(budget)
        if self.boolean:
            return self.test(budget)
        return self.term(budget, const=self.rng.random() < self.w.constant_body_share)

    def const(self, avoid: tuple[int, ...] = ()) -> Probed:
        value = self.pool.draw(avoid)
        return atom_text(value, smtlib=True), (value,) * self.width

    def var(self) -> Probed:
        name = self.rng.choice(self.ints)
        return name, self.vec[name]

    def _fresh(self, make: Callable[[], tuple[Probed, list[Vec]] | None], fallback: Callable[[], Probed]) -> Probed:
        """Draw `make()` until it gives a term that is no constant and equals none of its parts
        (make returns None for a draw it refuses itself); after a few failures, `fallback()`."""
        for _ in range(2 * RETRIES):
            drawn = make()
            if drawn is not None and len(set(drawn[0][1])) > 1 and drawn[0][1] not in drawn[1]:
                return drawn[0]
        return fallback()

    # Integer terms.

    def term(self, budget: int, const: bool = True) -> Probed:
        """An integer term of at most `budget` nodes; a bare constant only when `const`."""
        w, leaf = self.w, leaf_weight(budget)
        options = [("var", w.var_weight * leaf)]
        if const:
            options.append(("const", w.const_weight * leaf))
        if budget >= 3:
            options += [("linear", w.linear_weight), ("arith", w.arith_weight), ("scale", w.scale_weight),
                        ("divmod", w.divmod_weight)]
            if self.nonlinear:
                options.append(("mul", w.mul_weight))
        if budget >= 6:
            options.append(("ite", w.ite_weight))
        kind = _pick(self.rng, options)
        if kind == "var":
            return self.var()
        if kind == "const":
            return self.const()
        if kind == "linear":
            return self._fresh(lambda: (self.linear(budget, self.ints), []), self.var)
        if kind == "ite":
            return self.ite(budget)
        return self.binary(kind, budget)

    def linear(self, budget: int, params: list[str]) -> Probed:
        """A sum of scaled parameters and a constant, such as `(+ (* 3 x) (- y) 2)`."""
        rng = self.rng
        picked = set(rng.sample(range(len(params)), rng.randint(1, len(params))))
        chosen = [v for i, v in enumerate(params) if i in picked]
        terms: list[tuple[str, int, Vec]] = []
        for v in chosen:
            r = rng.random()
            if r < self.w.linear_plain_share:
                terms.append((v, 1, self.vec[v]))
            elif r < self.w.linear_plain_share + self.w.linear_negated_share:
                terms.append((f"(- {v})", 2, tuple(-a for a in self.vec[v])))
            else:
                c = self.pool.draw((0, 1, -1))
                terms.append((f"(* {atom_text(c, smtlib=True)} {v})", 3, tuple(c * a for a in self.vec[v])))
        while len(terms) > 1 and 1 + sum(s for _, s, _ in terms) > budget:
            terms.pop(rng.randrange(len(terms)))
        if terms[0][1] > budget:
            terms = [(chosen[0], 1, self.vec[chosen[0]])]
        size = sum(s for _, s, _ in terms) + (len(terms) > 1)
        if size + 1 + (len(terms) == 1) <= budget and (len(terms) == 1 or rng.random() < self.w.linear_offset_share):
            # An offset is as likely to be subtracted as added: (- x 3) is (+ x (- 3)).
            offset = self.pool.draw((0,)) * rng.choice((1, 1, -1))
            terms.append((atom_text(offset, smtlib=True), 1, (offset,) * self.width))
        if len(terms) == 1:
            return terms[0][0], terms[0][2]
        return f"(+ {' '.join(t for t, _, _ in terms)})", tuple(map(sum, zip(*(v for _, _, v in terms))))

    def binary(self, kind: str, budget: int) -> Probed:
        """`(- a b)`, `(+ s t)`, `(* c t)`, `(div t c)`, `(mod t c)` or a nonlinear `(* s t)`."""
        rng = self.rng
        if kind in ("scale", "divmod"):
            inner = self.var() if rng.random() < self.w.scale_of_var_share else self.term(budget - 2, const=False)
            c = abs(self.pool.draw((0, 1, -1)))
            if kind == "scale":
                c = c if rng.random() < self.w.scale_positive_share else -c
                text = atom_text(c, smtlib=True)
                return f"(* {text} {inner[0]})", tuple(c * a for a in inner[1])
            op = rng.choice(("div", "mod"))
            vec = tuple(a // c if op == "div" else a % c for a in inner[1])
            return f"({op} {inner[0]} {c})", vec
        left, right = shares(rng, budget - 3, 2)

        def make() -> tuple[Probed, list[Vec]] | None:
            a = self.term(1 + left, const=False)
            if kind == "mul":
                b = self.term(1 + right, const=False)
                return (f"(* {a[0]} {b[0]})", tuple(map(operator.mul, a[1], b[1]))), [a[1], b[1]]
            if rng.random() < self.w.arith_constant_share:
                # With a constant: (- t 3), (- 3 t); (+ t 3) is (- t (- 3)) on every input.
                b = self.const((0,))
                a, b = (a, b) if rng.random() < self.w.arith_constant_right_share else (b, a)
                op = "-"
            else:
                b = self.term(1 + right, const=False)
                op = rng.choice("+-")
                if a[0] == b[0]:
                    return None  # (+ x x) is (* 2 x), (- x x) is 0
            vec = tuple(map(operator.sub if op == "-" else operator.add, a[1], b[1]))
            return (f"({op} {a[0]} {b[0]})", vec), [a[1], b[1]]

        return self._fresh(make, self.var)

    def ite(self, budget: int) -> Probed:
        """`(ite test a b)` whose branches differ where the test picks them.

        A branch is often one of the operands of the test, as in max, min, relu and clamp.
        """
        cond, then, other = shares(self.rng, budget - 6, 3)

        def make() -> tuple[Probed, list[Vec]]:
            if self.rng.random() < self.w.ite_compare_share:
                (test, tv), operands = self.compare(3 + cond)
            else:
                (test, tv), operands = self.test(3 + cond), []
            (a, av), (b, bv) = self.branches(then, other, operands)
            # Equal to a branch when the test is constant or the branches agree where it matters.
            return (f"(ite {test} {a} {b})", tuple(x if t else y for t, x, y in zip(tv, av, bv))), [av, bv]

        return self._fresh(make, self.var)

    def branches(self, then: int, other: int, operands: list[Probed]) -> list[Probed]:
        """Both operands of the test, one of them and a new term, or two new terms."""
        rng = self.rng
        r = rng.random()
        if operands and r < self.w.branches_both_share:
            return rng.sample(operands, 2)
        if operands and r < self.w.branches_both_share + self.w.branches_one_share:
            pair = [rng.choice(operands), self.term(1 + rng.choice((then, other)))]
            rng.shuffle(pair)
            return pair
        return [self.term(1 + then), self.term(1 + other)]

    # Tests and invariants.

    def test(self, budget: int) -> Probed:
        """A Boolean term that is not constant: comparisons, Boolean parameters, and/or/not."""
        return self._fresh(lambda: self._test(budget), lambda: self.compare(3)[0])

    def _test(self, budget: int) -> tuple[Probed, list[Vec]]:
        w = self.w
        options = [("compare", w.test_compare_weight)] if budget >= 3 or not self.bools else []
        if self.bools:
            options.append(("bool", w.test_bool_weight))
            if budget >= 2:
                options.append(("not", w.test_not_weight))
        if budget >= 7:
            options += [("and", w.test_and_weight), ("or", w.test_or_weight)]
        kind = _pick(self.rng, options)
        if kind == "compare":
            return self.compare(budget)[0], []
        if kind in ("bool", "not"):
            name = self.rng.choice(self.bools)
            if kind == "bool":
                return (name, self.vec[name]), []
            return (f"(not {name})", tuple(not v for v in self.vec[name])), []
        left, right = shares(self.rng, budget - 7, 2)
        parts = [self.test(3 + left), self.test(3 + right)]
        # A conjunction equal to one of its parts (one implies the other) is redrawn.
        return _connect(kind, parts), [v for _, v in parts]

    def compare(self, budget: int) -> tuple[Probed, list[Probed]]:
        """A comparison with a parameter on the left (against a constant, a parameter or a
        term), and its two operands."""
        rng = self.rng
        op = rng.choices(_COMPARISONS, weights=self.w.comparison_weights)[0]
        r = rng.random()
        if r < self.w.compare_constant_share or budget < 4 and len(self.ints) < 2:
            a, b = self.var(), self.const()
        elif r < self.w.compare_constant_share + self.w.compare_pair_share and len(self.ints) >= 2 or budget < 4:
            a, b = self._ordered_pair()
        else:
            left, right = shares(rng, budget - 3, 2)
            a, b = self.term(1 + left, const=False), self.term(1 + right)
            if a[1] == b[1]:  # (< x x), or two spellings of one term
                a, b = self.var(), self.const()
        return (f"({op} {a[0]} {b[0]})", tuple(map(_COMPARE[op], a[1], b[1]))), [a, b]

    def _ordered_pair(self) -> tuple[Probed, Probed]:
        # Parameters in declaration order: with all five comparisons, (< y x) is (> x y).
        i, j = sorted(self.rng.sample(range(len(self.ints)), 2))
        return (self.ints[i], self.vec[self.ints[i]]), (self.ints[j], self.vec[self.ints[j]])

    def conjunction(self, budget: int) -> Probed:
        """An invariant: one to three atoms under and/or, never constant on the probes."""
        return self._fresh(lambda: self._conjunction(budget), lambda: self.atom(3))

    def _conjunction(self, budget: int) -> tuple[Probed, list[Vec]]:
        rng = self.rng
        most = max(1, min(3, (budget - 1) // 3))
        count = min(most, rng.choices((1, 2, 3), weights=self.w.conjunction_size_weights)[0])
        budgets = shares(rng, budget - 1 - 3 * count, count) if count > 1 else [budget - 3]
        atoms: list[Probed] = []
        for share in budgets:
            atom = self.atom(3 + share)
            if all(atom[1] != v for _, v in atoms):
                atoms.append(atom)
        parts = [v for _, v in atoms]
        if len(atoms) == 1:
            return atoms[0], []
        op = "and" if rng.random() < self.w.conjunction_and_share else "or"
        if len(atoms) == 3 and rng.random() < self.w.conjunction_nested_share:
            inner = "or" if op == "and" else "and"
            atoms = [atoms[0], _connect(inner, atoms[1:])]
            parts.append(atoms[1][1])
        return _connect(op, atoms), parts

    def atom(self, budget: int) -> Probed:
        """One invariant atom: a bound, a relation of two parameters, a linear equation, a residue."""
        rng, w = self.rng, self.w
        options = [("bound", w.bound_weight)]
        if len(self.ints) >= 2:
            options.append(("relate", w.relate_weight))
            if budget >= 5:
                options += [("linear", w.atom_linear_weight), ("sum", w.sum_weight)]
        if budget >= 5:
            options.append(("mod", w.mod_weight))
        if self.bools:
            options.append(("bool", w.atom_bool_weight))
        kind = _pick(rng, options)
        op = rng.choices(_INVARIANT_COMPARISONS, weights=w.invariant_comparison_weights)[0]
        if kind == "bound":
            a, b = self.var(), self.const()
        elif kind == "relate":
            a, b = self._ordered_pair()
        elif kind == "bool":
            name = rng.choice(self.bools)
            if rng.random() < w.atom_bool_plain_share:
                return name, self.vec[name]
            return f"(not {name})", tuple(not v for v in self.vec[name])
        elif kind == "mod":
            divisor = abs(self.pool.draw((0, 1, -1)))
            rest = 0 if rng.random() < w.mod_zero_share else rng.randrange(divisor)
            v, vec = self.var()
            a, b, op = (f"(mod {v} {divisor})", tuple(x % divisor for x in vec)), (str(rest), (rest,) * self.width), "="
        else:
            op = op if op in ("<=", ">=", "=") else "="
            if kind == "sum":
                (v, vv), (w, wv) = self._ordered_pair()
                a, b = (f"(+ {v} {w})", tuple(map(operator.add, vv, wv))), self.const()
            else:
                a = self.var()
                b = self.linear(budget - 2, [w for w in self.ints if w != a[0]])
        return f"({op} {a[0]} {b[0]})", tuple(map(_COMPARE[op], a[1], b[1]))


def _connect(op: str, atoms: list[Probed]) -> Probed:
    vecs = [v for _, v in atoms]
    vec = tuple(map(all, zip(*vecs))) if op == "and" else tuple(map(any, zip(*vecs)))
    return f"({op} {' '.join(t for t, _ in atoms)})", vec
