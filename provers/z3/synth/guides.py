"""Learned guides for the synthesizer, fitted from verified solutions or from a model's samples.

- `PHOG` (EuPhony, Lee et al. PLDI'18, simplified): p(key | sort, parent key, argument
  position), interpolated with the PCFG p(key | sort), itself smoothed towards uniform. The
  enumerator prices each child in its parent's slot through `child_cost` (enumerate.py).
- `ModelGuide` (after Li, Parsert & Polgreen, CAV'24): a language model's sampled candidates for
  a problem, most of them wrong, still say which productions its answer uses; their counts are
  mixed with a prior guide per problem, and their subterms (invariant conjuncts) are seeds the
  search tries first.
- `Mix`: a weighted mixture of guides, p = sum w_i p_i.

`fit_guide(kind, solutions)` counts verified `(problem, candidate text)` pairs, read by the
checker's own front end. Function bodies give production keys per sort (and per slot for PHOG);
invariant bodies give the families of their conjuncts (`atom_family`), counted under the sort
`inv`, which is how the invariant search learns which atoms to try first (invariant.py).
`save_guide`/`load_guide` keep any of them as JSON with a `kind` field (mixtures nest).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from proofloop.errors import ProofloopError
from proofloop.types import Problem
from provers.z3.candidate import Rejection, extract
from provers.z3.checker import Compiled, compiled_for, front_end
from provers.z3.synth.cost import (
    INV_SORT,
    PCFG,
    Context,
    Guide,
    Uniform,
    atom_family,
    conjuncts,
    is_contextual,
    seeds_of,
    term_key,
)
from provers.z3.synth.invariant import condition_keys
from provers.z3.terms import APP, CALL, VAR, Term, postorder, substitute, term_text, var

# Seeds kept per function of a problem: the samples' bodies (or conjuncts) first, then their
# operator subterms, parents before their children (leaves are enumerated anyway).
MAX_SEEDS = 64

Slot = tuple[str, str, int]  # (sort, parent key, argument position)


def parse_solution(problem: Problem, text: str) -> tuple[Compiled, dict[str, Term]] | None:
    """The compiled problem and the elaborated body of each function of a candidate text, read
    by the checker's front end (signature, elaboration, grammar); None for a text it refuses."""
    try:
        compiled = compiled_for(problem)
        return compiled, front_end(compiled, extract(text))
    except (Rejection, ProofloopError):
        return None


@dataclass
class Counts:
    """Production keys per sort and per slot, and invariant atom families (under `INV_SORT`),
    each answer weighing the same: a function body adds 1 to each table it touches, spread over
    its nodes there (the search's own answers include precondition chains of hundreds of nodes,
    which counted node by node would make `+` and `and` all that the guide knows); an invariant
    adds 1 for each family among its conjuncts (the question the invariant search asks is which
    families an answer needs)."""

    sorts: dict[str, Counter] = field(default_factory=dict)
    slots: dict[Slot, Counter] = field(default_factory=dict)

    def add(self, compiled: Compiled, bodies: dict[str, Term]) -> None:
        keys = condition_keys(compiled) if compiled.problem.invariants else frozenset()
        for body in bodies.values():
            if compiled.problem.invariants:
                self.sorts.setdefault(INV_SORT, Counter()).update({atom_family(c, keys) for c in conjuncts(body)})
                continue
            sorts: dict[str, Counter] = {}
            slots: dict[Slot, Counter] = {}
            for node in postorder(body):
                key = term_key(node)
                sorts.setdefault(node.sort, Counter())[key] += 1
                if node.kind in (APP, CALL):
                    for i, a in enumerate(node.args):
                        slots.setdefault((a.sort, key, i), Counter())[term_key(a)] += 1
            for mine, tables in ((sorts, self.sorts), (slots, self.slots)):
                for where, counts in mine.items():
                    total = sum(counts.values())
                    table = tables.setdefault(where, Counter())
                    for key, n in counts.items():
                        table[key] += n / total

    def pcfg(self, alpha: float) -> PCFG:
        return PCFG({s: dict(c) for s, c in self.sorts.items()}, alpha)


