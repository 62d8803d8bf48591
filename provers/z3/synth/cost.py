"""The cost interface of the search: what one production costs in its context.

Enumeration asks a `Guide` for `cost(production, context)`: a positive number, read as
-log2 of the production's probability (EuPhony's costs; a uniform guide makes every production
cost 1, so cost is size). The enumerator rounds costs to whole levels of `unit` bits and
enumerates level by level, cheapest first, which is Dijkstra's order on the bottom-up search
(EuPhony's A* with its admissible lower bound reduces to this order when terms are built
bottom-up, since every sub-term's cost is already known exactly).

A guide is any object with a `name` and that method: the uniform one, a probabilistic grammar
fitted from verified solutions (`PCFG.fit`), or a learned model's guide in a later issue; the
search changes nothing when one is swapped for another.

Production keys are short strings: `op/arity` for an operator or function call (`+/2`,
`ite/3`, `call:plus_2/2`), `param` for a parameter, `const` for a literal, `chain` for a
nonterminal standing for another. The invariant search prices the families of its candidate
atoms the same way (`atom_family`: `atom:var-const`, `clause`, ...), in the context of sort
`inv` (`family_context`).

Two optional parts of a guide (guides.py has guides with them): `contextual = True` with
`child_cost(production, context, parent, position)`, the cost of a production used as
argument `position` of the production `parent` (the enumerator then prices a term's children
in their parent's context); and `seeds(problem_id) -> {function: [Term]}`, terms the search
should try first (a model's samples). `is_contextual` and `seeds_of` read them, so that a guide
with neither (`Uniform`, `PCFG`) is priced exactly as before.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from provers.z3.grammar import Production
from provers.z3.terms import APP, BOOL, CALL, LIT, VAR, Term, postorder


@dataclass(frozen=True)
class Context:
    """Where a production is used: the problem, the function, the nonterminal and its sort."""

    problem_id: str
    function: str
    nonterminal: str
    sort: str


class Guide(Protocol):
    name: str

    def cost(self, production: str, context: Context) -> float:
        """-log2 p of `production` in `context` (positive)."""
        ...


def production_key(production: Production) -> str:
    """The key a guide prices a grammar production by."""
    if production.kind == "app":
        kind, op, _ = production.payload  # type: ignore[misc]
        prefix = "call:" if kind == CALL else ""
        return f"{prefix}{op}/{len(production.children)}"
    if production.kind in ("param", "anyvar"):
        return "param"
    if production.kind in ("lit", "anyconst"):
        return "const"
    return "chain"


def term_key(node: Term) -> str:
    """The key of the production that built `node` (the same keys as `production_key`)."""
    if node.kind == APP:
        return f"{node.op}/{len(node.args)}"
    if node.kind == CALL:
        return f"call:{node.op}/{len(node.args)}"
    if node.kind == VAR:
        return "param"
    if node.kind == LIT:
        return "const"
    return "chain"


class Uniform:
    """Every production costs 1: enumeration by size."""

    name = "uniform"

    def cost(self, production: str, context: Context) -> float:
        return 1.0

    def to_json(self) -> dict:
        return {"kind": "uniform"}


@dataclass
class PCFG:
    """A probabilistic grammar over production keys per sort, fitted from solutions.

    p(key | sort) = (count + alpha) / (total + alpha * (known + 1)), so a key never seen keeps a
    share of the mass; cost = -log2 p, scaled so that the most likely production costs about 1.
    """

    counts: dict[str, dict[str, float]] = field(default_factory=dict)
    alpha: float = 1.0
    name: str = "pcfg"

    @classmethod
    def fit(cls, bodies: Iterable[Term], alpha: float = 1.0) -> PCFG:
        """Count the productions of verified solution bodies (elaborated terms)."""
        counts: dict[str, Counter] = {}
        for body in bodies:
            for node in postorder(body):
                counts.setdefault(node.sort, Counter())[term_key(node)] += 1
        return cls({s: dict(c) for s, c in counts.items()}, alpha)

    def probability(self, production: str, sort: str) -> float:
        table = self.counts.get(sort, {})
        total = math.fsum(table.values())  # exact: the same whatever the order (a loaded file's)
        return (table.get(production, 0) + self.alpha) / (total + self.alpha * (len(table) + 1))

    def scale(self, sort: str) -> float:
        """-log2 of the likeliest production's probability in `sort`: the cost that becomes 1."""
        best = max(self.probability(k, sort) for k in self.counts[sort])
        return max(-math.log2(best), 1e-9)

    def cost(self, production: str, context: Context) -> float:
        return self.sort_cost(production, context.sort)

    def sort_cost(self, production: str, sort: str) -> float:
        if not self.counts.get(sort):
            return 1.0
        return max(0.0, -math.log2(self.probability(production, sort))) / self.scale(sort)

    def to_json(self) -> dict:
        return {"kind": "pcfg", "alpha": self.alpha, "counts": self.counts}

    @classmethod
    def from_json(cls, data: dict) -> PCFG:
        return cls({s: {k: float(v) for k, v in t.items()} for s, t in data["counts"].items()}, float(data["alpha"]))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> PCFG:
        return cls.from_json(json.loads(Path(path).read_text()))


