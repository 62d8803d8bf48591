"""The grammar sampler: random size-bounded derivations, the round-0 policy.

`sample` draws n candidates per problem. Size budgets are stratified over the n draws and
skewed to small terms, smallest first (easy solutions are often small). A draw that repeats an
earlier sample is redrawn with a growing budget, so the n samples are distinct wherever the
grammar has that many terms; only when it has fewer are the distinct ones cycled.

Problems with a grammar are sampled by top-down derivation from its start symbol (`_Generator`),
choosing among the productions that fit the budget; every sample is derivable, so it passes the
checker's grammar test by construction. Applications that simplify away (twin arguments, a
comparison of constants, an ite with a constant test or equal branches, `(+ t 0)`, arithmetic
of constants whose value the nonterminal derives directly) are redrawn.

Integer problems without a grammar use the default grammar of linear integer arithmetic in
`_IntGenerator`: parameters, constants, linear forms (sums of parameters scaled by constants,
plus a constant), `ite` over comparisons (<, <=, >, >=, =) of parameters with constants, with
each other or with terms, and `div`/`mod` by constants; invariants are conjunctions and
disjunctions of such comparisons and of linear equalities. Its terms carry their values at fixed
probe inputs, so it never keeps a constant test, an application equal to one of its arguments
or to a constant, or a sample that behaves like an earlier one (while others are left). A
constant used once in a sample is likely to recur (a threshold in a test is often the value of
a branch). Other problems without a grammar (bit-vectors, pure Boolean) use
grammar.default_rules.

Constants come from the problem's own literals (as enumerative SyGuS solvers draw them) and a
few small values, the problem's literals more often. Nothing else of the problem is looked at.
"""

from __future__ import annotations

import math
import operator
import random
import re
from collections.abc import Callable

from provers.z3.grammar import Production, Rules, compile_grammar, default_rules
from provers.z3.prompt import header
from provers.z3.sexpr import BVLit, SExpr, Symbol, atom_text, symbol_text
from provers.z3.sygus import SygusProblem, SynthFun
from provers.z3.terms import BOOL, CALL, INT, FunSig, bv_width

INF = 1 << 30
MAX_CHAINS = 8
MAX_CONSTANTS = 12
RETRIES = 4
SMALL_INTS = (-2, -1, 0, 1, 2, 3, 4, 5)
# Draws of one sample slot that may come out as repeats before the slot takes a last resort.
REDRAWS = 12
# Share of constant draws that take one of the problem's own literals (when it has any), and
# share that repeat a constant already used in the same sample.
LITERAL_SHARE = 0.75
REUSE_SHARE = 0.35


def _literals(problem: SygusProblem) -> tuple[set[int], dict[int, set[int]]]:
    """The integer and bit-vector literals (by width) of the constraints and helper bodies."""
    ints: set[int] = set()
    bvs: dict[int, set[int]] = {}
    stack: list[SExpr] = [c.term for c in problem.constraints + problem.assumptions]
    stack += [h.body for h in problem.helpers]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            if len(item) == 2 and isinstance(item[0], Symbol) and item[0] == "-" and type(item[1]) is int:
                ints.add(-item[1])
            stack.extend(item)
        elif type(item) is int:
            ints.add(item)
        elif isinstance(item, BVLit):
            bvs.setdefault(item.width, set()).add(item.value)
    return ints, bvs


def problem_literals(problem: SygusProblem) -> list[int]:
    """The integer literals of the problem's constraints and helpers, small magnitudes first."""
    return sorted(_literals(problem)[0], key=lambda v: (abs(v), v))


