"""The Z3 checker: verdicts, rejection reasons, counterexamples, limits and hostile candidates."""

from __future__ import annotations

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofloop.types import CheckLimits, Status, Verdict
from provers.z3 import Z3Prover
from sygus_texts import INV, MAX2

PROVER = Z3Prover()
FAST = CheckLimits(timeout_s=10)

MAX2_OK = "(define-fun max2 ((a Int) (b Int)) Int (ite (>= a b) a b))"

TWO = """(set-logic LIA)
(define-fun double ((a Int)) Int (+ a a))
(synth-fun f1 ((p Int)) Int)
(synth-fun f2 ((p Int)) Int)
(declare-var x Int)
(constraint (= (f2 x) (double (f1 x))))
(constraint (= (f1 x) (+ x 1)))
"""

NIA_HARD = """(set-logic NIA)
(synth-fun f ((x Int) (y Int) (z Int)) Bool)
(declare-var x Int)
(declare-var y Int)
(declare-var z Int)
(constraint (=> (and (> x 0) (> y 0) (> z 0)) (= (f x y z) (not (= (+ (* x x x) (* y y y)) (* z z z))))))
"""


def problem(text: str, name: str = "p"):
    return PROVER.from_text(text, id=name)


def check(text: str, candidate, limits: CheckLimits = FAST) -> Verdict:
    return PROVER.check(problem(text), candidate, limits)


def smt_int(value: str) -> int:
    value = value.strip()
    if value.startswith("(-"):
        return -int(value[2:-1])
    return int(value)


def assert_rejected(verdict: Verdict, reason: str, fragment: str = "") -> None:
    assert verdict.status is Status.REJECTED, verdict
    assert verdict.reason == reason, verdict
    assert fragment in verdict.message, verdict.message


def test_verified_and_counterexample_for_max2():
    good = check(MAX2, MAX2_OK)
    assert good.status is Status.VERIFIED and good.reason == "" and good.counterexample is None
    assert good.checker == "z3" and good.checker_version == PROVER.version() and good.seconds > 0
    assert Verdict.from_dict(good.to_dict()) == good

    bad = check(MAX2, "(define-fun max2 ((a Int) (b Int)) Int a)")
    assert_rejected(bad, "counterexample", "counterexample: x = ")
    ce = bad.counterexample
    x, y = smt_int(ce["values"]["x"]), smt_int(ce["values"]["y"])
    assert y > x  # the candidate returns x, which is only wrong when y is larger
    (violated,) = ce["violated"]
    assert violated["constraint"] == "(>= (max2 x y) y)"
    assert violated["calls"] == {f"(max2 {ce['values']['x']} {ce['values']['y']})": ce["values"]["x"]}


def test_counterexample_reports_every_violated_constraint_and_nested_calls():
    text = """(set-logic LIA)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (= (f x) (+ x 2)))
(constraint (= (f (f x)) (+ x 4)))
"""
    assert check(text, "(define-fun f ((x Int)) Int (+ x 2))").verified
    bad = check(text, "(define-fun f ((x Int)) Int (+ x 1))")
    assert_rejected(bad, "counterexample")
    x = smt_int(bad.counterexample["values"]["x"])
    first, second = bad.counterexample["violated"]
    assert first["calls"] == {
        f"(f {bad.counterexample['values']['x']})": str(x + 1) if x + 1 >= 0 else f"(- {-(x + 1)})"
    }
    assert len(second["calls"]) == 2  # (f (f x)) and (f x), evaluated with the candidate


def test_invariant_verified_and_each_condition_fails():
    assert check(INV, "(define-fun inv-f ((x Int) (y Int)) Bool (and (= x y) (<= x 10)))").verified

    init = check(INV, "(define-fun inv-f ((x Int) (y Int)) Bool (= x 1))")
    assert_rejected(init, "counterexample", "initiation fails")
    assert init.counterexample["condition"] == "initiation"
    assert init.counterexample["state"] == {"x": "0", "y": "0"}

    cons = check(INV, "(define-fun inv-f ((x Int) (y Int)) Bool (and (= x y) (<= x 5)))")
    assert_rejected(cons, "counterexample", "consecution fails")
    ce = cons.counterexample
    assert ce["condition"] == "consecution"
    assert smt_int(ce["state"]["x"]) == 5 and smt_int(ce["next_state"]["x!"]) == 6

    safe = check(INV, "(define-fun inv-f ((x Int) (y Int)) Bool (and (>= x 0) (<= x 10)))")
    assert_rejected(safe, "counterexample", "safety fails")
    state = safe.counterexample["state"]
    assert smt_int(state["x"]) == 10 and smt_int(state["y"]) != 10


