"""Light rewriting of candidate terms: constant folding and trivial comparisons.

Preconditions built from the spec (cegis.Search._chain) are full of `(= t t)` and `(>= t t)`;
folding them keeps the candidate small and Z3's query easy. Only rewrites that hold in every
interpretation: syntactically equal operands (by printed text), Boolean literals.
"""

from __future__ import annotations

from provers.z3.terms import APP, BOOL, LIT, Term, lit, postorder, term_text

_REFLEXIVE_TRUE = {"=", "<=", ">=", "bvule", "bvuge", "bvsle", "bvsge"}
_REFLEXIVE_FALSE = {"<", ">", "distinct", "bvult", "bvugt", "bvslt", "bvsgt"}


def simplify(root: Term) -> Term:
    done: dict[int, Term] = {}
    texts: dict[int, tuple[Term, str]] = {}  # the term is kept so that its id is not reused

    def text(t: Term) -> str:
        if id(t) not in texts:
            texts[id(t)] = (t, term_text(t, limit=None))
        return texts[id(t)][1]

    for node in postorder(root):
        args = tuple(done[id(a)] for a in node.args)
        out = _rewrite(node, args, text)
        done[id(node)] = out
    return done[id(root)]


def _is(t: Term, value: bool) -> bool:
    return t.kind == LIT and t.sort == BOOL and t.value is value


def _make(node: Term, args: tuple[Term, ...]) -> Term:
    if len(args) == len(node.args) and all(a is b for a, b in zip(args, node.args)):
        return node
    t = Term(node.kind, node.op, args, node.sort, node.value)
    t.depth = 1 + max((a.depth for a in args), default=0)
    return t


def _rewrite(node: Term, args: tuple[Term, ...], text) -> Term:
    if node.kind != APP:
        return _make(node, args)
    op = node.op
    if op in _REFLEXIVE_TRUE | _REFLEXIVE_FALSE and len(args) == 2 and text(args[0]) == text(args[1]):
        return lit(op in _REFLEXIVE_TRUE, BOOL)
    if op == "and" or op == "or":
        unit, zero = (True, False) if op == "and" else (False, True)
        if any(_is(a, zero) for a in args):
            return lit(zero, BOOL)
        kept, seen = [], set()
        for a in args:
            parts = a.args if a.kind == APP and a.op == op else (a,)
            for p in parts:
                if _is(p, unit) or text(p) in seen:
                    continue
                seen.add(text(p))
                kept.append(p)
        if not kept:
            return lit(unit, BOOL)
        if len(kept) == 1:
            return kept[0]
        return _make(node, tuple(kept))
    if op == "not" and args[0].kind == LIT:
        return lit(not args[0].value, BOOL)
    if op == "=>" and len(args) == 2:
        if _is(args[0], True):
            return args[1]
        if _is(args[0], False) or _is(args[1], True):
            return lit(True, BOOL)
    if op == "ite":
        if _is(args[0], True):
            return args[1]
        if _is(args[0], False):
            return args[2]
        if text(args[1]) == text(args[2]):
            return args[1]
    return _make(node, args)