def problem_constants(problem: SygusProblem) -> dict[str, list]:
    """Constants by sort for `(Constant S)` and the default rules: literals, 0 and 1 (small first)."""
    ints, bvs = _literals(problem)
    out: dict[str, list] = {INT: sorted(ints | {0, 1}, key=lambda v: (abs(v), v))[:MAX_CONSTANTS], BOOL: [True, False]}
    for f in problem.synth_funs:
        for sort in (*f.param_sorts, f.sort):
            width = bv_width(sort)
            if width is not None and sort not in out:
                values = {0, 1, (1 << width) - 1} | bvs.get(width, set())
                out[sort] = sorted(values)[:MAX_CONSTANTS]
    return out


class _IntPool:
    """Integer constants of one problem: its own literals more often than the small defaults."""

    def __init__(self, literals: list[int], rng: random.Random):
        self.literals = literals[:MAX_CONSTANTS]
        self.small = [v for v in SMALL_INTS if v not in self.literals]
        self.rng = rng
        self.used: list[int] = []  # constants of the sample being drawn

    def draw(self, avoid: tuple[int, ...] = ()) -> int:
        """One constant not in `avoid`; repeats one of this sample's constants at times."""
        rng = self.rng
        for _ in range(8):
            r = rng.random()
            if self.used and r < REUSE_SHARE:
                value = rng.choice(self.used)
            elif self.literals and (not self.small or rng.random() < LITERAL_SHARE):
                value = rng.choice(self.literals)
            else:
                value = rng.choice(self.small)
            if value not in avoid:
                break
        else:
            value = next(v for v in (*self.literals, *SMALL_INTS, 6, 7) if v not in avoid)
        self.used.append(value)
        return value