def test_assumptions_restrict_the_domain():
    with_assume = MAX2.replace("(constraint", "(assume (> x y))\n(constraint", 1)
    candidate = "(define-fun max2 ((a Int) (b Int)) Int a)"
    assert check(with_assume, candidate).verified
    assert_rejected(check(MAX2, candidate), "counterexample")


def test_zero_arity_function():
    text = "(set-logic LIA)\n(synth-fun c () Int)\n(constraint (= (+ c 1) 5))\n"
    assert check(text, "(define-fun c () Int 4)").verified
    bad = check(text, "(define-fun c () Int 3)")
    assert_rejected(bad, "counterexample")
    assert bad.counterexample["violated"][0]["calls"] == {"c": "3"}


def test_multiple_functions_and_problem_helpers():
    good = "(define-fun f1 ((p Int)) Int (+ p 1))\n(define-fun f2 ((q Int)) Int (double (+ q 1)))"
    assert check(TWO, good).verified
    assert_rejected(check(TWO, good.replace("(double (+ q 1))", "(double q)")), "counterexample")
    assert_rejected(check(TWO, "(define-fun f1 ((p Int)) Int (+ p 1))"), "signature", "missing definition of f2")
    assert_rejected(check(TWO, good.replace("(double (+ q 1))", "(double (f1 q))")), "scope", "f2 may not call f1")


def test_candidate_helpers_and_lets():
    helper = "(define-fun bigger ((u Int) (v Int)) Bool (>= u v))\n(define-fun max2 ((a Int) (b Int)) Int (ite (bigger a b) a b))"
    assert check(MAX2, helper).verified
    assert_rejected(check(MAX2, helper.replace("(ite (bigger a b) a b)", "(ite (bigger b a) a b)")), "counterexample")
    assert check(MAX2, "(define-fun max2 ((a Int) (b Int)) Int (let ((c (>= a b)) (d a)) (ite c d b)))").verified
    assert_rejected(
        check(MAX2, "(define-fun max2 ((a Int) (b Int)) Int (let ((c (>= a b))) (ite c b a)))"), "counterexample"
    )


def test_bit_vectors():
    text = """(set-logic BV)
(synth-fun f ((x (_ BitVec 8))) (_ BitVec 8))
(declare-var x (_ BitVec 8))
(constraint (= (f x) (bvmul x #x04)))
"""
    assert check(text, "(define-fun f ((x (_ BitVec 8))) (_ BitVec 8) (bvshl x #x02))").verified
    bad = check(text, "(define-fun f ((x (_ BitVec 8))) (_ BitVec 8) (bvadd x x))")
    assert_rejected(bad, "counterexample")
    assert bad.counterexample["values"]["x"].startswith("#x")


def test_timeout_gives_unknown():
    verdict = check(NIA_HARD, "(define-fun f ((x Int) (y Int) (z Int)) Bool true)", CheckLimits(timeout_s=0.2))
    assert verdict.status is Status.UNKNOWN and verdict.reason == "timeout", verdict
    assert verdict.seconds < 5
    # The same problem still rejects a wrong candidate quickly.
    assert_rejected(check(NIA_HARD, "(define-fun f ((x Int) (y Int) (z Int)) Bool false)"), "counterexample")


def test_memory_limit_is_passed_to_z3():
    check(MAX2, MAX2_OK, CheckLimits(timeout_s=10, memory_mb=1536))
    assert z3.get_param("memory_max_size") == "1536"


# ---------------------------------------------------------------------------------------------
# Every rejection reason, each paired with a near miss that is accepted above or below.


