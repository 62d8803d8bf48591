"""Rebuilding elaborated terms as Z3 terms in a given context.

The common operators go straight to the C API: z3py's operator wrappers re-check and coerce
every argument, which dominated the cost of rebuilding a candidate. The rest use z3py.
"""

from __future__ import annotations

from typing import Callable

import z3
from z3 import z3core
from z3.z3 import _to_expr_ref

from provers.z3.terms import (
    APP,
    BOOL,
    CALL,
    INT,
    LIT,
    VAR,
    Term,
    bv_width,
    postorder,
    term_text,
)


def z3_sort(sort: str, ctx: z3.Context) -> z3.SortRef:
    if sort == INT:
        return z3.IntSort(ctx)
    if sort == BOOL:
        return z3.BoolSort(ctx)
    width = bv_width(sort)
    if width is None:
        raise ValueError(f"no Z3 sort for {sort}")
    return z3.BitVecSort(width, ctx)


def _chain(args, rel):
    pairs = [rel(a, b) for a, b in zip(args, args[1:])]
    return pairs[0] if len(pairs) == 1 else z3.And(*pairs)


def _left(args, fn):
    out = args[0]
    for arg in args[1:]:
        out = fn(out, arg)
    return out


def _right(args, fn):
    out = args[-1]
    for arg in reversed(args[:-1]):
        out = fn(arg, out)
    return out


Z3_OPS: dict[str, Callable] = {
    "not": lambda a, ix: z3.Not(a[0]),
    "and": lambda a, ix: a[0] if len(a) == 1 else z3.And(*a),
    "or": lambda a, ix: a[0] if len(a) == 1 else z3.Or(*a),
    "xor": lambda a, ix: _left(a, z3.Xor),
    "=>": lambda a, ix: _right(a, z3.Implies),
    "=": lambda a, ix: _chain(a, lambda x, y: x == y),
    "distinct": lambda a, ix: z3.Distinct(*a),
    "ite": lambda a, ix: z3.If(a[0], a[1], a[2]),
    "+": lambda a, ix: z3.Sum(*a),
    "-": lambda a, ix: -a[0] if len(a) == 1 else _left(a, lambda x, y: x - y),
    "*": lambda a, ix: z3.Product(*a),
    "div": lambda a, ix: a[0] / a[1],
    "mod": lambda a, ix: a[0] % a[1],
    "abs": lambda a, ix: z3.If(a[0] < 0, -a[0], a[0]),
    "<": lambda a, ix: _chain(a, lambda x, y: x < y),
    "<=": lambda a, ix: _chain(a, lambda x, y: x <= y),
    ">": lambda a, ix: _chain(a, lambda x, y: x > y),
    ">=": lambda a, ix: _chain(a, lambda x, y: x >= y),
    "bvnot": lambda a, ix: ~a[0],
    "bvneg": lambda a, ix: -a[0],
    "bvand": lambda a, ix: _left(a, lambda x, y: x & y),
    "bvor": lambda a, ix: _left(a, lambda x, y: x | y),
    "bvxor": lambda a, ix: _left(a, lambda x, y: x ^ y),
    "bvadd": lambda a, ix: _left(a, lambda x, y: x + y),
    "bvmul": lambda a, ix: _left(a, lambda x, y: x * y),
    "bvsub": lambda a, ix: a[0] - a[1],
    "bvudiv": lambda a, ix: z3.UDiv(a[0], a[1]),
    "bvurem": lambda a, ix: z3.URem(a[0], a[1]),
    "bvsdiv": lambda a, ix: a[0] / a[1],
    "bvsrem": lambda a, ix: z3.SRem(a[0], a[1]),
    "bvsmod": lambda a, ix: a[0] % a[1],
    "bvshl": lambda a, ix: a[0] << a[1],
    "bvlshr": lambda a, ix: z3.LShR(a[0], a[1]),
    "bvashr": lambda a, ix: a[0] >> a[1],
    "bvnand": lambda a, ix: ~(a[0] & a[1]),
    "bvnor": lambda a, ix: ~(a[0] | a[1]),
    "bvxnor": lambda a, ix: ~(a[0] ^ a[1]),
    "bvult": lambda a, ix: z3.ULT(a[0], a[1]),
    "bvule": lambda a, ix: z3.ULE(a[0], a[1]),
    "bvugt": lambda a, ix: z3.UGT(a[0], a[1]),
    "bvuge": lambda a, ix: z3.UGE(a[0], a[1]),
    "bvslt": lambda a, ix: a[0] < a[1],
    "bvsle": lambda a, ix: a[0] <= a[1],
    "bvsgt": lambda a, ix: a[0] > a[1],
    "bvsge": lambda a, ix: a[0] >= a[1],
    "concat": lambda a, ix: z3.Concat(*a),
    "extract": lambda a, ix: z3.Extract(ix[0], ix[1], a[0]),
    "zero_extend": lambda a, ix: z3.ZeroExt(ix[0], a[0]),
    "sign_extend": lambda a, ix: z3.SignExt(ix[0], a[0]),
    "rotate_left": lambda a, ix: z3.RotateLeft(a[0], ix[0]),
    "rotate_right": lambda a, ix: z3.RotateRight(a[0], ix[0]),
    "repeat": lambda a, ix: z3.RepeatBitVec(ix[0], a[0]),
}


