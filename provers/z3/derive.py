"""Top-down derivations from a grammar: how the sampler draws from a problem's own grammar.

`GrammarDeriver` derives the start symbol within a size budget, choosing among the productions
that fit it; every sample is derivable, so it passes the checker's grammar test by
construction. Applications that simplify away (twin arguments, a comparison of constants, an
ite with a constant test or equal branches, `(+ t 0)`, arithmetic of constants whose value the
nonterminal derives directly) are redrawn. Problems without a grammar whose logic has no
integer default (bit-vectors, pure Boolean) derive from grammar.default_rules the same way.
"""

from __future__ import annotations

import math
import random
import re

from provers.z3.constants import IntPool
from provers.z3.grammar import Production, Rules
from provers.z3.sexpr import BVLit, atom_text, symbol_text
from provers.z3.sygus import SynthFun
from provers.z3.terms import BOOL, CALL, INT, bv_width

INF = 1 << 30
MAX_CHAINS = 8
# Draws of one application before a flawed one is kept for want of another.
RETRIES = 4


class GrammarDeriver:
    """Top-down derivations from a flattened grammar (a problem's own, or a default one)."""

    def __init__(self, rules: Rules, fun: SynthFun, constants: dict[str, list], pool: IntPool):
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
        leaf = leaf_weight(budget)
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
        return self.add_app(nt, p, budget)

    def add_app(self, nt: str, p: Production, budget: int) -> tuple[str, int | None]:
        kind, op, indices = p.payload  # type: ignore[misc]
        head = symbol_text(op) if kind == CALL else (f"(_ {op} {' '.join(map(str, indices))})" if indices else op)
        mins = [self.min[c] for c in p.children]
        flawed = self.flawed
        for _ in range(RETRIES):
            self.flawed = flawed
            extra = shares(self.rng, budget - 1 - sum(mins), len(mins))
            parts = [self.term(c, m + s) for c, m, s in zip(p.children, mins, extra)]
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


def leaf_weight(budget: int) -> float:
    """The weight of a leaf against 1.0 for an application: a larger budget makes leaves rarer,
    so that budgets (and so sizes) spread the samples."""
    return 3.0 / (2 + budget)


def shares(rng: random.Random, slack: int, parts: int) -> list[int]:
    """`slack` split at random into `parts` non-negative shares."""
    cuts = sorted(rng.randint(0, max(0, slack)) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, max(0, slack)])]


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