@pytest.mark.parametrize(
    "candidate, reason, fragment",
    [
        ("(define-fun max2 ((a Int) (b Int)) Int (ite (>= a b) a b)", "parse", "unbalanced"),
        ("(define-fun max2 ((a Int) (b Int)) Int (ite (>= a b) a b)))", "parse", "unbalanced"),
        ("", "parse", "empty candidate"),
        ("   ; only a comment\n", "parse", "empty candidate"),
        ("(define-fun max2 ((a Int) (b Int)) Int)", "parse", "malformed define-fun"),
        ("(define-fun max2 ((a Int) b) Int a)", "parse", "malformed parameter"),
        ('(define-fun max2 ((a Int) (b Int)) Int "a)', "parse", "unterminated string"),
        ("(assert false)", "command", "(assert false)"),
        ("(check-sat)", "command", "(check-sat)"),
        ("(set-option :timeout 0)", "command", "set-option"),
        ("(exit)", "command", "(exit)"),
        (MAX2_OK + "\n(assert false)", "command", "line 2"),
        ("(define-fun-rec max2 ((a Int) (b Int)) Int (max2 a b))", "command", "define-fun-rec"),
        ("max2", "command", "only define-fun"),
        ("(define-fun max2 ((a Int)) Int a)", "signature", "takes 2 parameters"),
        ("(define-fun max2 ((a Int) (b Bool)) Int a)", "signature", "parameter 2 (b) of max2 must be Int"),
        ("(define-fun max2 ((a Int) (b Int)) Bool (>= a b))", "signature", "must return Int"),
        ("(define-fun max2 ((a Int) (b Real)) Int a)", "signature", "unsupported sort Real"),
        ("(define-fun maxx ((a Int) (b Int)) Int a)", "signature", "missing definition of max2"),
        (MAX2_OK + MAX2_OK, "signature", "defined twice"),
        ("(define-fun g ((a Int)) Int a)" + MAX2_OK, "signature", "extra definition g"),
        ("(define-fun max2 ((a Int) (a Int)) Int a)", "signature", "parameter a of max2 is declared twice"),
        ("(define-fun max2 ((a Int) (b Int)) Int z)", "scope", "undeclared symbol z"),
        ("(define-fun max2 ((a Int) (b Int)) Int x)", "scope", "x is not a parameter"),
        ("(define-fun max2 ((a Int) (b Int)) Int (max2 b a))", "scope", "recursive call to max2"),
        (
            "(define-fun max2 ((a Int) (b Int)) Int (g a))(define-fun g ((a Int)) Int a)",
            "scope",
            "g is used before its definition",
        ),
        (
            "(define-fun a () Int 0)(define-fun max2 ((a Int) (b Int)) Int (+ a 1))",
            "scope",
            "helper a shadows a parameter of max2",
        ),
        (
            "(define-fun x () Int 0)(define-fun max2 ((a Int) (b Int)) Int (+ a x))",
            "scope",
            "helper x shadows x of the problem",
        ),
        (
            "(define-fun ite ((c Bool)) Int 0)(define-fun max2 ((a Int) (b Int)) Int (ite true a b))",
            "scope",
            "shadows a builtin",
        ),
        ("(define-fun max2 ((a Int) (b Int)) Int (ite (exists ((c Int)) (> c a)) a b))", "scope", "quantifiers"),
        ("(define-fun max2 ((a Int) (b Int)) Int (a b))", "scope", "a is a variable, not a function"),
        ("(define-fun max2 ((a Int) (b Int)) Int (let ((h a)) (h b)))", "scope", "h is a variable, not a function"),
        ("(define-fun max2 ((a Int) (b Int)) Int (* a b))", "logic", "nonlinear multiplication (* a b)"),
        ("(define-fun max2 ((a Int) (b Int)) Int (div a b))", "logic", "div by a non-constant"),
        ("(define-fun max2 ((a Int) (b Int)) Int (bvadd a b))", "logic", "operator bvadd is not in logic LIA"),
        ("(define-fun max2 ((a Int) (b Int)) Int (+ a true))", "logic", "ill-sorted application of +"),
        ("(define-fun max2 ((a Int) (b Int)) Int (ite a a b))", "logic", "ill-sorted application of ite"),
        ("(define-fun max2 ((a Int) (b Int)) Int #x0f)", "logic", "bit-vector literal outside logic LIA"),
        ("(define-fun max2 ((a Int) (b Int)) Int (! a :named n))", "logic", "unsupported construct"),
    ],
)
def test_rejection_reasons(candidate, reason, fragment):
    assert_rejected(check(MAX2, candidate), reason, fragment)


def test_linear_forms_are_accepted_in_lia_and_nonlinear_ones_in_nia():
    text = MAX2.replace(
        "(constraint (>= (max2 x y) x))\n(constraint (>= (max2 x y) y))\n(constraint (or (= x (max2 x y)) (= y (max2 x y))))",
        "(constraint (= (max2 x y) (+ (* 2 x) (div y 2) (mod y 3) (- 1))))",
    )
    assert check(text, "(define-fun max2 ((a Int) (b Int)) Int (+ (* a 2) (div b 2) (mod b 3) -1))").verified
    nia = "(set-logic NIA)\n(synth-fun f ((x Int) (y Int)) Int)\n(declare-var x Int)\n(declare-var y Int)\n(constraint (= (f x y) (* x y)))\n"
    assert check(nia, "(define-fun f ((a Int) (b Int)) Int (* b a))").verified
    assert_rejected(check(nia, "(define-fun f ((a Int) (b Int)) Int (* a a))"), "counterexample")


