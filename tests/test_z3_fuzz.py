"""Differential fuzzing: drawn problems and candidates, the checker against its own specification.

Problems are `f(x, y, a, b) = R` for a drawn term R (sometimes under a drawn assumption);
candidates are R itself, an equivalent rewrite of it, another well-sorted term, or an ill-sorted
one. The oracles are written here, apart from the checker code: a small sort checker for
SMT-LIB's rules, and a direct Z3 query over the texts (`not (= (f x y a b) R)`, read by Z3's
own parser) that says whether the candidate is right. The checker must reject every ill-sorted
candidate, agree with the direct query on every well-sorted one (or say unknown), and Z3 and
cvc5 must never disagree.
"""

from __future__ import annotations

import functools
import re
import time

import pytest
import z3
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from proofloop.errors import ProblemFormatError
from proofloop.types import CheckLimits, Status
from provers.z3 import Z3Prover, cvc5check
from provers.z3.checker import compiled_for, condition_groups, front_end

PROVER = Z3Prover()
INT, BOOL, BV8, BV4 = "Int", "Bool", "(_ BitVec 8)", "(_ BitVec 4)"
SORTS = (INT, BOOL, BV8)
PARAMS = (("x", INT), ("y", INT), ("a", BV8), ("b", BV8))
LIMITS = CheckLimits(timeout_s=5, cross_check="cvc5")
SETTINGS = settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def app(*parts: str) -> str:
    return "(" + " ".join(parts) + ")"


LEAVES = {
    INT: ["x", "y", "0", "1", "2", "5", "(- 3)"],
    BOOL: ["true", "false"],
    BV8: ["a", "b", "#x00", "#x01", "#xff", "#b10000000", "(_ bv7 8)"],
}


@functools.cache
def typed(sort: str, depth: int) -> st.SearchStrategy[str]:
    """Well-sorted terms of `sort`, nested at most `depth` deep."""
    leaf = st.sampled_from(LEAVES[sort])
    if depth == 0:
        return leaf

    def sub(s: str) -> st.SearchStrategy[str]:
        return typed(s, depth - 1)

    ite = st.builds(lambda c, t, e: app("ite", c, t, e), sub(BOOL), sub(sort), sub(sort))
    if sort == INT:
        options = [
            st.builds(app, st.sampled_from(["+", "-"]), sub(INT), sub(INT)),
            st.builds(lambda t: app("-", t), sub(INT)),
            st.builds(lambda k, t: app("*", k, t), st.sampled_from(["2", "3", "(- 1)"]), sub(INT)),
            st.builds(lambda op, t, k: app(op, t, k), st.sampled_from(["div", "mod"]), sub(INT),
                      st.sampled_from(["2", "3", "(- 2)"])),
            st.builds(lambda t: app("abs", t), sub(INT)),
        ]
    elif sort == BOOL:
        options = [
            st.builds(app, st.sampled_from(["and", "or", "xor", "=>"]), sub(BOOL), sub(BOOL)),
            st.builds(lambda t: app("not", t), sub(BOOL)),
            st.builds(app, st.sampled_from(["<", "<=", ">", ">=", "=", "distinct"]), sub(INT), sub(INT)),
            st.builds(app, st.sampled_from(["bvult", "bvslt", "bvule", "bvsge", "="]), sub(BV8), sub(BV8)),
        ]
    else:
        binary = "bvadd bvsub bvmul bvand bvor bvxor bvshl bvlshr bvashr bvudiv bvurem bvsdiv bvsrem bvsmod"
        options = [
            st.builds(app, st.sampled_from(binary.split()), sub(BV8), sub(BV8)),
            st.builds(app, st.sampled_from(["bvnot", "bvneg", "(_ rotate_left 3)"]), sub(BV8)),
            st.builds(lambda t, u: app("concat", app("(_ extract 3 0)", t), app("(_ extract 7 4)", u)),
                      sub(BV8), sub(BV8)),
            st.builds(lambda t: app("(_ zero_extend 4)", app("(_ extract 5 2)", t)), sub(BV8)),
        ]
    return st.one_of(leaf, ite, *options)


# Ill-sorted terms: an operator applied to arguments of drawn sorts (mostly the wrong ones).
OPS = {
    "+": 2, "-": 1, "*": 2, "abs": 1, "div": 2, "<=": 2, "and": 2, "not": 1, "=": 2, "ite": 3,
    "bvadd": 2, "bvneg": 1, "bvult": 2, "concat": 2, "(_ extract 3 0)": 1,
}
any_term = st.sampled_from(SORTS).flatmap(lambda s: typed(s, 1))
any_leaf = st.sampled_from([leaf for leaves in LEAVES.values() for leaf in leaves])
mixed = st.sampled_from(sorted(OPS)).flatmap(
    lambda op: st.lists(st.one_of(any_leaf, any_term), min_size=OPS[op], max_size=OPS[op]).map(
        lambda args: app(op, *args)
    )
)