@dataclass
class PHOG:
    """p(key | slot) for each argument slot (sort, parent key, position) seen in solutions,
    interpolated with the PCFG by Witten-Bell: a slot seen n times with t distinct keys weighs
    its own counts n / (n + t). Costs are scaled like the PCFG's (its likeliest production of the
    sort costs 1), so a key costs less where its parent makes it likelier."""

    backoff: PCFG = field(default_factory=PCFG)
    slots: dict[Slot, dict[str, float]] = field(default_factory=dict)
    name: str = "phog"
    contextual = True

    def cost(self, production: str, context: Context) -> float:
        return self.backoff.cost(production, context)

    def child_cost(self, production: str, context: Context, parent: str, position: int) -> float:
        table = self.slots.get((context.sort, parent, position))
        if not table:
            return self.backoff.cost(production, context)
        n, t = math.fsum(table.values()), len(table)
        p = (table.get(production, 0) + t * self.backoff.probability(production, context.sort)) / (n + t)
        return max(0.0, -math.log2(p)) / self.backoff.scale(context.sort)

    def to_json(self) -> dict:
        slots = [[s, parent, i, table] for (s, parent, i), table in sorted(self.slots.items())]
        return {"kind": "phog", "backoff": self.backoff.to_json(), "slots": slots}

    @classmethod
    def from_json(cls, data: dict) -> PHOG:
        slots = {(s, parent, int(i)): {k: float(v) for k, v in table.items()} for s, parent, i, table in data["slots"]}
        return cls(PCFG.from_json(data["backoff"]), slots)


def mixed(costs: list[float], weights: list[float]) -> float:
    """-log2 sum w_i 2^-cost_i, the weights normalised to sum 1."""
    total = sum(weights)
    return -math.log2(sum(w / total * 2.0**-c for c, w in zip(costs, weights)))


def child_cost(guide: Guide, production: str, context: Context, parent: str, position: int) -> float:
    """A production's cost in an argument slot: the guide's `child_cost`, or its plain cost."""
    if is_contextual(guide):
        return guide.child_cost(production, context, parent, position)  # type: ignore[attr-defined]
    return guide.cost(production, context)


@dataclass
class Mix:
    """p = sum w_i p_i over the guides (weights normalised); seeds are the union of theirs."""

    guides: list = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    name: str = "mix"

    @property
    def contextual(self) -> bool:
        return any(is_contextual(g) for g in self.guides)

    def cost(self, production: str, context: Context) -> float:
        return mixed([g.cost(production, context) for g in self.guides], self.weights)

    def child_cost(self, production: str, context: Context, parent: str, position: int) -> float:
        return mixed([child_cost(g, production, context, parent, position) for g in self.guides], self.weights)

    def seeds(self, problem_id: str) -> dict[str, list[Term]]:
        out: dict[str, list[Term]] = {}
        for g in self.guides:
            for function, terms in seeds_of(g, problem_id).items():
                out[function] = _distinct(out.get(function, []) + terms)
        return out

    def to_json(self) -> dict:
        return {"kind": "mix", "weights": list(self.weights), "guides": [g.to_json() for g in self.guides]}

    @classmethod
    def from_json(cls, data: dict) -> Mix:
        return cls([guide_from_json(g) for g in data["guides"]], [float(w) for w in data["weights"]])