class _Generator:
    """Top-down derivations from a flattened grammar (a problem's own, or a default one)."""

    def __init__(self, rules: Rules, fun: SynthFun, constants: dict[str, list], pool: _IntPool):
        self.rules = rules
        self.params = fun.params
        self.constants = constants
        self.pool = pool
        self.rng = pool.rng
        self.min = self._min_sizes()
        self.param_names = {symbol_text(n) for n, _ in fun.params}
        self.least = self.min[rules.start]
        self.flawed = False  # whether the last body holds an application that simplifies away
        up = rules.up()
        # Nonterminals that derive any integer constant directly: ground arithmetic there is waste.
        self.any_int = {nt for m in rules.anyconst.get(INT, ()) for nt in up[m]}

    def _cost(self, p: Production, sizes: dict[str, int]) -> int:
        if p.kind in ("lit", "param"):
            return 1
        if p.kind == "anyconst":
            return 1 if self.constants.get(p.payload) else INF  # type: ignore[arg-type]
        if p.kind == "anyvar":
            return 1 if any(s == p.payload for _, s in self.params) else INF
        if p.kind == "chain":
            return sizes[p.payload]  # type: ignore[index]
        return min(INF, 1 + sum(sizes[c] for c in p.children))

    def _min_sizes(self) -> dict[str, int]:
        sizes = {nt: INF for nt in self.rules.sorts}
        changed = True
        while changed:
            changed = False
            for nt, prods in self.rules.productions.items():
                best = min((self._cost(p, sizes) for p in prods), default=INF)
                if best < sizes[nt]:
                    sizes[nt] = best
                    changed = True
        return sizes

    def body(self, budget: int) -> tuple[str, str]:
        """One derivation of the start symbol within `budget` nodes (when the grammar allows), twice:
        as text and as its dedup key (the text itself)."""
        self.pool.used = []
        self.flawed = False
        text = self.term(self.rules.start, budget)[0]
        return text, text

    def term(self, nt: str, budget: int, chains: int = 0) -> tuple[str, int | None]:
        """A term of `nt` and its value when it is a constant integer expression."""
        options = [
            p
            for p in self.rules.productions[nt]
            if self._cost(p, self.min) <= budget and not (p.kind == "chain" and chains >= MAX_CHAINS)
        ]
        if not options:
            options = [min(self.rules.productions[nt], key=lambda p: self._cost(p, self.min))]
        # A larger budget makes leaves rarer, so that budgets (and so sizes) spread the samples.
        leaf = _leaf_weight(budget)
        p = self.rng.choices(options, weights=[leaf if o.kind in _LEAVES else 1.0 for o in options])[0]
        if p.kind == "lit":
            value, sort = p.payload  # type: ignore[misc]
            return _literal(value, sort), (value if sort == INT else None)
        if p.kind == "param":
            return symbol_text(self.params[p.payload][0]), None  # type: ignore[index]
        if p.kind == "anyconst":
            if p.payload == INT:
                value = self.pool.draw()
                return _literal(value, INT), value
            return _literal(self.rng.choice(self.constants[p.payload]), p.payload), None  # type: ignore[index,arg-type]
        if p.kind == "anyvar":
            return symbol_text(self.rng.choice([n for n, s in self.params if s == p.payload])), None
        if p.kind == "chain":
            return self.term(p.payload, budget, chains + 1)  # type: ignore[arg-type]
        return self._app(nt, p, budget)

    def _app(self, nt: str, p: Production, budget: int) -> tuple[str, int | None]:
        kind, op, indices = p.payload  # type: ignore[misc]
        head = symbol_text(op) if kind == CALL else (f"(_ {op} {' '.join(map(str, indices))})" if indices else op)
        mins = [self.min[c] for c in p.children]
        flawed = self.flawed
        for _ in range(RETRIES):
            self.flawed = flawed
            slack = max(0, budget - 1 - sum(mins))
            cuts = sorted(self.rng.randint(0, slack) for _ in range(len(mins) - 1))
            shares = [b - a for a, b in zip([0, *cuts], [*cuts, slack])]
            parts = [self.term(c, m + s) for c, m, s in zip(p.children, mins, shares)]
            args = [text for text, _ in parts]
            value = _evaluate(op, [v for _, v in parts]) if kind != CALL else None
            if not _redundant(kind, op, args, self.param_names) and not self._wasted(nt, op, parts, value):
                break
        else:
            self.flawed = True  # kept for want of another term; the sample is a last resort
        return (f"({head} {' '.join(args)})" if args else head), value

    def _wasted(self, nt: str, op: str, parts: list[tuple[str, int | None]], value: int | None) -> bool:
        """Integer arithmetic that a shorter term says: `(+ t 0)`, `(* 1 t)`, or a derivable constant."""
        values = [v for _, v in parts]
        if op in ("+", "-") and len(values) == 2 and 0 in values[op == "-" :] or op == "*" and {0, 1} & set(values):
            return True
        if value is None:
            return False
        up = self.rules.up()
        return nt in self.any_int or any(nt in up[m] for m in self.rules.lits.get((value, INT), ()))


_LEAVES = ("lit", "param", "anyconst", "anyvar")


def _leaf_weight(budget: int) -> float:
    return 3.0 / (2 + budget)


def _evaluate(op: str, values: list[int | None]) -> int | None:
    """The value of integer `+`, `-`, `*` over constant arguments; None otherwise."""
    if not values or any(v is None for v in values) or op not in ("+", "-", "*"):
        return None
    if op == "-":
        return -values[0] if len(values) == 1 else values[0] - sum(values[1:])  # type: ignore[operator]
    return sum(values) if op == "+" else math.prod(values)  # type: ignore[arg-type]


# Operators whose result is trivial when two arguments are the same term ((= x x), (- y y),
# (and b b)); such samples waste checks, so the sampler redraws them a few times.
_TRIVIAL_TWINS = set(
    "= distinct < <= > >= - and or xor => bvsub bvxor bvand bvor bvult bvule bvugt bvuge bvslt bvsle bvsgt bvsge".split()
)


_DECIDED_WHEN_GROUND = _TRIVIAL_TWINS - {"-", "bvsub", "bvxor", "bvand", "bvor"}
_ATOMS = re.compile(r"[^\s()]+")