def is_contextual(guide: Guide) -> bool:
    """Whether `guide` prices a production by its parent as well (`child_cost`)."""
    return bool(getattr(guide, "contextual", False))


def seeds_of(guide: Guide, problem_id: str) -> dict[str, list[Term]]:
    """The terms `guide` offers for `problem_id`, per function (none for most guides)."""
    seeds = getattr(guide, "seeds", None)
    return seeds(problem_id) if seeds is not None else {}


# The sort under which guides count and price the families of invariant atoms.
INV_SORT = "inv"


def family_context(problem_id: str, function: str) -> Context:
    return Context(problem_id, function, INV_SORT, INV_SORT)


_COMPARISONS = ("<", "<=", ">", ">=", "=")


def conjuncts(body: Term) -> list[Term]:
    """The conjuncts of an invariant body (nested `and`s flattened; `true` has none)."""
    if body.kind == APP and body.op == "and":
        return [c for a in body.args for c in conjuncts(a)]
    if body.kind == LIT and body.value is True:
        return []
    return [body]


# Every family `atom_family` gives.
FAMILIES = (
    "atom:cond", "clause:cond", "clause", "atom:bool", "atom:var-const", "atom:var-var", "atom:octagon", "atom:hull",
    "atom:other",
)


def atom_key(atom: Term) -> tuple:
    """A hashable key of an atom with its parameters named by position (a candidate may rename
    them); cheap, as the invariant search classifies thousands of candidates."""
    if atom.kind == VAR:
        return (VAR, atom.op if atom.value is None else atom.value)
    value = atom.value if atom.kind == LIT else atom.value or ()
    return (atom.kind, atom.op, atom.sort, value, *(atom_key(a) for a in atom.args))


def atom_family(atom: Term, conditions: frozenset[tuple] = frozenset()) -> str:
    """The family of an invariant atom or conjunct: the same function classifies the invariant
    search's candidates and a verified invariant's conjuncts. `conditions` holds the `atom_key`s
    of the problem's condition atoms (the comparisons of pre and post, also projected by qe:
    `InvariantSearch.condition_keys`); the rest goes by shape.

    `atom:cond` one of those conditions; `clause:cond` a disjunction of conditions, `clause` any
    other disjunction; `atom:bool` a Boolean variable or literal; `atom:var-const`,
    `atom:var-var` a comparison of a variable with a constant or another variable;
    `atom:octagon` an inequality of v - w or v + w with a constant; `atom:hull` any other
    linear equality (the samples' affine hull, `s = 2 i`); `atom:other` anything else. A
    negation is classified by what it negates."""
    if conditions and atom_key(atom) in conditions:
        return "atom:cond"
    if atom.kind == APP and atom.op == "not" and len(atom.args) == 1:
        return atom_family(atom.args[0], conditions)
    if atom.kind == APP and atom.op == "or":
        inside = bool(conditions) and all(atom_key(a) in conditions for a in atom.args)
        return "clause:cond" if inside else "clause"
    if atom.sort == BOOL and atom.kind in (VAR, LIT):
        return "atom:bool"
    if atom.kind != APP or atom.op not in _COMPARISONS or len(atom.args) != 2:
        return "atom:other"
    shapes = sorted(_side(a) for a in atom.args)
    if shapes == ["const", "var"]:
        return "atom:var-const"
    if shapes == ["var", "var"]:
        return "atom:var-var"
    if "other" in shapes:
        return "atom:other"
    if atom.op == "=":
        return "atom:hull"
    return "atom:octagon" if shapes == ["const", "pair"] else "atom:other"


def _side(t: Term) -> str:
    """const, var, pair (v - w or v + w), linear (a sum of scaled variables) or other."""
    if t.kind == LIT:
        return "const"
    if t.kind == VAR:
        return "var"
    if t.kind != APP:
        return "other"
    if t.op in ("+", "-") and len(t.args) == 2 and all(a.kind == VAR for a in t.args):
        return "pair"
    if t.op == "*" and len(t.args) == 2 and {a.kind for a in t.args} == {LIT, VAR}:
        return "linear"
    if t.op in ("+", "-") and all(_side(a) in ("var", "pair", "linear") for a in t.args):
        return "linear"
    return "other"


def level(cost: float) -> int:
    """A production's cost in whole enumeration levels (at least 1, so every level is finite)."""
    return max(1, round(cost))
