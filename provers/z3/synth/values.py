"""Value vectors: terms evaluated at many points at once with numpy.

Integers are int64 (overflow wraps silently: a vector is only ever used to prune and to rank
candidates, never to accept one; Z3 decides every answer), Booleans are bool arrays. Division
and modulus follow SMT-LIB (Euclidean, the remainder is never negative); division by zero,
which SMT-LIB leaves unspecified, gives 0 here, again only a heuristic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from provers.z3.terms import APP, BOOL, CALL, INT, LIT, VAR, Term, postorder

INT_DTYPE = np.int64


class Unsupported(Exception):
    """A term this evaluator has no numpy meaning for (bit-vectors, unknown operators)."""


def constant(value, sort: str, n: int) -> np.ndarray:
    if sort == BOOL:
        return np.full(n, bool(value), dtype=bool)
    if sort == INT:
        return np.full(n, int(value), dtype=INT_DTYPE)
    raise Unsupported(f"sort {sort}")


def _chain(args, rel):
    out = rel(args[0], args[1])
    for a, b in zip(args[1:], args[2:]):
        out = out & rel(a, b)
    return out


def _left(args, fn):
    out = args[0]
    for a in args[1:]:
        out = fn(out, a)
    return out


def _div(a, b):
    safe = np.where(b == 0, 1, b)
    q = np.floor_divide(a, np.abs(safe)) * np.sign(safe)
    return np.where(b == 0, 0, q)


def _mod(a, b):
    safe = np.where(b == 0, 1, b)
    return np.where(b == 0, 0, np.mod(a, np.abs(safe)))


def _implies(args):
    out = args[-1]
    for a in reversed(args[:-1]):
        out = ~a | out
    return out


OPS: dict[str, Callable[[list[np.ndarray]], np.ndarray]] = {
    "not": lambda a: ~a[0],
    "and": lambda a: _left(a, np.logical_and),
    "or": lambda a: _left(a, np.logical_or),
    "xor": lambda a: _left(a, np.logical_xor),
    "=>": _implies,
    "=": lambda a: _chain(a, np.equal),
    "distinct": lambda a: np.logical_and.reduce([a[i] != a[j] for i in range(len(a)) for j in range(i + 1, len(a))]),
    "ite": lambda a: np.where(a[0], a[1], a[2]),
    "+": lambda a: _left(a, np.add),
    "-": lambda a: -a[0] if len(a) == 1 else _left(a, np.subtract),
    "*": lambda a: _left(a, np.multiply),
    "div": lambda a: _div(a[0], a[1]),
    "mod": lambda a: _mod(a[0], a[1]),
    "abs": lambda a: np.abs(a[0]),
    "<": lambda a: _chain(a, np.less),
    "<=": lambda a: _chain(a, np.less_equal),
    ">": lambda a: _chain(a, np.greater),
    ">=": lambda a: _chain(a, np.greater_equal),
}


def apply(op: str, args: list[np.ndarray]) -> np.ndarray:
    fn = OPS.get(op)
    if fn is None:
        raise Unsupported(f"operator {op}")
    with np.errstate(over="ignore"):
        return fn(args)


def evaluate(
    root: Term,
    n: int,
    leaf: Callable[[Term], np.ndarray],
    call: Callable[[Term, list[np.ndarray]], np.ndarray],
    memo: dict[int, np.ndarray] | None = None,
) -> np.ndarray:
    """The value vector of `root`: `leaf` gives VAR nodes, `call` CALL nodes; `memo` is shared by id."""
    memo = {} if memo is None else memo
    for node in postorder(root):
        key = id(node)
        if key in memo:
            continue
        kind = node.kind
        if kind == LIT:
            out = constant(node.value, node.sort, n)
        elif kind == VAR:
            out = leaf(node)
        elif kind == APP:
            if node.value:
                raise Unsupported(f"indexed operator {node.op}")
            out = apply(node.op, [memo[id(a)] for a in node.args])
        elif kind == CALL:
            out = call(node, [memo[id(a)] for a in node.args])
        else:
            raise Unsupported(f"term kind {kind}")
        memo[key] = out
    return memo[id(root)]


def key_of(vec: np.ndarray) -> bytes:
    """A hashable key of a value vector (observational equivalence)."""
    return vec.tobytes()
