"""Value vectors: terms evaluated at many points at once with numpy.

Integers are int64 (overflow wraps silently: a vector is only ever used to prune and to rank
candidates, never to accept one; Z3 decides every answer), Booleans are bool arrays, bit-vectors
of up to 64 bits uint64 arrays kept reduced to their width. Division and modulus follow SMT-LIB
(Euclidean, the remainder is never negative); integer division by zero, which SMT-LIB leaves
unspecified, gives 0 here, again only a heuristic; bit-vector division by zero is SMT-LIB's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from provers.z3.terms import APP, BOOL, CALL, INT, LIT, VAR, Term, bv_width, postorder

INT_DTYPE = np.int64


class Unsupported(Exception):
    """A term this evaluator has no numpy meaning for (bit-vectors, unknown operators)."""


BV_DTYPE = np.uint64
MAX_BV_WIDTH = 64


def dtype_of(sort: str):
    if sort == BOOL:
        return bool
    if sort == INT:
        return INT_DTYPE
    width = bv_width(sort)
    if width is not None and width <= MAX_BV_WIDTH:
        return BV_DTYPE
    raise Unsupported(f"sort {sort}")


def constant(value, sort: str, n: int) -> np.ndarray:
    dtype = dtype_of(sort)
    if dtype is bool:
        return np.full(n, bool(value), dtype=bool)
    return np.full(n, int(value), dtype=dtype)


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


def apply(op: str, args: list[np.ndarray], sort: str = INT, arg_sort: str = INT, indices: tuple = ()) -> np.ndarray:
    """`op` on value vectors; `sort` is the result's sort and `arg_sort` the first argument's."""
    width = bv_width(arg_sort) if arg_sort not in (INT, BOOL) else None
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        if width is not None or op in BV_OPS:
            if width is None or width > MAX_BV_WIDTH:
                raise Unsupported(f"operator {op} on {arg_sort}")
            return _bv(op, args, width, sort, indices)
        fn = OPS.get(op)
        if fn is None:
            raise Unsupported(f"operator {op}")
        return fn(args)


def _mask(width: int) -> np.uint64:
    return np.uint64((1 << width) - 1)


def _signed(a: np.ndarray, width: int) -> np.ndarray:
    s = a.astype(np.int64)
    if width < 64:
        s = np.where(s >= (1 << (width - 1)), s - (1 << width), s)
    return s


def _shift_amount(b: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    big = b >= np.uint64(width)
    return big, np.where(big, np.uint64(0), b)


def _udiv(a, b, m):
    zero = b == 0
    return np.where(zero, m, a // np.where(zero, np.uint64(1), b))


def _urem(a, b):
    zero = b == 0
    return np.where(zero, a, a % np.where(zero, np.uint64(1), b))


def _sdiv_trunc(sa, sb):
    zero = sb == 0
    safe = np.where(zero, 1, sb)
    q = np.abs(sa) // np.abs(safe) * np.sign(sa) * np.sign(safe)
    return np.where(zero, np.where(sa < 0, 1, -1), q)


def _bv(op: str, a: list[np.ndarray], w: int, sort: str, ix: tuple) -> np.ndarray:
    m = _mask(w)
    if op in ("=", "distinct", "ite"):
        return OPS[op](a)
    if op == "bvnot":
        return ~a[0] & m
    if op == "bvneg":
        return (np.uint64(0) - a[0]) & m
    if op in ("bvadd", "bvmul", "bvand", "bvor", "bvxor"):
        fn = {"bvadd": np.add, "bvmul": np.multiply, "bvand": np.bitwise_and,
              "bvor": np.bitwise_or, "bvxor": np.bitwise_xor}[op]
        return _left(a, fn) & m
    x, y = a[0], a[1] if len(a) > 1 else None
    if op == "bvsub":
        return (x - y) & m
    if op in ("bvnand", "bvnor", "bvxnor"):
        fn = {"bvnand": np.bitwise_and, "bvnor": np.bitwise_or, "bvxnor": np.bitwise_xor}[op]
        return ~fn(x, y) & m
    if op == "bvudiv":
        return _udiv(x, y, m)
    if op == "bvurem":
        return _urem(x, y)
    if op == "bvshl":
        big, k = _shift_amount(y, w)
        return np.where(big, np.uint64(0), (x << k) & m)
    if op == "bvlshr":
        big, k = _shift_amount(y, w)
        return np.where(big, np.uint64(0), x >> k)
    if op == "bvashr":
        big, k = _shift_amount(y, w)
        k = np.where(big, np.uint64(w - 1), k).astype(np.int64)
        return (_signed(x, w) >> k).astype(np.uint64) & m
    if op in ("bvsdiv", "bvsrem", "bvsmod"):
        sx, sy = _signed(x, w), _signed(y, w)
        q = _sdiv_trunc(sx, sy)
        if op == "bvsdiv":
            return q.astype(np.uint64) & m
        r = np.where(sy == 0, sx, sx - q * np.where(sy == 0, 1, sy))
        if op == "bvsmod":
            r = np.where((r != 0) & ((r < 0) != (sy < 0)) & (sy != 0), r + sy, r)
        return r.astype(np.uint64) & m
    if op in ("bvult", "bvule", "bvugt", "bvuge"):
        return {"bvult": np.less, "bvule": np.less_equal, "bvugt": np.greater, "bvuge": np.greater_equal}[op](x, y)
    if op in ("bvslt", "bvsle", "bvsgt", "bvsge"):
        fn = {"bvslt": np.less, "bvsle": np.less_equal, "bvsgt": np.greater, "bvsge": np.greater_equal}[op]
        return fn(_signed(x, w), _signed(y, w))
    out_w = bv_width(sort)
    if op == "extract":
        return (x >> np.uint64(ix[1])) & _mask(out_w)
    if op == "zero_extend":
        return x
    if op == "sign_extend":
        return _signed(x, w).astype(np.uint64) & _mask(out_w)
    raise Unsupported(f"operator {op}")


BV_OPS = {
    "bvnot", "bvneg", "bvadd", "bvmul", "bvand", "bvor", "bvxor", "bvsub", "bvnand", "bvnor", "bvxnor",
    "bvudiv", "bvurem", "bvshl", "bvlshr", "bvashr", "bvsdiv", "bvsrem", "bvsmod", "bvult", "bvule",
    "bvugt", "bvuge", "bvslt", "bvsle", "bvsgt", "bvsge", "extract", "zero_extend", "sign_extend",
}


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
            arg_sort = node.args[-1].sort if node.op == "ite" else node.args[0].sort
            out = apply(node.op, [memo[id(a)] for a in node.args], node.sort, arg_sort, node.value or ())
        elif kind == CALL:
            out = call(node, [memo[id(a)] for a in node.args])
        else:
            raise Unsupported(f"term kind {kind}")
        memo[key] = out
    return memo[id(root)]


def key_of(vec: np.ndarray) -> bytes:
    """A hashable key of a value vector (observational equivalence)."""
    return vec.tobytes()
