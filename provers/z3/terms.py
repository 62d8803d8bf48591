"""Typed terms: s-expressions elaborated against a scope (build.py rebuilds them in Z3).

`elaborate` turns an s-expression into a `Term` DAG: `let` is expanded (bound terms are
shared, never copied), every symbol is resolved (let-bound name, parameter, function,
builtin, declared variable, in that order), every application is sort-checked against the
operator table of the logic, and literal spellings are normalised (`(- 5)` is the literal -5,
`(_ bv5 8)` is `#x05`). All walks are iterative so deep terms cannot exhaust the stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from provers.z3.sexpr import MAX_BV_WIDTH, BVLit, Decimal, Keyword, SExpr, StrLit, Symbol, indexed_bv_literal, to_text

INT = "Int"
BOOL = "Bool"

# Term kinds. HOLE, ANYCONST and ANYVAR only occur in grammar productions.
VAR, LIT, APP, CALL, HOLE, ANYCONST, ANYVAR = range(7)


def bv_sort(width: int) -> str:
    if not 0 < width <= MAX_BV_WIDTH:
        # Every bit-vector sort passes here: literals, concat, extensions and repeats included.
        raise ElabError("too-large", f"a bit-vector of {width} bits; the limit is {MAX_BV_WIDTH}")
    return f"(_ BitVec {width})"


def bv_width(sort: str) -> int | None:
    """The width of a bit-vector sort, None for other sorts."""
    if sort.startswith("(_ BitVec "):
        return int(sort[10:-1])
    return None


class ElabError(Exception):
    """A term that cannot be elaborated; `reason` is the candidate rejection code.

    `unsupported` marks a well-formed feature this prover does not handle (a problem file
    using it is refused with UnsupportedFeature rather than called malformed).
    """

    def __init__(self, reason: str, message: str, *, unsupported: bool = False):
        self.reason = reason
        self.message = message
        self.unsupported = unsupported
        super().__init__(message)


def parse_sort(datum: SExpr) -> str:
    """The sort named by `datum` (Int, Bool, (_ BitVec n)); raises ElabError otherwise."""
    if datum == "Int" and isinstance(datum, Symbol):
        return INT
    if datum == "Bool" and isinstance(datum, Symbol):
        return BOOL
    if (
        isinstance(datum, tuple)
        and len(datum) == 3
        and datum[0] == "_"
        and datum[1] == "BitVec"
        and type(datum[2]) is int
        and 0 < datum[2] <= MAX_BV_WIDTH
    ):
        return bv_sort(datum[2])
    return _raise_sort(datum)


def _raise_sort(datum: SExpr) -> str:
    text = to_text(datum)
    known = {"Real", "String", "RegLan", "Array", "Seq", "Set", "RoundingMode", "Float32", "Float64"}
    head = datum[0] if isinstance(datum, tuple) and datum else datum
    if isinstance(head, Symbol) and (head in known or head.startswith("Float")):
        raise ElabError("signature", f"unsupported sort {text}", unsupported=True)
    raise ElabError("signature", f"unknown sort {text}", unsupported=True)


class Term:
    """One node of an elaborated term DAG (compared by identity)."""

    __slots__ = ("kind", "op", "args", "sort", "value", "depth")

    def __init__(self, kind: int, op: str, args: tuple, sort: str, value=None, depth: int = 0):
        self.kind = kind
        self.op = op
        self.args = args
        self.sort = sort
        self.value = value
        self.depth = depth

    def __repr__(self) -> str:
        return f"Term({term_text(self)!r}: {self.sort})"


def lit(value, sort: str) -> Term:
    return Term(LIT, "", (), sort, value)


def var(name: str, sort: str, index: int | None = None) -> Term:
    return Term(VAR, name, (), sort, index)


@dataclass(frozen=True)
class FunSig:
    """A callable function: problem helper, candidate helper or function being synthesised."""

    name: str
    params: tuple[str, ...]
    sort: str


@dataclass
class Scope:
    """Everything a symbol in a term may refer to."""

    theories: frozenset[str]
    locals: dict[str, Term] = field(default_factory=dict)
    functions: dict[str, FunSig] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    # Problem terms may mention declared variables; candidate bodies may not.
    variables_allowed: bool = True
    # Names that are known but may not be used here, with the reason (e.g. recursion).
    barred: dict[str, str] = field(default_factory=dict)
    # Strict linear arithmetic (candidates in LIA without a grammar).
    linear: bool = False
    grammar: bool = False
    logic: str = ""
    max_depth: int | None = None
    max_nodes: int | None = None
    # When set, collects the declared variables and functions a term refers to.
    references: set[str] | None = None


# ---------------------------------------------------------------------------------------------
# Operator tables: name -> (theory, typer). A typer returns the result sort or raises.


def _fail(op: str, sorts: list[str], expected: str) -> str:
    got = ", ".join(sorts) or "no arguments"
    raise ElabError("logic", f"ill-sorted application of {op}: expected {expected}, got {got}")


def _all(op: str, sorts: list[str], sort: str, at_least: int, result: str) -> str:
    if len(sorts) < at_least or any(s != sort for s in sorts):
        _fail(op, sorts, f"{at_least} or more {sort} arguments")
    return result


def _fixed(op: str, sorts: list[str], expected: tuple[str, ...], result: str) -> str:
    if tuple(sorts) != expected:
        _fail(op, sorts, " ".join(expected) or "no arguments")
    return result


def _same(op: str, sorts: list[str], at_least: int = 2) -> str:
    if len(sorts) < at_least or any(s != sorts[0] for s in sorts):
        _fail(op, sorts, f"{at_least} or more arguments of one sort")
    return BOOL


def _ite(op: str, sorts: list[str]) -> str:
    if len(sorts) != 3 or sorts[0] != BOOL or sorts[1] != sorts[2]:
        _fail(op, sorts, "Bool and two arguments of one sort")
    return sorts[1]


def _bv_same(op: str, sorts: list[str], at_least: int, exact: bool, result: str | None) -> str:
    ok = sorts and bv_width(sorts[0]) is not None and all(s == sorts[0] for s in sorts)
    ok = ok and (len(sorts) == at_least if exact else len(sorts) >= at_least)
    if not ok:
        _fail(op, sorts, f"{at_least}{'' if exact else ' or more'} bit-vectors of one width")
    return result or sorts[0]


def _core_ops() -> dict[str, Callable]:
    return {
        "not": lambda op, s, ix: _fixed(op, s, (BOOL,), BOOL),
        "and": lambda op, s, ix: _all(op, s, BOOL, 1, BOOL),
        "or": lambda op, s, ix: _all(op, s, BOOL, 1, BOOL),
        "xor": lambda op, s, ix: _all(op, s, BOOL, 2, BOOL),
        "=>": lambda op, s, ix: _all(op, s, BOOL, 2, BOOL),
        "=": lambda op, s, ix: _same(op, s),
        "distinct": lambda op, s, ix: _same(op, s),
        "ite": lambda op, s, ix: _ite(op, s),
    }


def _int_ops() -> dict[str, Callable]:
    ops = {
        "+": lambda op, s, ix: _all(op, s, INT, 2, INT),
        "-": lambda op, s, ix: _all(op, s, INT, 1, INT),
        "*": lambda op, s, ix: _all(op, s, INT, 2, INT),
        "div": lambda op, s, ix: _fixed(op, s, (INT, INT), INT),
        "mod": lambda op, s, ix: _fixed(op, s, (INT, INT), INT),
        "abs": lambda op, s, ix: _fixed(op, s, (INT,), INT),
    }
    for cmp in ("<", "<=", ">", ">="):
        ops[cmp] = lambda op, s, ix: _all(op, s, INT, 2, BOOL)
    return ops


def _bv_ops() -> dict[str, Callable]:
    ops: dict[str, Callable] = {}
    for name in ("bvnot", "bvneg"):
        ops[name] = lambda op, s, ix: _bv_same(op, s, 1, True, None)
    for name in ("bvand", "bvor", "bvxor", "bvadd", "bvmul"):
        ops[name] = lambda op, s, ix: _bv_same(op, s, 2, False, None)
    binary = "bvsub bvudiv bvurem bvsdiv bvsrem bvsmod bvshl bvlshr bvashr bvnand bvnor bvxnor"
    for name in binary.split():
        ops[name] = lambda op, s, ix: _bv_same(op, s, 2, True, None)
    for name in "bvult bvule bvugt bvuge bvslt bvsle bvsgt bvsge".split():
        ops[name] = lambda op, s, ix: _bv_same(op, s, 2, True, BOOL)
    ops["concat"] = _concat
    return ops


def _concat(op: str, sorts: list[str], ix: tuple) -> str:
    widths = [bv_width(s) for s in sorts]
    if len(widths) < 2 or None in widths:
        _fail(op, sorts, "two or more bit-vectors")
    return bv_sort(sum(widths))  # type: ignore[arg-type]


def _indexed(op: str, sorts: list[str], ix: tuple) -> str:
    width = bv_width(sorts[0]) if len(sorts) == 1 else None
    if width is None:
        _fail(op, sorts, "one bit-vector")
    if op == "extract":
        if len(ix) != 2 or not (width > ix[0] >= ix[1] >= 0):
            raise ElabError("logic", f"bad indices for extract on {width} bits: {ix}")
        return bv_sort(ix[0] - ix[1] + 1)
    if len(ix) != 1 or ix[0] < 0:
        raise ElabError("logic", f"bad index for {op}: {ix}")
    if op in ("zero_extend", "sign_extend"):
        return bv_sort(width + ix[0])
    if op == "repeat":
        if ix[0] < 1:
            raise ElabError("logic", f"bad index for repeat: {ix}")
        return bv_sort(width * ix[0])
    return sorts[0]  # rotate_left, rotate_right


THEORY_OPS: dict[str, dict[str, Callable]] = {"core": _core_ops(), "int": _int_ops(), "bv": _bv_ops()}
INDEXED_OPS = {"extract", "zero_extend", "sign_extend", "rotate_left", "rotate_right", "repeat"}
ALL_OPS = {name for table in THEORY_OPS.values() for name in table} | INDEXED_OPS
RESERVED = {"let", "forall", "exists", "!", "_", "as", "match", "par", "true", "false", "lambda"}

LOGICS = {
    "SAT": frozenset({"core"}),
    "LIA": frozenset({"core", "int"}),
    "NIA": frozenset({"core", "int", "nonlinear"}),
    "BV": frozenset({"core", "bv"}),
    "ALL": frozenset({"core", "int", "nonlinear", "bv"}),
}


def logic_theories(name: str) -> frozenset[str] | None:
    """The theories of a SyGuS logic name, None when unsupported."""
    base = name[3:] if name.startswith("QF_") else name
    return LOGICS.get(base)


def _lookup_op(op: str, scope: Scope) -> Callable | None:
    for theory in ("core", "int", "bv"):
        if theory in scope.theories and op in THEORY_OPS[theory]:
            return THEORY_OPS[theory][op]
    return None


# ---------------------------------------------------------------------------------------------
# Elaboration.

_EVAL, _LETBODY, _APPLY = range(3)


def elaborate(datum: SExpr, scope: Scope) -> Term:
    """Elaborate `datum` in `scope` into a Term DAG; raises ElabError."""
    values: list[Term] = []
    work: list[tuple[int, SExpr, dict | None]] = [(_EVAL, datum, None)]
    counter = [0]
    # Outside any let, a shared sub-expression (from an expanded let) means the same term.
    memo: dict[int, Term] = {}
    atoms: dict[tuple, Term] = {}
    while work:
        tag, item, env = work.pop()
        if tag == _EVAL:
            if isinstance(item, tuple):
                if env is None and id(item) in memo:
                    values.append(memo[id(item)])
                else:
                    _push_form(item, env, scope, work, values, counter)
            elif env is None:
                key = (type(item), item)
                term = atoms.get(key)
                if term is None:
                    term = atoms[key] = _atom(item, env, scope)
                values.append(term)
            else:
                values.append(_atom(item, env, scope))
        elif tag == _LETBODY:
            bindings = item[1]
            n = len(bindings)
            bound = values[len(values) - n :]
            del values[len(values) - n :]
            new_env = dict(env) if env else {}
            for (name, _), term in zip(bindings, bound):
                new_env[name] = term
            work.append((_EVAL, item[2], new_env))
        else:
            n = len(item) - 1
            args = tuple(values[len(values) - n :])
            del values[len(values) - n :]
            term = _apply(item, args, env, scope, counter)
            if env is None:
                memo[id(item)] = term
            values.append(term)
    return values[0]


def _push_form(item: tuple, env, scope: Scope, work: list, values: list, counter: list) -> None:
    if not item:
        raise ElabError("parse", "empty application ()")
    head = item[0]
    if head == "let" and isinstance(head, Symbol):
        bindings = _let_bindings(item)
        work.append((_LETBODY, item, env))
        for binding in reversed(bindings):
            work.append((_EVAL, binding[1], env))
    elif head in ("forall", "exists", "lambda") and isinstance(head, Symbol):
        raise ElabError("scope", f"quantifiers are not allowed ({head})", unsupported=True)
    elif head in ("!", "as", "match") and isinstance(head, Symbol):
        raise ElabError("logic", f"unsupported construct ({head} ...)", unsupported=True)
    elif head == "_" and isinstance(head, Symbol):
        values.append(_indexed_literal(item, scope))
    elif scope.grammar and head in ("Constant", "Variable", "InputVariable", "LocalVariable"):
        values.append(_grammar_leaf(item))
    else:
        work.append((_APPLY, item, env))
        for arg in reversed(item[1:]):
            work.append((_EVAL, arg, env))


def _let_bindings(item: tuple) -> tuple:
    if len(item) != 3 or not isinstance(item[1], tuple) or not item[1]:
        raise ElabError("parse", "malformed let: expected (let ((name term) ...) body)")
    seen = set()
    for binding in item[1]:
        if not (isinstance(binding, tuple) and len(binding) == 2 and isinstance(binding[0], Symbol)):
            raise ElabError("parse", f"malformed let binding {to_text(binding)}")
        if binding[0] in seen:
            raise ElabError("parse", f"let binds {binding[0]} twice")
        seen.add(binding[0])
    return item[1]


def _indexed_literal(item: tuple, scope: Scope) -> Term:
    literal = indexed_bv_literal(item)
    if literal is not None:
        if "bv" not in scope.theories:
            raise ElabError("logic", f"bit-vector literal {to_text(item)} outside logic {scope.logic}")
        return lit(literal.value, bv_sort(literal.width))
    raise ElabError("logic", f"unsupported indexed term {to_text(item)}", unsupported=True)


def _grammar_leaf(item: tuple) -> Term:
    if len(item) != 2:
        raise ElabError("parse", f"malformed grammar term {to_text(item)}")
    sort = parse_sort(item[1])
    if item[0] == "Constant":
        return Term(ANYCONST, "Constant", (), sort)
    if item[0] == "LocalVariable":
        # Let-bound variables of v1 grammars: candidates are let-expanded, so none remain.
        return Term(ANYVAR, "LocalVariable", (), sort, "local")
    return Term(ANYVAR, "Variable", (), sort)


def _atom(atom, env: dict | None, scope: Scope) -> Term:
    if type(atom) is int:
        if "int" not in scope.theories:
            raise ElabError("logic", f"integer literal {atom} outside logic {scope.logic}")
        return lit(atom, INT)
    if isinstance(atom, BVLit):
        if "bv" not in scope.theories or atom.width == 0:
            raise ElabError("logic", f"bit-vector literal outside logic {scope.logic}")
        return lit(atom.value, bv_sort(atom.width))
    if isinstance(atom, (Keyword, StrLit, Decimal)):
        raise ElabError("logic", f"unsupported literal {to_text(atom)}", unsupported=True)
    if env and atom in env:
        return env[atom]
    if atom in scope.locals:
        return scope.locals[atom]
    sig = scope.functions.get(atom)
    if sig is not None and not sig.params:
        if scope.references is not None:
            scope.references.add(atom)
        return Term(CALL, atom, (), sig.sort)
    if atom == "true" or atom == "false":
        return lit(atom == "true", BOOL)
    if atom in scope.barred:
        raise ElabError("scope", scope.barred[atom])
    if atom in scope.variables:
        if scope.variables_allowed:
            if scope.references is not None:
                scope.references.add(atom)
            return var(atom, scope.variables[atom])
        raise ElabError("scope", f"{atom} is not a parameter (declared variables are not in scope here)")
    if sig is not None:
        raise ElabError("logic", f"function {atom} expects {len(sig.params)} arguments, got none")
    raise ElabError("scope", f"undeclared symbol {atom}")


def _apply(item: tuple, args: tuple[Term, ...], env, scope: Scope, counter: list) -> Term:
    head = item[0]
    sorts = [a.sort for a in args]
    if isinstance(head, tuple):
        op, indices = _indexed_head(head, scope)
        term = Term(APP, op, args, _indexed(op, sorts, indices), indices)
    elif not isinstance(head, Symbol):
        raise ElabError("parse", f"cannot apply {to_text(head)}")
    elif (env and head in env) or head in scope.locals:
        raise ElabError("scope", f"{head} is a variable, not a function")
    else:
        typer = _lookup_op(head, scope)
        if typer is not None:
            # Every application goes through its typer first, folds included: `(- true)`
            # and `(- #x01)` are ill-sorted, not the literal -1.
            sort = typer(head, sorts, ())
            if head == "-" and sort == INT and len(args) == 1 and args[0].kind == LIT and args[0].value > 0:
                return lit(-args[0].value, INT)
            term = Term(APP, head, args, sort, ())
            if scope.linear:
                _check_linear(term)
        else:
            term = _call(head, args, sorts, scope)
    counter[0] += 1
    if scope.max_nodes is not None and counter[0] > scope.max_nodes:
        raise ElabError("too-large", f"the term has more than {scope.max_nodes} nodes")
    term.depth = 1 + max((a.depth for a in args), default=0)
    if scope.max_depth is not None and term.depth > scope.max_depth:
        raise ElabError("too-deep", f"the term is nested deeper than {scope.max_depth} levels")
    return term


def _indexed_head(head: tuple, scope: Scope) -> tuple[str, tuple[int, ...]]:
    if len(head) >= 3 and head[0] == "_" and head[1] in INDEXED_OPS and all(type(i) is int for i in head[2:]):
        if "bv" not in scope.theories:
            raise ElabError("logic", f"operator {head[1]} is not in logic {scope.logic}")
        return str(head[1]), tuple(head[2:])
    raise ElabError("logic", f"unsupported operator {to_text(head)}", unsupported=True)


def _call(head: Symbol, args: tuple[Term, ...], sorts: list[str], scope: Scope) -> Term:
    sig = scope.functions.get(head)
    if sig is not None:
        if tuple(sorts) != sig.params:
            raise ElabError(
                "logic",
                f"function {head} expects ({' '.join(sig.params)}), got ({' '.join(sorts)})",
            )
        if scope.references is not None:
            scope.references.add(head)
        return Term(CALL, head, args, sig.sort)
    if head in scope.barred:
        raise ElabError("scope", scope.barred[head])
    if head in ALL_OPS:
        raise ElabError("logic", f"operator {head} is not in logic {scope.logic}")
    if head in scope.variables:
        raise ElabError("scope", f"{head} is a variable, not a function")
    raise ElabError("scope", f"undeclared function {head}")


def _check_linear(term: Term) -> None:
    if term.op == "*" and sum(1 for a in term.args if a.kind != LIT) > 1:
        raise ElabError("logic", f"nonlinear multiplication {term_text(term)} is not in logic LIA")
    if term.op in ("div", "mod") and term.args[1].kind != LIT:
        raise ElabError("logic", f"{term.op} by a non-constant is not in logic LIA")


# ---------------------------------------------------------------------------------------------
# Walking, printing and substituting terms.


def postorder(root: Term) -> list[Term]:
    """Every distinct node of the DAG under `root`, children before parents."""
    order: list[Term] = []
    seen: set[int] = set()
    stack: list[tuple[Term, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for arg in node.args:
            if id(arg) not in seen:
                stack.append((arg, False))
    return order


def term_sexpr(root: Term, *, param_names: list[str] | None = None, limit: int | None = None) -> SExpr:
    """The s-expression of a term (a tree: shared nodes are repeated), or raise OverflowError."""
    built: dict[int, SExpr] = {}
    size: dict[int, int] = {}
    for node in postorder(root):
        if node.kind == LIT:
            if node.sort == BOOL:
                out: SExpr = Symbol("true" if node.value else "false")
            elif node.sort == INT:
                out = node.value
            else:
                out = BVLit(node.value, bv_width(node.sort))  # type: ignore[arg-type]
        elif node.kind == VAR:
            name = param_names[node.value] if param_names is not None and node.value is not None else node.op
            out = Symbol(name)
        elif node.kind in (HOLE, ANYCONST, ANYVAR):
            out = Symbol(node.op) if node.kind == HOLE else (Symbol(node.op), Symbol(node.sort))
        else:
            head: SExpr = Symbol(node.op)
            if node.kind == APP and node.value:
                head = (Symbol("_"), Symbol(node.op), *node.value)
            out = (head, *(built[id(a)] for a in node.args)) if node.args else head
        built[id(node)] = out
        size[id(node)] = 1 + sum(size[id(a)] for a in node.args)
        if limit is not None and size[id(node)] > limit:
            raise OverflowError("term too large to print")
    return built[id(root)]


def term_text(root: Term, limit: int | None = 2000, param_names: list[str] | None = None) -> str:
    """A one-line rendering of a term (elided past `limit` nodes)."""
    try:
        return to_text(term_sexpr(root, limit=limit, param_names=param_names))
    except OverflowError:
        return f"<term of sort {root.sort}, too large to print>"


def substitute(root: Term, mapping: Callable[[Term, tuple[Term, ...]], Term | None]) -> Term:
    """Rebuild `root` bottom-up; `mapping(node, new_args)` may return a replacement node."""
    rebuilt: dict[int, Term] = {}
    for node in postorder(root):
        new_args = tuple(rebuilt[id(a)] for a in node.args)
        replaced = mapping(node, new_args)
        if replaced is None:
            if all(n is o for n, o in zip(new_args, node.args)):
                replaced = node
            else:
                replaced = Term(node.kind, node.op, new_args, node.sort, node.value)
                replaced.depth = 1 + max((a.depth for a in new_args), default=0)
        rebuilt[id(node)] = replaced
    return rebuilt[id(root)]


def instantiate(body: Term, args: tuple[Term, ...]) -> Term:
    """The body of a function with its parameters (VAR nodes with an index) replaced by `args`."""

    def mapping(node: Term, new_args: tuple[Term, ...]) -> Term | None:
        if node.kind == VAR and node.value is not None:
            return args[node.value]
        return None

    return substitute(body, mapping)
