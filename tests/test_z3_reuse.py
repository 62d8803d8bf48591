"""One Z3 context per problem, reused by its checks: nothing of one check reaches the next."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proofloop.types import CheckLimits, Status
from provers.z3 import Z3Prover
from provers.z3.checker import compiled_for
from sygus_texts import INV, MAX2

PROVER = Z3Prover()
FAST = CheckLimits(timeout_s=10)

MAX2_CANDIDATES = [
    "(define-fun max2 ((a Int) (b Int)) Int (ite (>= a b) a b))",  # right
    "(define-fun max2 ((a Int) (b Int)) Int a)",  # wrong
    "(define-fun max2 ((a Int) (b Int)) Int (+ a true))",  # ill-sorted: never reaches Z3
    "(define-fun max2 ((a Int) (b Int)) Int (ite (> a b) a b))",  # right, written differently
    "(define-fun max2 ((a Int) (b Int)) Int (ite (>= a b) b a))",  # wrong: the minimum
    "(define-fun max2 ((a Int) (b Int)) Int (+ a b))",  # wrong
    "(define-fun",  # does not parse
]
INV_CANDIDATES = [
    "(define-fun inv-f ((x Int) (y Int)) Bool (and (= x y) (<= x 10)))",
    "(define-fun inv-f ((x Int) (y Int)) Bool (= x y))",
    "(define-fun inv-f ((x Int) (y Int)) Bool false)",
    "(define-fun inv-f ((x Int) (y Int)) Bool (<= x 10))",
]


def summary(verdict):
    """What must not depend on earlier checks: status, reason and which conditions fail."""
    cex = verdict.counterexample or {}
    return verdict.status, verdict.reason, cex.get("condition"), bool(cex.get("violated"))


def fresh(problem, candidate):
    compiled_for(problem).z3_context = None
    return PROVER.check(problem, candidate, FAST)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(MAX2_CANDIDATES + INV_CANDIDATES), min_size=2, max_size=8))
def test_a_sequence_of_checks_gives_the_verdicts_of_fresh_contexts(sequence):
    problems = {"max2": PROVER.from_text(MAX2, id="max2"), "inv": PROVER.from_text(INV, id="inv")}
    expected = [summary(fresh(problems["inv" if "inv-f" in c else "max2"], c)) for c in sequence]
    got = [summary(PROVER.check(problems["inv" if "inv-f" in c else "max2"], c, FAST)) for c in sequence]
    assert got == expected


def test_the_context_is_reused_and_its_counterexamples_are_real():
    problem = PROVER.from_text(MAX2, id="max2")
    compiled = compiled_for(problem)
    compiled.z3_context = None
    PROVER.check(problem, MAX2_CANDIDATES[0], FAST)
    first = compiled.z3_context
    assert first is not None
    for candidate in MAX2_CANDIDATES:
        verdict = PROVER.check(problem, candidate, FAST)
        assert compiled.z3_context is first
        if verdict.reason == "counterexample":
            x, y = (int(verdict.counterexample["values"][k].replace("(- ", "-").rstrip(")")) for k in "xy")
            assert max(x, y) != _run(candidate, x, y)


def _run(candidate: str, x: int, y: int) -> int:
    """Evaluate one of the wrong max2 candidates above in Python (the check's spec is max)."""
    body = candidate.split("Int", 3)[-1].strip()[:-1].strip()
    return {"a": x, "(+ a b)": x + y, "(ite (>= a b) b a)": min(x, y)}[body]


def test_no_assertion_of_one_check_reaches_the_next():
    # A wrong candidate's solver holds "max2 is a" negated against the spec; were it left in the
    # context's solver, the right candidate after it would be checked against it and fail.
    problem = PROVER.from_text(MAX2, id="max2")
    for _ in range(3):
        assert PROVER.check(problem, MAX2_CANDIDATES[1], FAST).status is Status.REJECTED
        assert PROVER.check(problem, MAX2_CANDIDATES[0], FAST).status is Status.VERIFIED


HARD = """(set-logic NIA)
(synth-fun f ((x Int) (y Int) (z Int)) Bool)
(declare-var x Int)
(declare-var y Int)
(declare-var z Int)
(constraint (=> (and (> x 0) (> y 0) (> z 0)) (= (f x y z) (not (= (+ (* x x x) (* y y y)) (* z z z))))))
"""


def test_an_unknown_answer_retires_the_context():
    problem = PROVER.from_text(HARD, id="hard")
    compiled = compiled_for(problem)
    PROVER.check(problem, "(define-fun f ((x Int) (y Int) (z Int)) Bool false)", FAST)
    before = compiled.z3_context
    assert before is not None
    slow = PROVER.check(problem, "(define-fun f ((x Int) (y Int) (z Int)) Bool true)", CheckLimits(timeout_s=0.3))
    assert slow.status is Status.UNKNOWN and compiled.z3_context is None
    # Fermat for cubes: Z3 cannot prove `true` right, so the check above ran out of time.
    after = PROVER.check(problem, "(define-fun f ((x Int) (y Int) (z Int)) Bool false)", FAST)
    assert after.status is Status.REJECTED and compiled.z3_context not in (None, before)


def test_kept_contexts_stay_bounded_and_checks_go_on_past_the_bound():
    """Each Z3 context holds ~17 MB under one process-wide memory_max_size: the cache must not grow
    with the number of problems a process checks (an unbounded one ended the process with a signal)."""
    from provers.z3 import session

    limits = CheckLimits(timeout_s=10, memory_mb=256)
    z3p = Z3Prover()
    for i in range(3 * session.MAX_KEPT_CONTEXTS):
        text = f"(set-logic LIA)(synth-fun f ((x Int)) Int)(declare-var x Int)(constraint (= (f x) (+ x {i})))(check-synth)"
        problem = z3p.from_text(text, id=f"p{i}")
        assert z3p.check(problem, f"(define-fun f ((x Int)) Int (+ x {i}))", limits).status is Status.VERIFIED
        assert z3p.check(problem, f"(define-fun f ((x Int)) Int (+ x {i + 1}))", limits).status is Status.REJECTED
        assert len(session._kept) <= session.MAX_KEPT_CONTEXTS
    assert sum(c.z3_context is not None for c in session._kept.values()) <= session.MAX_KEPT_CONTEXTS
