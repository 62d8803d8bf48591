"""Bottom-up enumeration with observational equivalence (Transit, EUSolver).

Terms are built level by level, a level being a cost (see cost.py): level c of nonterminal N
holds the terms of N whose productions cost c in all. Each term carries its value vector on
the inputs (the points the search has seen); a term whose vector an earlier term of N already
has is dropped, so every nonterminal keeps one term per behaviour. Operators are applied to
whole blocks of vectors at once with numpy.

With a contextual guide (cost.py: `child_cost`) a term's cost depends on where it is used: a
child whose root production has key k counts, as argument i of a production p, at its stored
level plus the shift level(child_cost(k | p, i)) - root_level(k). A term is stored at
root_level(k), the cheapest level of k in any context of the grammar, so shifts are never
negative and every term is still built after its children (bottom-up order). `_view` gives a
child nonterminal's blocks as one argument slot sees them: each stored block split by root key
and the parts merged on their shifted levels; a shifted level is complete once the stored
levels up to it are, that is below the level being built. A term's level is then its root's
root level plus, for every other node, its cost in its parent's slot (EuPhony's PHOG costs on
a bottom-up search). Guides without `child_cost` (Uniform, PCFG) take none of this path.

A guide's seeds (a model's sampled subterms, see guides.py) join level 1 of the nonterminals
they are given for, next to the leaves.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from provers.z3.grammar import Rules
from provers.z3.synth.cost import (
    Context,
    Guide,
    is_contextual,
    level,
    production_key,
    term_key,
)
from provers.z3.synth.values import Unsupported, apply, constant, evaluate
from provers.z3.terms import CALL, Term, lit, var


class OutOfTime(Exception):
    """The search's deadline passed."""


class OutOfSpace(Exception):
    """The enumerator holds as many vectors as its memory bound allows."""


@dataclass
class Block:
    """Terms of one nonterminal at one level, with their vectors as the rows of a matrix."""

    terms: list[Term] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    _matrix: np.ndarray | None = None

    def matrix(self) -> np.ndarray:
        if self._matrix is None or len(self._matrix) != len(self.rows):
            self._matrix = np.stack(self.rows) if self.rows else None
        return self._matrix


@dataclass
class View:
    """A nonterminal's terms on the levels one argument slot sees them at (see `Enumerator._view`)."""

    blocks: dict[int, Block] = field(default_factory=dict)
    done: int = 0  # stored levels up to this one are distributed