@dataclass
class ModelGuide:
    """Per problem, the production counts of a model's parsable samples (a PCFG of that problem)
    mixed with `prior`: cost = -log2(w p_problem + (1 - w) p_prior), p = 2^-cost; the prior alone
    for a problem (or sort) its samples say nothing about. Seeds: the samples' bodies and their
    subterms (function synthesis), or their conjuncts (invariants), per function."""

    prior: Guide = field(default_factory=Uniform)
    weight: float = 0.5
    tables: dict[str, PCFG] = field(default_factory=dict)
    seed_terms: dict[str, dict[str, list[Term]]] = field(default_factory=dict)
    name: str = "model"

    @classmethod
    def from_samples(
        cls, samples: dict[str, tuple[Problem, list[str]]], prior: Guide, weight: float = 0.5, alpha: float = 1.0
    ) -> ModelGuide:
        tables: dict[str, PCFG] = {}
        seed_terms: dict[str, dict[str, list[Term]]] = {}
        for problem_id, (problem, texts) in samples.items():
            counts = Counts()
            whole: dict[str, list[Term]] = {}  # bodies, or an invariant's conjuncts
            inner: dict[str, list[Term]] = {}  # the bodies' operator subterms
            for text in texts:
                parsed = parse_solution(problem, text)
                if parsed is None:
                    continue
                compiled, bodies = parsed
                counts.add(compiled, bodies)
                for function, body in bodies.items():
                    body = _renamed(body, compiled.problem.synth_fun(function).params)
                    if compiled.problem.invariants:
                        whole.setdefault(function, []).extend(conjuncts(body))
                    else:
                        whole.setdefault(function, []).append(body)
                        below = [n for n in reversed(postorder(body)) if n.kind in (APP, CALL) and n is not body]
                        inner.setdefault(function, []).extend(below)
            if counts.sorts:
                tables[problem_id] = counts.pcfg(alpha)
                seed_terms[problem_id] = {f: _distinct(ts + inner.get(f, []))[:MAX_SEEDS] for f, ts in whole.items()}
        return cls(prior, weight, tables, seed_terms)

    @property
    def contextual(self) -> bool:
        return is_contextual(self.prior)

    def _mix(self, production: str, context: Context, prior: float) -> float:
        table = self.tables.get(context.problem_id)
        if table is None or not table.counts.get(context.sort):
            return prior
        return mixed([table.cost(production, context), prior], [self.weight, 1 - self.weight])

    def cost(self, production: str, context: Context) -> float:
        return self._mix(production, context, self.prior.cost(production, context))

    def child_cost(self, production: str, context: Context, parent: str, position: int) -> float:
        return self._mix(production, context, child_cost(self.prior, production, context, parent, position))

    def seeds(self, problem_id: str) -> dict[str, list[Term]]:
        return self.seed_terms.get(problem_id, {})

    def to_json(self) -> dict:
        return {
            "kind": "model", "weight": self.weight, "prior": self.prior.to_json(),  # type: ignore[attr-defined]
            "tables": {p: t.to_json() for p, t in self.tables.items()},
            "seeds": {p: {f: [term_json(t) for t in ts] for f, ts in s.items()} for p, s in self.seed_terms.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> ModelGuide:
        return cls(
            guide_from_json(data["prior"]), float(data["weight"]),
            {p: PCFG.from_json(t) for p, t in data["tables"].items()},
            {p: {f: [term_from_json(t) for t in ts] for f, ts in s.items()} for p, s in data["seeds"].items()},
        )


def _renamed(body: Term, params) -> Term:
    """`body` with its parameters named as the problem names them (a sample may rename them, and
    a seed becomes part of an answer printed with the problem's names)."""

    def rename(node: Term, _) -> Term | None:
        if node.kind == VAR and node.value is not None:
            return var(params[node.value][0], node.sort, node.value)
        return None

    return substitute(body, rename)


def _distinct(terms: Iterable[Term]) -> list[Term]:
    seen: set[tuple[str, str]] = set()
    out = []
    for t in terms:
        key = (t.sort, term_text(t, limit=None))
        if key not in seen:
            seen.add(key)
            out.append(t)
    return out


def term_json(t: Term) -> list:
    value = list(t.value) if isinstance(t.value, tuple) else t.value
    return [t.kind, t.op, t.sort, value, [term_json(a) for a in t.args]]


def term_from_json(data: list) -> Term:
    kind, op, sort, value, args = data
    children = tuple(term_from_json(a) for a in args)
    t = Term(kind, op, children, sort, tuple(value) if isinstance(value, list) else value)
    t.depth = 1 + max(a.depth for a in children) if children else 0
    return t


def fit_guide(kind: str, solutions: Iterable[tuple[Problem, str]], *, alpha: float = 1.0) -> Guide:
    """A guide of `kind` (uniform, pcfg, phog) fitted on verified (problem, candidate text) pairs;
    texts the front end refuses are skipped."""
    if kind == "uniform":
        return Uniform()
    counts = Counts()
    for problem, text in solutions:
        parsed = parse_solution(problem, text)
        if parsed is not None:
            counts.add(*parsed)
    if kind == "pcfg":
        return counts.pcfg(alpha)
    if kind == "phog":
        return PHOG(counts.pcfg(alpha), {s: dict(c) for s, c in counts.slots.items()})
    raise ValueError(f"unknown guide kind {kind!r} (uniform, pcfg, phog)")


_KINDS = {
    "uniform": lambda data: Uniform(),
    "pcfg": PCFG.from_json,
    "phog": PHOG.from_json,
    "model": ModelGuide.from_json,
    "mix": Mix.from_json,
}


def guide_from_json(data: dict) -> Guide:
    # PCFG files written before guides had kinds hold only its counts.
    return _KINDS[data.get("kind", "pcfg")](data)


def save_guide(guide: Guide, path: Path) -> None:
    Path(path).write_text(json.dumps(guide.to_json(), indent=1, sort_keys=True))  # type: ignore[attr-defined]


def load_guide(path: Path) -> Guide:
    return guide_from_json(json.loads(Path(path).read_text()))