_NARY = {
    "and": z3core.Z3_mk_and,
    "or": z3core.Z3_mk_or,
    "+": z3core.Z3_mk_add,
    "*": z3core.Z3_mk_mul,
    "-": z3core.Z3_mk_sub,
    "distinct": z3core.Z3_mk_distinct,
}
_BINARY = {
    "<": z3core.Z3_mk_lt,
    "<=": z3core.Z3_mk_le,
    ">": z3core.Z3_mk_gt,
    ">=": z3core.Z3_mk_ge,
    "=": z3core.Z3_mk_eq,
    "=>": z3core.Z3_mk_implies,
    "xor": z3core.Z3_mk_xor,
    "div": z3core.Z3_mk_div,
    "mod": z3core.Z3_mk_mod,
}


def _fast_app(op: str, args: list[z3.ExprRef], ctx: z3.Context) -> z3.ExprRef | None:
    ref = ctx.ref()
    n = len(args)
    if op == "ite":
        ast = z3core.Z3_mk_ite(ref, args[0].as_ast(), args[1].as_ast(), args[2].as_ast())
    elif op == "not":
        ast = z3core.Z3_mk_not(ref, args[0].as_ast())
    elif op == "-" and n == 1:
        ast = z3core.Z3_mk_unary_minus(ref, args[0].as_ast())
    elif op in _NARY:
        arr = (z3.Ast * n)()
        for i, a in enumerate(args):
            arr[i] = a.as_ast()
        ast = _NARY[op](ref, n, arr)
    elif op in _BINARY and n == 2:
        ast = _BINARY[op](ref, args[0].as_ast(), args[1].as_ast())
    else:
        return None
    return z3.ExprRef(ast, ctx)


def to_z3(
    root: Term,
    ctx: z3.Context,
    params: list[z3.ExprRef],
    call: Callable[[str, list[z3.ExprRef]], z3.ExprRef],
) -> z3.ExprRef:
    """Build `root` in `ctx`: parameter i becomes params[i], calls go through `call`."""
    built: dict[int, z3.ExprRef] = {}
    int_sort = z3.IntSort(ctx)
    for node in postorder(root):
        kind = node.kind
        if kind == LIT:
            if node.sort == INT:
                out = z3.ExprRef(z3core.Z3_mk_numeral(ctx.ref(), str(node.value), int_sort.ast), ctx)
            elif node.sort == BOOL:
                out = z3.BoolVal(node.value, ctx)
            else:
                out = z3.BitVecVal(node.value, bv_width(node.sort), ctx)
        elif kind == VAR:
            if node.value is None:
                out = z3.Const(node.op, z3_sort(node.sort, ctx))
            else:
                out = params[node.value]
        elif kind == APP:
            args = [built[id(a)] for a in node.args]
            out = _fast_app(node.op, args, ctx)
            if out is None:
                # z3py's operators need typed wrappers (ArithRef, BitVecRef, ...).
                typed = [_to_expr_ref(a.as_ast(), ctx) for a in args]
                out = Z3_OPS[node.op](typed, node.value)
        elif kind == CALL:
            out = call(node.op, [built[id(a)] for a in node.args])
        else:
            raise ValueError(f"grammar pattern {term_text(node)} has no Z3 meaning")
        built[id(node)] = out
    return _to_expr_ref(built[id(root)].as_ast(), ctx)