class Enumerator:
    """Terms of `rules` over `inputs` (one vector per parameter), cheapest level first."""

    def __init__(
        self,
        rules: Rules,
        params: tuple[tuple[str, str], ...],
        inputs: list[np.ndarray],
        width: int,
        guide: Guide,
        context: Context,
        constants: dict[str, list],
        *,
        exclude: frozenset[tuple[str, int]] = frozenset(),
        deadline: float = float("inf"),
        max_cells: int = 50_000_000,
        call: Callable[[str, list[np.ndarray], int], np.ndarray] | None = None,
        seeds: Iterable[tuple[str, Term]] = (),
    ):
        self.rules = rules
        self.params = params
        self.inputs = inputs
        self.width = width
        self.deadline = deadline
        self.max_cells = max_cells
        self.call = call
        self.constants = constants
        self.level = 0
        self.count = 0  # terms kept
        self.tried = 0  # terms built (kept or pruned)
        self.blocks: dict[str, dict[int, Block]] = {nt: {} for nt in rules.sorts}
        self.seen: dict[str, set[bytes]] = {nt: set() for nt in rules.sorts}
        self.seeds = list(seeds)  # (nonterminal, term): joins that nonterminal's level 1
        self.guide = guide
        self.context = context
        self.contextual = is_contextual(guide)
        kept = [
            (nt, i, p)
            for nt in rules.sorts
            for i, p in enumerate(rules.productions.get(nt, ()))
            if (nt, i) not in exclude
        ]
        if self.contextual:
            # Every argument slot (child nonterminal, parent key, position) and the root keys the
            # terms of each sort may have, to price each key in each slot once.
            self._slots = sorted(
                {(ch, production_key(p), k) for _, _, p in kept if p.kind == "app" for k, ch in enumerate(p.children)}
            )
            keys: dict[str, set[str]] = {}
            for nt, _, p in kept:
                if p.kind != "chain":
                    keys.setdefault(rules.sorts[nt], set()).add(production_key(p))
            for nt, t in self.seeds:
                keys.setdefault(rules.sorts[nt], set()).add(term_key(t))
            self._root_levels = {(k, s): self._cheapest(k, s) for s, ks in keys.items() for k in ks}
            self._shifts: dict[tuple[str, str, int], dict[str, int]] = {}
            for ch, parent, k in self._slots:
                sort = rules.sorts[ch]
                self._shifts[(ch, parent, k)] = {
                    key: level(guide.child_cost(key, self._ctx(ch), parent, k)) - self._root_levels[(key, sort)]
                    for key in keys.get(sort, ())
                }
            self._views: dict[tuple, View] = {}
        self.productions: list[tuple[str, int, object, int]] = []  # (nt, index, production, level)
        for nt, i, p in kept:
            if p.kind == "chain":
                cost = 0
            elif self.contextual:
                cost = self._root_levels[(production_key(p), rules.sorts[nt])]
            else:
                cost = level(guide.cost(production_key(p), self._ctx(nt)))
            self.productions.append((nt, i, p, cost))

    def _ctx(self, nt: str) -> Context:
        return Context(self.context.problem_id, self.context.function, nt, self.rules.sorts[nt])

    def _cheapest(self, key: str, sort: str) -> int:
        """The level a term of root `key` and `sort` is stored at under a contextual guide: its
        cheapest level, in no context or in any argument slot of the grammar."""
        nts = [nt for nt, s in self.rules.sorts.items() if s == sort]
        plain = [level(self.guide.cost(key, self._ctx(nt))) for nt in nts]
        slots = [level(self.guide.child_cost(key, self._ctx(ch), parent, k)) for ch, parent, k in self._slots if ch in nts]
        return min(plain + slots)

    # -- levels ------------------------------------------------------------------------------

    def levels(self, nt: str) -> dict[int, Block]:
        return self.blocks[nt]

    def terms(self, nt: str) -> list[tuple[Term, np.ndarray, int]]:
        """Every kept term of `nt` with its vector and level, cheapest first."""
        out = []
        for c in sorted(self.blocks[nt]):
            b = self.blocks[nt][c]
            out.extend((t, r, c) for t, r in zip(b.terms, b.rows))
        return out

    def grow(self) -> dict[str, list[tuple[Term, np.ndarray]]]:
        """Build the next level; returns its new terms per nonterminal."""
        self.level += 1
        c = self.level
        new: dict[str, Block] = {}
        for nt, _, p, cost in self.productions:
            if p.kind == "chain" or cost > c:
                continue
            if p.kind == "app":
                self._apps(nt, p, c - cost, new)
            elif cost == c:
                self.add_leaves(nt, p, new)
        if c == 1:
            for nt, t in self.seeds:
                self._add_seed(nt, t, new)
        self._chains(new)
        for nt, block in new.items():
            self.blocks[nt][c] = block
        return {nt: list(zip(b.terms, b.rows)) for nt, b in new.items()}

    def _add(self, nt: str, term: Term, row: np.ndarray, new: dict[str, Block]) -> bool:
        self.tried += 1
        key = row.tobytes()
        seen = self.seen[nt]
        if key in seen:
            return False
        seen.add(key)
        block = new.setdefault(nt, Block())
        block.terms.append(term)
        block.rows.append(row)
        self.count += 1
        if self.count * max(self.width, 1) > self.max_cells:
            raise OutOfSpace(f"{self.count} terms of {self.width} values")
        return True

    def add_leaves(self, nt: str, p, new: dict[str, Block]) -> None:
        sort = self.rules.sorts[nt]
        if p.kind == "param":
            self._add(nt, var(self.params[p.payload][0], sort, p.payload), self.inputs[p.payload], new)
        elif p.kind == "lit":
            value, s = p.payload
            self._add(nt, lit(value, s), constant(value, s, self.width), new)
        elif p.kind == "anyconst":
            for value in self.constants.get(p.payload, []):
                self._add(nt, lit(value, p.payload), constant(value, p.payload, self.width), new)
        elif p.kind == "anyvar":
            for i, (name, s) in enumerate(self.params):
                if s == p.payload:
                    self._add(nt, var(name, s, i), self.inputs[i], new)

    def _add_seed(self, nt: str, term: Term, new: dict[str, Block]) -> None:
        def call(node: Term, args: list[np.ndarray]) -> np.ndarray:
            if self.call is None:
                raise Unsupported(f"call to {node.op}")
            return self.call(node.op, args, self.width)

        def leaf(node: Term) -> np.ndarray:
            if node.value is None:
                raise Unsupported("declared variable in a seed")
            return self.inputs[node.value]

        try:
            row = evaluate(term, self.width, leaf, call)
        except (Unsupported, ArithmeticError):
            return  # a seed the vectors cannot evaluate is left out, as its terms would be
        self._add(nt, term, row, new)

    def _chains(self, new: dict[str, Block]) -> None:
        consumed: dict[tuple[str, str], int] = {}
        changed = True
        while changed:
            changed = False
            for nt, _, p, _ in self.productions:
                if p.kind != "chain" or p.payload not in new:
                    continue
                src = new[p.payload]
                first, last = consumed.get((nt, p.payload), 0), len(src.terms)
                for k in range(first, last):
                    changed |= self._add(nt, src.terms[k], src.rows[k], new)
                consumed[(nt, p.payload)] = last

    def _apps(self, nt: str, p, budget: int, new: dict[str, Block]) -> None:
        children = p.children
        kind, op, indices = p.payload
        sort = self.rules.sorts[nt]
        self._typing = (sort, self.rules.sorts[children[-1] if op == "ite" else children[0]], indices or ())
        if self.contextual:
            views = [self._view(ch, production_key(p), k) for k, ch in enumerate(children)]
        else:
            views = [self.blocks[ch] for ch in children]
        for split in _splits(budget, [sorted(v) for v in views]):
            if time.perf_counter() > self.deadline:
                raise OutOfTime()
            blocks = [v[lv] for v, lv in zip(views, split)]
            self._combine(nt, kind, op, sort, blocks, new)

    def _view(self, ch: str, parent: str, position: int) -> dict[int, Block]:
        """The complete levels of `ch` as argument `position` of `parent` sees them (see the module
        docstring); slots that shift the same keys by the same amounts share one view."""
        shifts = self._shifts[(ch, parent, position)]
        moved = tuple(sorted((k, d) for k, d in shifts.items() if d))
        if not moved:
            return self.blocks[ch]
        view = self._views.setdefault((ch, moved), View())
        for stored in sorted(self.blocks[ch]):
            if view.done < stored < self.level:
                block = self.blocks[ch][stored]
                for t, row in zip(block.terms, block.rows):
                    b = view.blocks.setdefault(stored + shifts[term_key(t)], Block())
                    b.terms.append(t)
                    b.rows.append(row)
        view.done = self.level - 1
        return {lv: b for lv, b in view.blocks.items() if lv < self.level}

    def _combine(self, nt, kind, op, sort, blocks: list[Block], new) -> None:
        mats = [b.matrix() for b in blocks]
        w = self.width
        if len(blocks) == 1:
            result = self._op(kind, op, [mats[0]], w)
            for i in range(len(blocks[0].terms)):
                self._add(nt, _node(kind, op, (blocks[0].terms[i],), sort, self._typing[2]), result[i], new)
            return
        if len(blocks) == 2:
            a, b = mats
            for lo in range(0, len(a), max(1, 20000 // max(len(b), 1))):
                chunk = a[lo : lo + max(1, 20000 // max(len(b), 1))]
                result = self._op(kind, op, [chunk[:, None, :], b[None, :, :]], w)
                result = np.broadcast_to(result, (len(chunk), len(b), w))
                for i in range(len(chunk)):
                    ti = blocks[0].terms[lo + i]
                    for j in range(len(b)):
                        self._add(nt, _node(kind, op, (ti, blocks[1].terms[j]), sort, self._typing[2]), result[i, j], new)
                if time.perf_counter() > self.deadline:
                    raise OutOfTime()
            return
        first, rest = blocks[0], blocks[1:]
        for combo in itertools.product(*[range(len(b.terms)) for b in rest]):
            rows = [b.rows[k] for b, k in zip(rest, combo)]
            terms = tuple(b.terms[k] for b, k in zip(rest, combo))
            result = self._op(kind, op, [mats[0], *[r[None, :] for r in rows]], w)
            result = np.broadcast_to(result, (len(first.terms), w))
            for i, t in enumerate(first.terms):
                self._add(nt, _node(kind, op, (t, *terms), sort, self._typing[2]), result[i], new)
            if time.perf_counter() > self.deadline:
                raise OutOfTime()

    def _op(self, kind: int, op: str, args: list[np.ndarray], w: int) -> np.ndarray:
        if kind == CALL:
            if self.call is None:
                raise Unsupported(f"call to {op}")
            return self.call(op, args, w)
        sort, arg_sort, indices = self._typing
        return apply(op, args, sort, arg_sort, indices)


def _node(kind: int, op: str, args: tuple[Term, ...], sort: str, indices: tuple = ()) -> Term:
    t = Term(kind, op, args, sort, indices)
    t.depth = 1 + max(a.depth for a in args)
    return t


def _splits(total: int, available: list[list[int]]):
    """Every tuple of child levels, one from each list, that sums to `total`."""
    if not available:
        return
    if len(available) == 1:
        if total in available[0]:
            yield (total,)
        return
    rest_min = sum(lv[0] if lv else 10**9 for lv in available[1:])
    for first in available[0]:
        if first + rest_min > total:
            break
        for tail in _splits(total - first, available[1:]):
            yield (first, *tail)