# ---- the oracles, independent of the checker ---------------------------------------------------


def sexpr(text: str):
    tokens = re.findall(r"\(|\)|[^\s()]+", text)
    stack: list[list] = [[]]
    for tok in tokens:
        if tok == "(":
            stack.append([])
        elif tok == ")":
            done = stack.pop()
            stack[-1].append(done)
        else:
            stack[-1].append(tok)
    return stack[0][0]


def sort_of(t, env: dict[str, str]) -> str | None:
    """SMT-LIB's sort of `t` (Core, Ints, FixedSizeBitVectors), None when ill-sorted."""
    if isinstance(t, str):
        if t in env:
            return env[t]
        if t in ("true", "false"):
            return BOOL
        if t.isascii() and t.isdigit():
            return INT
        if t.startswith("#x"):
            return f"(_ BitVec {4 * (len(t) - 2)})"
        if t.startswith("#b"):
            return f"(_ BitVec {len(t) - 2})"
        return None
    head, args = t[0], t[1:]
    if head == "_":  # (_ bvN w)
        return f"(_ BitVec {args[1]})"
    sorts = [sort_of(a, env) for a in args]
    if None in sorts:
        return None
    if isinstance(head, list):  # indexed operator
        name, ix = head[1], [int(i) for i in head[2:]]
        width = int(sorts[0][10:-1]) if len(sorts) == 1 and sorts[0].startswith("(_ BitVec") else None
        if width is None:
            return None
        if name == "extract":
            return f"(_ BitVec {ix[0] - ix[1] + 1})" if width > ix[0] >= ix[1] >= 0 else None
        if name == "zero_extend":
            return f"(_ BitVec {width + ix[0]})"
        return sorts[0]  # rotate_left
    same = len(set(sorts)) == 1
    if head in ("+", "*", "div", "mod") or (head == "-" and len(args) == 2):
        return INT if same and sorts[0] == INT else None
    if head in ("-", "abs"):
        return INT if sorts == [INT] else None
    if head in ("<", "<=", ">", ">="):
        return BOOL if same and sorts[0] == INT else None
    if head in ("and", "or", "xor", "=>"):
        return BOOL if same and sorts[0] == BOOL else None
    if head == "not":
        return BOOL if sorts == [BOOL] else None
    if head in ("=", "distinct"):
        return BOOL if same else None
    if head == "ite":
        return sorts[1] if sorts[0] == BOOL and sorts[1] == sorts[2] else None
    bv = same and sorts[0].startswith("(_ BitVec")
    if head in ("bvnot", "bvneg"):
        return sorts[0] if bv and len(sorts) == 1 else None
    if head in ("bvult", "bvslt", "bvule", "bvsge"):
        return BOOL if bv else None
    if head == "concat":
        if all(s.startswith("(_ BitVec") for s in sorts):
            return f"(_ BitVec {sum(int(s[10:-1]) for s in sorts)})"
        return None
    return sorts[0] if bv else None  # the binary bit-vector operators


def declarations() -> str:
    return "\n".join(f"(declare-const {n} {s})" for n, s in PARAMS)


def candidate_right(sort: str, body: str, spec: str, assume: str | None) -> str:
    """Z3 alone, from the texts: 'unsat' when the candidate meets the spec on every input."""
    params = " ".join(f"({n} {s})" for n, s in PARAMS)
    lines = [declarations(), f"(define-fun f ({params}) {sort} {body})"]
    if assume:
        lines.append(f"(assert {assume})")
    lines.append(f"(assert (not (= (f x y a b) {spec})))")
    solver = z3.Solver()
    solver.set("timeout", 5000)
    solver.from_string("\n".join(lines))
    return str(solver.check())


def satisfiable(assume: str) -> str:
    solver = z3.Solver()
    solver.from_string(f"{declarations()}\n(assert {assume})")
    return str(solver.check())


def problem_text(sort: str, spec: str, assume: str | None) -> str:
    params = " ".join(f"({n} {s})" for n, s in PARAMS)
    lines = ["(set-logic ALL)", f"(synth-fun f ({params}) {sort})"]
    lines += [f"(declare-var {n} {s})" for n, s in PARAMS]
    if assume:
        lines.append(f"(assume {assume})")
    lines.append(f"(constraint (= (f x y a b) {spec}))")
    return "\n".join(lines) + "\n"


