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
nonterminal standing for another.
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
from provers.z3.terms import APP, CALL, LIT, VAR, Term, postorder


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


@dataclass
class PCFG:
    """A probabilistic grammar over production keys per sort, fitted from solutions.

    p(key | sort) = (count + alpha) / (total + alpha * (known + 1)), so a key never seen keeps a
    share of the mass; cost = -log2 p, scaled so that the most likely production costs about 1.
    """

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
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
        total = sum(table.values())
        return (table.get(production, 0) + self.alpha) / (total + self.alpha * (len(table) + 1))

    def cost(self, production: str, context: Context) -> float:
        table = self.counts.get(context.sort, {})
        if not table:
            return 1.0
        best = max(self.probability(k, context.sort) for k in table)
        return max(0.0, -math.log2(self.probability(production, context.sort))) / max(-math.log2(best), 1e-9)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"alpha": self.alpha, "counts": self.counts}, indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: Path) -> PCFG:
        data = json.loads(Path(path).read_text())
        return cls({s: {k: int(v) for k, v in t.items()} for s, t in data["counts"].items()}, float(data["alpha"]))


def level(cost: float) -> int:
    """A production's cost in whole enumeration levels (at least 1, so every level is finite)."""
    return max(1, round(cost))
