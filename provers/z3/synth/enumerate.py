"""Bottom-up enumeration with observational equivalence (Transit, EUSolver).

Terms are built level by level, a level being a cost (see cost.py): level c of nonterminal N
holds the terms of N whose productions cost c in all. Each term carries its value vector on
the inputs (the points the search has seen); a term whose vector an earlier term of N already
has is dropped, so every nonterminal keeps one term per behaviour. Operators are applied to
whole blocks of vectors at once with numpy.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from provers.z3.grammar import Rules
from provers.z3.synth.cost import Context, Guide, level, production_key
from provers.z3.synth.values import Unsupported, apply, constant
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
        self.productions: list[tuple[str, int, object, int]] = []  # (nt, index, production, level)
        for nt in rules.sorts:
            for i, p in enumerate(rules.productions.get(nt, ())):
                if (nt, i) in exclude:
                    continue
                ctx = Context(context.problem_id, context.function, nt, rules.sorts[nt])
                cost = 0 if p.kind == "chain" else level(guide.cost(production_key(p), ctx))
                self.productions.append((nt, i, p, cost))

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
        for split in _splits(budget, [sorted(self.blocks[ch]) for ch in children]):
            if time.perf_counter() > self.deadline:
                raise OutOfTime()
            blocks = [self.blocks[ch][lv] for ch, lv in zip(children, split)]
            self._combine(nt, kind, op, sort, blocks, new)

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