def rewrites(spec: str, sort: str) -> st.SearchStrategy[str]:
    """Terms equal to `spec` on every input, written differently."""
    if sort == INT:
        forms = [app("+", spec, "0"), app("-", app("-", spec)), app("ite", "true", spec, "x")]
    elif sort == BOOL:
        forms = [app("not", app("not", spec)), app("and", spec, "true"), app("=", spec, "true")]
    else:
        forms = [app("bvadd", spec, "#x00"), app("bvnot", app("bvnot", spec)), app("bvor", spec, "#x00")]
    return st.sampled_from([spec, *forms])


@st.composite
def cases(draw):
    sort = draw(st.sampled_from(SORTS))
    spec = draw(typed(sort, 2))
    assume = draw(st.sampled_from([False, False, True]).flatmap(lambda on: typed(BOOL, 1) if on else st.none()))
    kind = draw(st.sampled_from(["rewrite", "other", "other", "any-sort", "ill-sorted"]))
    event(f"candidate: {kind}")
    strategy = {
        "rewrite": rewrites(spec, sort), "other": typed(sort, 2), "any-sort": any_term, "ill-sorted": mixed
    }[kind]
    return sort, spec, assume, draw(strategy)


# ---- the properties ------------------------------------------------------------------------------


@SETTINGS
@given(cases())
def test_checker_agrees_with_the_specification_and_cvc5(case):
    sort, spec, assume, body = case
    text = problem_text(sort, spec, assume)
    try:
        problem = PROVER.from_text(text, id="fuzz")
    except ProblemFormatError as e:
        # The only problems refused here are those whose assumption no input satisfies.
        event("problem refused: no input satisfies the assumption")
        assert "no input satisfies" in e.message and assume and satisfiable(assume) == "unsat"
        return
    candidate = f"(define-fun f ({' '.join(f'({n} {s})' for n, s in PARAMS)}) {sort} {body})"
    verdict = PROVER.check(problem, candidate, LIMITS)
    event(f"verdict: {verdict.status.value} ({verdict.reason or '-'})")
    assert verdict.status is not Status.DISPUTED, (text, candidate, verdict)
    env = dict(PARAMS)
    if sort_of(sexpr(body), env) != sort:
        assert verdict.status is Status.REJECTED and verdict.reason != "counterexample", (candidate, verdict)
        return
    expected = candidate_right(sort, body, spec, assume)
    if expected == "unsat":
        assert verdict.status in (Status.VERIFIED, Status.UNKNOWN), (text, candidate, verdict)
    elif expected == "sat":
        assert verdict.status in (Status.REJECTED, Status.UNKNOWN), (text, candidate, verdict)
        assert verdict.status is Status.UNKNOWN or verdict.reason == "counterexample"
    # cvc5 on its own answers the same question the same way.
    compiled = compiled_for(problem)
    groups = [i for _, i in condition_groups(compiled.problem)]
    outcome = cvc5check.check(compiled, front_end(compiled, candidate), groups, time.perf_counter() + 5)
    if expected in ("sat", "unsat") and outcome.status != "unknown":
        assert outcome.status == ("verified" if expected == "unsat" else "rejected"), (text, candidate, outcome)


def elaborated_sort(body: str) -> str | None:
    from provers.z3.sexpr import parse_all
    from provers.z3.terms import ElabError, Scope, elaborate, logic_theories, var

    scope = Scope(theories=logic_theories("ALL"), logic="ALL",
                  locals={n: var(n, s, i) for i, (n, s) in enumerate(PARAMS)})
    try:
        return elaborate(parse_all(body)[0][0], scope).sort
    except ElabError:
        return None


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.one_of(mixed, any_term, st.sampled_from(SORTS).flatmap(lambda s: typed(s, 2))))
def test_the_elaborator_accepts_exactly_the_well_sorted_terms(body):
    """Property: terms.py's sort checker, applied to every application, matches SMT-LIB's rules."""
    assert elaborated_sort(body) == sort_of(sexpr(body), dict(PARAMS)), body


def test_every_operator_on_every_combination_of_leaves():
    """Exhaustive at depth one: each operator of OPS applied to every tuple of leaf spellings."""
    import itertools

    leaves = [leaf for spellings in LEAVES.values() for leaf in spellings]
    checked = 0
    for op, arity in OPS.items():
        pool = leaves if arity < 3 else ["true", "x", "a", "5", "#x01"]
        for args in itertools.product(pool, repeat=arity):
            body = app(op, *args)
            assert elaborated_sort(body) == sort_of(sexpr(body), dict(PARAMS)), body
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("body", ["(- true)", "(- #x01)", "(+ true 1)", "(- (_ bv1 8))", "(ite 1 x y)"])
def test_the_oracle_itself_calls_these_ill_sorted(body):
    assert sort_of(sexpr(body), dict(PARAMS)) is None