def _redundant(kind: int, op: str, args: list[str], params: set[str]) -> bool:
    """Whether an application is trivially simplifiable: twin arguments or a decided test."""
    if kind == CALL or len(args) < 2:
        return False
    if op == "ite":
        return args[1] == args[2] or not params.intersection(_ATOMS.findall(args[0]))
    if op not in _TRIVIAL_TWINS:
        return False
    if len(set(args)) < len(args):
        return True
    return op in _DECIDED_WHEN_GROUND and not any(params.intersection(_ATOMS.findall(a)) for a in args)


def _literal(value, sort: str) -> str:
    if sort == BOOL:
        return "true" if value else "false"
    width = bv_width(sort)
    if width is not None:
        return atom_text(BVLit(value, width))
    # `(- 1)` however the grammar spells it (`-1`, or unary minus on 1): one text, one sample.
    return atom_text(value, smtlib=True)


# ---------------------------------------------------------------------------------------------
# The default grammar of integer problems.
#
# Terms are built together with their values at a fixed set of probe points (a fingerprint),
# so that a test that is always true or false, an application that equals one of its own
# arguments or a constant, and a sample that behaves like an earlier one are seen and redrawn.
# A collision of fingerprints can only cost a sample, never admit a wrong one: every sample is
# still checked in full.

Vec = tuple
Term = tuple[str, Vec]

_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq}
_COMPARISONS = ("<", "<=", ">", ">=", "=")
_COMPARISON_WEIGHTS = (1.0, 1.0, 1.0, 1.0, 0.6)
_INVARIANT_COMPARISONS = ("<=", ">=", "=", "<", ">")
_INVARIANT_WEIGHTS = (1.0, 1.0, 1.0, 0.4, 0.4)
PROBES = 24


def _pick(rng: random.Random, options: list[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in options], weights=[w for _, w in options])[0]


def _shares(rng: random.Random, slack: int, parts: int) -> list[int]:
    """`slack` split at random into `parts` non-negative shares."""
    cuts = sorted(rng.randint(0, max(0, slack)) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, max(0, slack)])]


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