def test_a_helper_that_reads_declared_variables_cannot_be_called():
    text = """(set-logic LIA)
(declare-var n Int)
(define-fun bump ((a Int)) Int (+ a n))
(define-fun id ((a Int)) Int a)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (= (f x) x))
"""
    assert check(text, "(define-fun f ((x Int)) Int (id x))").verified
    assert_rejected(
        check(text, "(define-fun f ((x Int)) Int (bump x))"), "scope", "bump mentions the problem's declared variables"
    )


# ---------------------------------------------------------------------------------------------
# Hostile candidates: each gets a clean rejection, fast.


@pytest.mark.parametrize(
    "candidate, reason",
    [
        (b"(define-fun max2 ((a Int) (b Int)) Int \xff\xfe)", "encoding"),
        ("(define-fun max2 ((a Int) (b Int)) Int \ud800)", "encoding"),
        ("x" * 10_000_000, "too-large"),
        (b"(" * 10_000_000, "too-large"),
        ("(define-fun max2 ((a Int) (b Int)) Int " + "(+ 1 " * 100_000 + "a" + ")" * 100_001, "too-deep"),
        ("(" * 100_000 + ")" * 100_000, "too-deep"),
        ("(define-fun max2 ((a Int) (b Int)) Int ; no end\n", "parse"),
        ("(define-fun max2 ((a Int) (b Int)) Int (+ a ()))", "parse"),
        ("(define-fun max2 ((a Int) (b Int)) Int ())", "parse"),
        ("(define-fun max2 ((a Int) (b Int)) Int (let ((c ())) c))", "parse"),
    ],
)
def test_hostile_candidates(candidate, reason):
    verdict = check(MAX2, candidate)
    assert_rejected(verdict, reason)
    assert verdict.seconds < 5


def test_let_expansion_cannot_smuggle_depth():
    deep = "(+ 1 " * 1200 + "a" + ")" * 1200
    inner = "(+ 1 " * 1200 + "d" + ")" * 1200
    candidate = f"(define-fun max2 ((a Int) (b Int)) Int (let ((d {deep})) {inner}))"
    assert_rejected(check(MAX2, candidate), "too-deep")
    shallow = (
        "(define-fun max2 ((a Int) (b Int)) Int (let ((d " + "(+ 0 " * 300 + "a" + ")" * 300 + ")) (ite (>= d b) d b)))"
    )
    assert check(MAX2, shallow).verified


def test_let_bombs_stay_shared():
    body = "(ite (>= a b) a b)"
    lets = "".join(f"(let ((v{i} (+ v{i - 1} v{i - 1}))) " for i in range(1, 60))
    candidate = f"(define-fun max2 ((a Int) (b Int)) Int (let ((v0 0)) {lets}(+ {body} (* 0 v59)){')' * 59}))"
    verdict = check(MAX2, candidate)
    assert verdict.verified, verdict
    assert verdict.seconds < 10
    assert PROVER.canonical(candidate).startswith("; raw: ")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200) | st.binary(max_size=200)
)
def test_arbitrary_candidates_get_a_verdict(candidate):
    verdict = check(MAX2, candidate)
    assert verdict.status in (Status.REJECTED, Status.VERIFIED)
    assert verdict.reason and "\n" not in verdict.message


_pieces = st.sampled_from(["a", "b", "x", "0", "1", "-1", "(- 2)", "true", "#x1", "max2", "q", "let", "(>= a b)", "()"])
_terms = st.recursive(
    _pieces,
    lambda inner: (
        st.tuples(
            st.sampled_from(["+", "-", "*", "ite", ">=", "and", "max2", "(_ extract 1 0)", "let"]),
            st.lists(inner, max_size=3),
        ).map(lambda t: f"({t[0]} {' '.join(t[1])})")
        | st.tuples(inner, inner).map(lambda t: f"(let ((a {t[0]})) {t[1]})")
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_terms)
def test_arbitrary_define_fun_bodies_get_a_verdict(body):
    verdict = check(MAX2, f"(define-fun max2 ((a Int) (b Int)) Int {body})")
    assert verdict.status in (Status.REJECTED, Status.VERIFIED)
    assert verdict.verified or verdict.reason in {"parse", "signature", "scope", "logic", "counterexample"}
