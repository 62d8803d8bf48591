"""The cross-check: the same elaborated problem and candidate, decided again by cvc5.

Z3 reads the problem from its own SMT-LIB parser; here the problem's constraints are
elaborated by terms.py and both sides are built with cvc5's base API (`TermManager.mkTerm`),
so a slip in either route, or in either solver, shows up as the two disagreeing. Each
condition group (one for a function problem; initiation, consecution, safety for an
invariant) is one query: assumptions and not (and constraints), unsat meaning it holds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from proofloop.errors import ToolchainMissing
from provers.z3.terms import APP, BOOL, CALL, INT, LIT, VAR, FunSig, Scope, Term, bv_width, elaborate, postorder

NAME = "cvc5"


def version() -> str:
    """The cvc5 version string, e.g. "1.4.2"; ToolchainMissing when the bindings cannot be imported."""
    try:
        import cvc5
    except ImportError as e:
        raise ToolchainMissing(
            f"--cross-check cvc5 needs cvc5's Python bindings, which cannot be imported ({e}); "
            "install them with `pip install cvc5`"
        ) from None
    return cvc5.__version__


@dataclass(frozen=True)
class Outcome:
    """cvc5's answer for one candidate: "verified", "rejected" (with the input values) or "unknown"."""

    status: str
    message: str = ""
    values: dict[str, str] = field(default_factory=dict)


def problem_terms(problem) -> tuple[list[Term], list[Term]]:
    """The problem's constraints and assumptions, elaborated (synth-funs and helpers as calls)."""
    functions = {h.name: FunSig(h.name, h.param_sorts, h.sort) for h in problem.helpers}
    functions.update({f.name: FunSig(f.name, f.param_sorts, f.sort) for f in problem.synth_funs})
    scope = Scope(
        theories=problem.theories, logic=problem.logic, functions=functions, variables=dict(problem.variables)
    )
    return [elaborate(c.term, scope) for c in problem.constraints], [elaborate(a.term, scope) for a in problem.assumptions]


def _chain(tm, kind, args):
    import cvc5

    pairs = [tm.mkTerm(kind, a, b) for a, b in zip(args, args[1:])]
    return pairs[0] if len(pairs) == 1 else tm.mkTerm(cvc5.Kind.AND, *pairs)


def _left(tm, kind, args):
    out = args[0]
    for arg in args[1:]:
        out = tm.mkTerm(kind, out, arg)
    return out


def _right(tm, kind, args):
    out = args[-1]
    for arg in reversed(args[:-1]):
        out = tm.mkTerm(kind, arg, out)
    return out


