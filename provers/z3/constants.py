"""The constants a grammar sample draws from: the problem's own literals and a few small values.

Enumerative SyGuS solvers draw constants the same way: the literals of the constraints (and of
helper bodies) first, then small values. Nothing else of the problem is looked at.
"""

from __future__ import annotations

import random

from provers.z3.sexpr import BVLit, SExpr, Symbol
from provers.z3.sygus import SygusProblem
from provers.z3.terms import BOOL, INT, bv_width

MAX_CONSTANTS = 12
SMALL_INTS = (-2, -1, 0, 1, 2, 3, 4, 5)
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


class IntPool:
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