class _IntGenerator:
    """Samples of the default linear-integer grammar over a function's parameters."""

    def __init__(self, fun: SynthFun, theories: frozenset[str], pool: _IntPool, invariant: bool):
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

    def body(self, budget: int) -> Term:
        """One sample of at most `budget` nodes, with its fingerprint."""
        self.pool.used = []
        if self.invariant:
            return self.conjunction(budget)
        if self.boolean:
            return self.test(budget)
        return self.term(budget, const=self.rng.random() < 0.1)

    def const(self, avoid: tuple[int, ...] = ()) -> Term:
        value = self.pool.draw(avoid)
        return atom_text(value, smtlib=True), (value,) * self.width

    def var(self) -> Term:
        name = self.rng.choice(self.ints)
        return name, self.vec[name]

    def _fresh(self, make: Callable[[], tuple[Term, list[Vec]] | None], fallback: Callable[[], Term]) -> Term:
        """Draw `make()` until it gives a term that is no constant and equals none of its parts
        (make returns None for a draw it refuses itself); after a few failures, `fallback()`."""
        for _ in range(2 * RETRIES):
            drawn = make()
            if drawn is not None and len(set(drawn[0][1])) > 1 and drawn[0][1] not in drawn[1]:
                return drawn[0]
        return fallback()

    # Integer terms.

    def term(self, budget: int, const: bool = True) -> Term:
        """An integer term of at most `budget` nodes; a bare constant only when `const`."""
        leaf = _leaf_weight(budget)
        options = [("var", 3.0 * leaf)]
        if const:
            options.append(("const", 1.5 * leaf))
        if budget >= 3:
            options += [("linear", 2.5), ("arith", 0.8), ("scale", 0.6), ("divmod", 0.2)]
            if self.nonlinear:
                options.append(("mul", 0.6))
        if budget >= 6:
            options.append(("ite", 4.0))
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

    def linear(self, budget: int, params: list[str]) -> Term:
        """A sum of scaled parameters and a constant, such as `(+ (* 3 x) (- y) 2)`."""
        rng = self.rng
        picked = set(rng.sample(range(len(params)), rng.randint(1, len(params))))
        chosen = [v for i, v in enumerate(params) if i in picked]
        terms: list[tuple[str, int, Vec]] = []
        for v in chosen:
            r = rng.random()
            if r < 0.6:
                terms.append((v, 1, self.vec[v]))
            elif r < 0.8:
                terms.append((f"(- {v})", 2, tuple(-a for a in self.vec[v])))
            else:
                c = self.pool.draw((0, 1, -1))
                terms.append((f"(* {atom_text(c, smtlib=True)} {v})", 3, tuple(c * a for a in self.vec[v])))
        while len(terms) > 1 and 1 + sum(s for _, s, _ in terms) > budget:
            terms.pop(rng.randrange(len(terms)))
        if terms[0][1] > budget:
            terms = [(chosen[0], 1, self.vec[chosen[0]])]
        size = sum(s for _, s, _ in terms) + (len(terms) > 1)
        if size + 1 + (len(terms) == 1) <= budget and (len(terms) == 1 or rng.random() < 0.5):
            # An offset is as likely to be subtracted as added: (- x 3) is (+ x (- 3)).
            offset = self.pool.draw((0,)) * rng.choice((1, 1, -1))
            terms.append((atom_text(offset, smtlib=True), 1, (offset,) * self.width))
        if len(terms) == 1:
            return terms[0][0], terms[0][2]
        return f"(+ {' '.join(t for t, _, _ in terms)})", tuple(map(sum, zip(*(v for _, _, v in terms))))

    def binary(self, kind: str, budget: int) -> Term:
        """`(- a b)`, `(+ s t)`, `(* c t)`, `(div t c)`, `(mod t c)` or a nonlinear `(* s t)`."""
        rng = self.rng
        if kind in ("scale", "divmod"):
            inner = self.var() if rng.random() < 0.8 else self.term(budget - 2, const=False)
            c = abs(self.pool.draw((0, 1, -1)))
            if kind == "scale":
                c = c if rng.random() < 0.7 else -c
                text = atom_text(c, smtlib=True)
                return f"(* {text} {inner[0]})", tuple(c * a for a in inner[1])
            op = rng.choice(("div", "mod"))
            vec = tuple(a // c if op == "div" else a % c for a in inner[1])
            return f"({op} {inner[0]} {c})", vec
        left, right = _shares(rng, budget - 3, 2)

        def make() -> tuple[Term, list[Vec]] | None:
            a = self.term(1 + left, const=False)
            if kind == "mul":
                b = self.term(1 + right, const=False)
                return (f"(* {a[0]} {b[0]})", tuple(map(operator.mul, a[1], b[1]))), [a[1], b[1]]
            if rng.random() < 0.5:
                # With a constant: (- t 3), (- 3 t); (+ t 3) is (- t (- 3)) on every input.
                b = self.const((0,))
                a, b = (a, b) if rng.random() < 0.6 else (b, a)
                op = "-"
            else:
                b = self.term(1 + right, const=False)
                op = rng.choice("+-")
                if a[0] == b[0]:
                    return None  # (+ x x) is (* 2 x), (- x x) is 0
            vec = tuple(map(operator.sub if op == "-" else operator.add, a[1], b[1]))
            return (f"({op} {a[0]} {b[0]})", vec), [a[1], b[1]]

        return self._fresh(make, self.var)

    def ite(self, budget: int) -> Term:
        """`(ite test a b)` whose branches differ where the test picks them.

        A branch is often one of the operands of the test, as in max, min, relu and clamp.
        """
        cond, then, other = _shares(self.rng, budget - 6, 3)

        def make() -> tuple[Term, list[Vec]]:
            if self.rng.random() < 0.8:
                (test, tv), operands = self.compare(3 + cond)
            else:
                (test, tv), operands = self.test(3 + cond), []
            (a, av), (b, bv) = self.branches(then, other, operands)
            # Equal to a branch when the test is constant or the branches agree where it matters.
            return (f"(ite {test} {a} {b})", tuple(x if t else y for t, x, y in zip(tv, av, bv))), [av, bv]

        return self._fresh(make, self.var)

    def branches(self, then: int, other: int, operands: list[Term]) -> list[Term]:
        """Both operands of the test, one of them and a new term, or two new terms."""
        rng = self.rng
        r = rng.random()
        if operands and r < 0.4:
            return rng.sample(operands, 2)
        if operands and r < 0.7:
            pair = [rng.choice(operands), self.term(1 + rng.choice((then, other)))]
            rng.shuffle(pair)
            return pair
        return [self.term(1 + then), self.term(1 + other)]

    # Tests and invariants.

    def test(self, budget: int) -> Term:
        """A Boolean term that is not constant: comparisons, Boolean parameters, and/or/not."""
        return self._fresh(lambda: self._test(budget), lambda: self.compare(3)[0])

    def _test(self, budget: int) -> tuple[Term, list[Vec]]:
        options = [("compare", 4.0)] if budget >= 3 or not self.bools else []
        if self.bools:
            options.append(("bool", 1.5))
            if budget >= 2:
                options.append(("not", 0.4))
        if budget >= 7:
            options += [("and", 0.6), ("or", 0.4)]
        kind = _pick(self.rng, options)
        if kind == "compare":
            return self.compare(budget)[0], []
        if kind in ("bool", "not"):
            name = self.rng.choice(self.bools)
            if kind == "bool":
                return (name, self.vec[name]), []
            return (f"(not {name})", tuple(not v for v in self.vec[name])), []
        left, right = _shares(self.rng, budget - 7, 2)
        parts = [self.test(3 + left), self.test(3 + right)]
        # A conjunction equal to one of its parts (one implies the other) is redrawn.
        return _connect(kind, parts), [v for _, v in parts]

    def compare(self, budget: int) -> tuple[Term, list[Term]]:
        """A comparison with a parameter on the left (against a constant, a parameter or a
        term), and its two operands."""
        rng = self.rng
        op = rng.choices(_COMPARISONS, weights=_COMPARISON_WEIGHTS)[0]
        r = rng.random()
        if r < 0.45 or budget < 4 and len(self.ints) < 2:
            a, b = self.var(), self.const()
        elif r < 0.8 and len(self.ints) >= 2 or budget < 4:
            a, b = self._ordered_pair()
        else:
            left, right = _shares(rng, budget - 3, 2)
            a, b = self.term(1 + left, const=False), self.term(1 + right)
            if a[1] == b[1]:  # (< x x), or two spellings of one term
                a, b = self.var(), self.const()
        return (f"({op} {a[0]} {b[0]})", tuple(map(_COMPARE[op], a[1], b[1]))), [a, b]

    def _ordered_pair(self) -> tuple[Term, Term]:
        # Parameters in declaration order: with all five comparisons, (< y x) is (> x y).
        i, j = sorted(self.rng.sample(range(len(self.ints)), 2))
        return (self.ints[i], self.vec[self.ints[i]]), (self.ints[j], self.vec[self.ints[j]])

    def conjunction(self, budget: int) -> Term:
        """An invariant: one to three atoms under and/or, never constant on the probes."""
        return self._fresh(lambda: self._conjunction(budget), lambda: self.atom(3))

    def _conjunction(self, budget: int) -> tuple[Term, list[Vec]]:
        rng = self.rng
        most = max(1, min(3, (budget - 1) // 3))
        count = min(most, rng.choices((1, 2, 3), weights=(0.35, 0.45, 0.2))[0])
        shares = _shares(rng, budget - 1 - 3 * count, count) if count > 1 else [budget - 3]
        atoms: list[Term] = []
        for share in shares:
            atom = self.atom(3 + share)
            if all(atom[1] != v for _, v in atoms):
                atoms.append(atom)
        parts = [v for _, v in atoms]
        if len(atoms) == 1:
            return atoms[0], []
        op = "and" if rng.random() < 0.8 else "or"
        if len(atoms) == 3 and rng.random() < 0.25:
            inner = "or" if op == "and" else "and"
            atoms = [atoms[0], _connect(inner, atoms[1:])]
            parts.append(atoms[1][1])
        return _connect(op, atoms), parts

    def atom(self, budget: int) -> Term:
        """One invariant atom: a bound, a relation of two parameters, a linear equation, a residue."""
        rng = self.rng
        options = [("bound", 3.0)]
        if len(self.ints) >= 2:
            options.append(("relate", 3.0))
            if budget >= 5:
                options += [("linear", 2.0), ("sum", 1.0)]
        if budget >= 5:
            options.append(("mod", 0.3))
        if self.bools:
            options.append(("bool", 1.0))
        kind = _pick(rng, options)
        op = rng.choices(_INVARIANT_COMPARISONS, weights=_INVARIANT_WEIGHTS)[0]
        if kind == "bound":
            a, b = self.var(), self.const()
        elif kind == "relate":
            a, b = self._ordered_pair()
        elif kind == "bool":
            name = rng.choice(self.bools)
            if rng.random() < 0.6:
                return name, self.vec[name]
            return f"(not {name})", tuple(not v for v in self.vec[name])
        elif kind == "mod":
            divisor = abs(self.pool.draw((0, 1, -1)))
            rest = 0 if rng.random() < 0.6 else rng.randrange(divisor)
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


def _connect(op: str, atoms: list[Term]) -> Term:
    vecs = [v for _, v in atoms]
    vec = tuple(map(all, zip(*vecs))) if op == "and" else tuple(map(any, zip(*vecs)))
    return f"({op} {' '.join(t for t, _ in atoms)})", vec


# ---------------------------------------------------------------------------------------------
# Sampling.


def rules_for(problem: SygusProblem, fun: SynthFun, constants: dict[str, list]) -> Rules:
    """The grammar of `fun` as rules, or the default grammar of the logic when it has none."""
    if fun.grammar is not None:
        helpers = {h.name: FunSig(h.name, h.param_sorts, h.sort) for h in problem.helpers}
        return compile_grammar(fun, helpers, problem.theories, problem.logic)
    return default_rules(fun.params, fun.sort, problem.theories, constants, _is_invariant(problem, fun))


def _is_invariant(problem: SygusProblem, fun: SynthFun) -> bool:
    return fun.invariant or any(inv.inv == fun.name for inv in problem.invariants)


def _generator(problem: SygusProblem, fun: SynthFun, constants: dict[str, list], pool: _IntPool):
    """The default integer grammar where it applies, else derivations from the rules."""
    has_ints = any(s == INT for _, s in fun.params)
    if fun.grammar is None and "int" in problem.theories and has_ints and fun.sort in (INT, BOOL):
        return _IntGenerator(fun, problem.theories, pool, _is_invariant(problem, fun) and fun.sort == BOOL)
    return _Generator(rules_for(problem, fun, constants), fun, constants, pool)


def _budget(least: int, max_size: int, quantile: float, redraw: int) -> int:
    """The size budget of a slot: small quantiles get small budgets; each redraw allows more."""
    top = max(max_size, least)
    return min(top, least + int((top - least) * quantile**2 + 0.5) + redraw)


def sample(problem: SygusProblem, n: int, rng: random.Random, max_size: int = 16) -> list[str]:
    """`n` candidates drawn from the grammars, smallest first (distinct where the grammar allows); [] if none derive."""
    constants = problem_constants(problem)
    pool = _IntPool(problem_literals(problem), rng)
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