def _ops() -> dict[str, Callable]:
    """op name -> builder(tm, args, indices); n-ary SMT-LIB forms are spelled out pairwise."""
    from cvc5 import Kind as K

    def nary(kind):
        return lambda tm, a, ix: a[0] if len(a) == 1 else tm.mkTerm(kind, *a)

    def indexed(kind):
        return lambda tm, a, ix: tm.mkTerm(tm.mkOp(kind, *ix), *a)

    ops: dict[str, Callable] = {
        "not": lambda tm, a, ix: tm.mkTerm(K.NOT, a[0]),
        "and": nary(K.AND),
        "or": nary(K.OR),
        "xor": lambda tm, a, ix: _left(tm, K.XOR, a),
        "=>": lambda tm, a, ix: _right(tm, K.IMPLIES, a),
        "=": lambda tm, a, ix: _chain(tm, K.EQUAL, a),
        "distinct": lambda tm, a, ix: tm.mkTerm(K.DISTINCT, *a),
        "ite": lambda tm, a, ix: tm.mkTerm(K.ITE, *a),
        "+": lambda tm, a, ix: _left(tm, K.ADD, a),
        "-": lambda tm, a, ix: tm.mkTerm(K.NEG, a[0]) if len(a) == 1 else _left(tm, K.SUB, a),
        "*": lambda tm, a, ix: _left(tm, K.MULT, a),
        "div": lambda tm, a, ix: tm.mkTerm(K.INTS_DIVISION, *a),
        "mod": lambda tm, a, ix: tm.mkTerm(K.INTS_MODULUS, *a),
        "abs": lambda tm, a, ix: tm.mkTerm(K.ABS, a[0]),
        "<": lambda tm, a, ix: _chain(tm, K.LT, a),
        "<=": lambda tm, a, ix: _chain(tm, K.LEQ, a),
        ">": lambda tm, a, ix: _chain(tm, K.GT, a),
        ">=": lambda tm, a, ix: _chain(tm, K.GEQ, a),
        "bvnot": lambda tm, a, ix: tm.mkTerm(K.BITVECTOR_NOT, a[0]),
        "bvneg": lambda tm, a, ix: tm.mkTerm(K.BITVECTOR_NEG, a[0]),
        "concat": lambda tm, a, ix: _left(tm, K.BITVECTOR_CONCAT, a),
        "extract": indexed(K.BITVECTOR_EXTRACT),
        "zero_extend": indexed(K.BITVECTOR_ZERO_EXTEND),
        "sign_extend": indexed(K.BITVECTOR_SIGN_EXTEND),
        "rotate_left": indexed(K.BITVECTOR_ROTATE_LEFT),
        "rotate_right": indexed(K.BITVECTOR_ROTATE_RIGHT),
        "repeat": indexed(K.BITVECTOR_REPEAT),
    }
    binary = {
        "bvand": K.BITVECTOR_AND, "bvor": K.BITVECTOR_OR, "bvxor": K.BITVECTOR_XOR, "bvadd": K.BITVECTOR_ADD,
        "bvmul": K.BITVECTOR_MULT, "bvsub": K.BITVECTOR_SUB, "bvudiv": K.BITVECTOR_UDIV,
        "bvurem": K.BITVECTOR_UREM, "bvsdiv": K.BITVECTOR_SDIV, "bvsrem": K.BITVECTOR_SREM,
        "bvsmod": K.BITVECTOR_SMOD, "bvshl": K.BITVECTOR_SHL, "bvlshr": K.BITVECTOR_LSHR,
        "bvashr": K.BITVECTOR_ASHR, "bvnand": K.BITVECTOR_NAND, "bvnor": K.BITVECTOR_NOR,
        "bvxnor": K.BITVECTOR_XNOR, "bvult": K.BITVECTOR_ULT, "bvule": K.BITVECTOR_ULE,
        "bvugt": K.BITVECTOR_UGT, "bvuge": K.BITVECTOR_UGE, "bvslt": K.BITVECTOR_SLT,
        "bvsle": K.BITVECTOR_SLE, "bvsgt": K.BITVECTOR_SGT, "bvsge": K.BITVECTOR_SGE,
    }
    for name, kind in binary.items():
        # The associative ones may take more than two arguments; SMT-LIB reads them left to right.
        ops[name] = (lambda k: lambda tm, a, ix: _left(tm, k, a))(kind)
    return ops


class Builder:
    """Elaborated terms rebuilt in one cvc5 TermManager."""

    def __init__(self) -> None:
        import cvc5

        self.cvc5 = cvc5
        self.tm = cvc5.TermManager()
        self.ops = _ops()
        self.consts: dict[str, object] = {}

    def sort(self, sort: str):
        if sort == INT:
            return self.tm.getIntegerSort()
        if sort == BOOL:
            return self.tm.getBooleanSort()
        width = bv_width(sort)
        if width is None:
            raise ValueError(f"no cvc5 sort for {sort}")
        return self.tm.mkBitVectorSort(width)

    def const(self, name: str, sort: str):
        if name not in self.consts:
            self.consts[name] = self.tm.mkConst(self.sort(sort), str(name))
        return self.consts[name]

    def build(self, root: Term, params: list, call: Callable[[str, list], object]):
        """`root` in cvc5: parameter i becomes params[i], calls go through `call`."""
        tm = self.tm
        built: dict[int, object] = {}
        for node in postorder(root):
            if node.kind == LIT:
                if node.sort == INT:
                    out = tm.mkInteger(str(node.value))
                elif node.sort == BOOL:
                    out = tm.mkBoolean(bool(node.value))
                else:
                    out = tm.mkBitVector(bv_width(node.sort), str(node.value), 10)
            elif node.kind == VAR:
                out = self.const(node.op, node.sort) if node.value is None else params[node.value]
            elif node.kind == APP:
                out = self.ops[node.op](tm, [built[id(a)] for a in node.args], node.value)
            elif node.kind == CALL:
                out = call(node.op, [built[id(a)] for a in node.args])
            else:
                raise ValueError(f"grammar pattern {node!r} has no cvc5 meaning")
            built[id(node)] = out
        return built[id(root)]

    def function(self, body: Term, sorts: tuple[str, ...], call: Callable[[str, list], object]):
        """A function body over fresh bound variables, and those variables (for `substitute`)."""
        params = [self.tm.mkVar(self.sort(s), f"_p{i}") for i, s in enumerate(sorts)]
        return self.build(body, params, call), params


def check(compiled, bodies: dict[str, Term], groups: list[list[int]], deadline: float) -> Outcome:
    """Decide every condition group with cvc5 by `deadline` (time.perf_counter())."""
    problem = compiled.problem
    b = Builder()
    functions: dict[str, tuple] = {}

    def call(name: str, args: list):
        if name not in functions:
            synth = problem.synth_fun(name)
            if synth is not None:
                functions[name] = b.function(bodies[name], synth.param_sorts, call)
            else:
                helper = problem.helper(name)
                functions[name] = b.function(compiled.helper_term(name), helper.param_sorts, call)
        body, params = functions[name]
        return body.substitute(params, args) if args else body

    constraints, assumptions = compiled.problem_terms()
    built_assumptions = [b.build(t, [], call) for t in assumptions]
    for indices in groups:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return Outcome("unknown", "cvc5 had no time left")
        solver = b.cvc5.Solver(b.tm)
        solver.setOption("produce-models", "true")
        solver.setOption("tlimit-per", str(max(1, int(remaining * 1000))))
        solver.setLogic("ALL")
        for a in built_assumptions:
            solver.assertFormula(a)
        goal = [b.build(constraints[i], [], call) for i in indices]
        conj = goal[0] if len(goal) == 1 else b.tm.mkTerm(b.cvc5.Kind.AND, *goal)
        solver.assertFormula(b.tm.mkTerm(b.cvc5.Kind.NOT, conj))
        result = solver.checkSat()
        if result.isSat():
            values = {n: str(solver.getValue(c)) for n, c in b.consts.items()}
            shown = ", ".join(f"{k} = {v}" for k, v in list(values.items())[:12])
            return Outcome("rejected", f"cvc5 found a counterexample: {shown}" if shown else "cvc5 found a counterexample", values)
        if not result.isUnsat():
            return Outcome("unknown", f"cvc5 answered unknown ({result.getUnknownExplanation()})")
    return Outcome("verified")


def combine(z3_verdict, outcome: Outcome, seconds: float):
    """One verdict from Z3's and cvc5's: agreement stands, a verified/rejected split is disputed.

    Z3 verified and cvc5 unknown is unknown: a cross-checked verdict is verified only when
    both solvers say so. Z3 rejected and cvc5 unknown stays rejected (Z3 has its counterexample).
    """
    import dataclasses

    from proofloop.types import Status

    z3_verified = z3_verdict.status is Status.VERIFIED
    if outcome.status == "verified":
        if z3_verified:
            return dataclasses.replace(z3_verdict, seconds=seconds)
        message = f"Z3 rejected ({z3_verdict.message}) but cvc5 verified"
        return dataclasses.replace(z3_verdict, status=Status.DISPUTED, reason="cross-check", message=message, seconds=seconds)
    if outcome.status == "rejected":
        if not z3_verified:
            return dataclasses.replace(z3_verdict, seconds=seconds)
        return dataclasses.replace(
            z3_verdict,
            status=Status.DISPUTED,
            reason="cross-check",
            message=f"Z3 verified but {outcome.message}",
            counterexample={"cvc5_values": outcome.values},
            seconds=seconds,
        )
    if z3_verified:
        return dataclasses.replace(
            z3_verdict, status=Status.UNKNOWN, reason="cross-check", message=f"Z3 verified; {outcome.message}", seconds=seconds
        )
    return dataclasses.replace(z3_verdict, seconds=seconds)
