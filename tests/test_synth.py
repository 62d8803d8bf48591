"""The SyGuS synthesizer (provers/z3/synth): each piece on problems small enough to check by hand,
every answer re-verified by the checker, budgets honoured, odd input never a crash."""

from __future__ import annotations

import time

import numpy as np
import pytest

from proofloop.types import CheckLimits, Problem, Status
from provers.z3 import Z3Prover
from provers.z3.grammar import Production
from provers.z3.sygus import parse_problem
from provers.z3.synth import PCFG, Uniform, synthesize
from provers.z3.synth.cost import Context, production_key
from provers.z3.synth.enumerate import Enumerator
from provers.z3.synth.grammars import default_rules, shape
from provers.z3.synth.simplify import simplify
from provers.z3.synth.unify import Leaf, Split, learn, to_term
from provers.z3.terms import APP, BOOL, INT, Term, lit, term_text, var
from sygus_texts import IMPOSSIBLE, MAX2


prover = Z3Prover()

# Three branches: EUSolver's divide and conquer needs two predicates.
CLAMP = """(set-logic LIA)
(synth-fun clamp ((x Int)) Int)
(declare-var x Int)
(constraint (=> (< x 0) (= (clamp x) 0)))
(constraint (=> (> x 10) (= (clamp x) 10)))
(constraint (=> (and (>= x 0) (<= x 10)) (= (clamp x) x)))
(check-synth)
"""

# Not single-invocation: f is called as (f x y) and (f y x).
SYMMETRIC = """(set-logic LIA)
(synth-fun f ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (= (f x y) (f y x)))
(constraint (and (<= x (f x y)) (<= y (f x y))))
(check-synth)
"""

TWO_FUNCTIONS = """(set-logic LIA)
(synth-fun f ((x Int) (y Int)) Int)
(synth-fun g ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (= (- (f x y) (g x y)) y))
(constraint (= (+ (f x y) (g x y)) (+ x x y)))
(check-synth)
"""

# Only sums of x and 1: the answer (x + x) + 1 must be written in the grammar.
GRAMMAR = """(set-logic LIA)
(synth-fun f ((x Int)) Int
  ((Start Int (x 1 (+ Start Start)))))
(declare-var x Int)
(constraint (= (f x) (+ (* 2 x) 1)))
(check-synth)
"""

INVARIANT = """(set-logic LIA)
(synth-inv inv ((x Int) (y Int)))
(define-fun pre ((x Int) (y Int)) Bool (and (= x 0) (= y 10)))
(define-fun trans ((x Int) (y Int) (x! Int) (y! Int)) Bool
  (and (< x 10) (= x! (+ x 1)) (= y! (- y 1))))
(define-fun post ((x Int) (y Int)) Bool (=> (>= x 10) (= y 0)))
(inv-constraint inv pre trans post)
(check-synth)
"""

# Clear the lowest set bit, in a grammar without shifts.
BITVECTOR = """(set-logic BV)
(synth-fun f ((x (_ BitVec 32))) (_ BitVec 32)
  ((Start (_ BitVec 32) (x #x00000001 (bvand Start Start) (bvor Start Start) (bvadd Start Start)
                         (bvsub Start Start) (bvnot Start)))))
(declare-var x (_ BitVec 32))
(constraint (= (f x) (bvand x (bvsub x #x00000001))))
(check-synth)
"""

# Two invariants in one file: outside what the invariant search handles.
TWO_INVARIANTS = """(set-logic LIA)
(synth-inv inv1 ((x Int)))
(synth-inv inv2 ((x Int)))
(define-fun pre ((x Int)) Bool (= x 0))
(define-fun trans ((x Int) (x! Int)) Bool (= x! (+ x 1)))
(define-fun post ((x Int)) Bool (>= x 0))
(inv-constraint inv1 pre trans post)
(inv-constraint inv2 pre trans post)
(check-synth)
"""


def problem(text: str, name: str = "p") -> Problem:
    return prover.from_text(text, id=name)


def solved(text: str, budget: float = 20.0):
    p = problem(text)
    result = synthesize(p, time_budget_s=budget)
    assert result.status is Status.VERIFIED, (result.reason, result.stats)
    # Every answer is checked again here, from its text, by the prover's checker.
    assert prover.check(p, result.proof, CheckLimits(timeout_s=30)).verified
    assert result.nodes == result.stats["terms"]
    return result


def test_max2_by_divide_and_conquer():
    result = solved(MAX2)
    assert result.stats["strategy"] == "divide-and-conquer"
    assert "ite" in result.proof


def test_three_branch_clamp():
    result = solved(CLAMP)
    assert result.proof.count("ite") >= 2


def test_not_single_invocation_falls_back_to_enumeration():
    result = solved(SYMMETRIC)
    assert result.stats["strategy"] == "enumeration"


def test_two_functions_assigned_one_after_another():
    solved(TWO_FUNCTIONS)


def test_grammar_restriction_is_obeyed():
    result = solved(GRAMMAR)
    body = result.proof.split("Int", 2)[-1]
    assert "*" not in body and "-" not in body


def test_tiny_invariant():
    result = solved(INVARIANT)
    assert result.stats["strategy"] == "invariant"


def test_budget_is_honoured_on_an_impossible_problem():
    started = time.perf_counter()
    result = synthesize(problem(IMPOSSIBLE), time_budget_s=2.0)
    assert result.status is Status.UNKNOWN and result.proof is None
    assert time.perf_counter() - started < 6.0
    assert result.reason == "timeout"


def test_bit_vectors_with_a_grammar():
    result = solved(BITVECTOR)
    assert "bvand" in result.proof


@pytest.mark.parametrize("text", [TWO_INVARIANTS, "(set-logic LIA) garbage (", ""])
def test_odd_input_is_unknown_never_a_crash(text):
    odd = Problem(id="odd", prover="z3", text=text)
    result = synthesize(odd, time_budget_s=2.0)
    assert result.status is Status.UNKNOWN
    assert result.reason


def test_prover_declares_and_runs_the_search():
    assert prover.can_search and prover.search_by_default
    result = prover.search(problem(MAX2), None, time_budget_s=10.0)
    assert result.status is Status.VERIFIED and result.verdict.verified


# -- the pieces ---------------------------------------------------------------------------------


def _enumerator(text: str, points: list[int], guide=None) -> Enumerator:
    fun = parse_problem(text).synth_funs[0]
    rules = default_rules(fun, [0, 1])
    inputs = [np.array(points, dtype=np.int64) for _ in fun.params]
    ctx = Context("p", fun.name, rules.start, fun.sort)
    return Enumerator(rules, fun.params, inputs, len(points), guide or Uniform(), ctx, {})


def test_observational_equivalence_keeps_one_term_per_vector():
    enum = _enumerator(CLAMP, [-3, 4, 20])
    enum.grow()
    enum.grow()
    enum.grow()
    texts = [term_text(t) for t, _, _ in enum.terms("Start")]
    # Level 1: x 0 1; level 3: (+ x 1) and (- x 1) are new, (+ x 0) and (- x 0) behave like x.
    assert texts[:3] == ["x", "0", "1"]
    assert "(+ x 0)" not in texts and "(- x 0)" not in texts
    assert "(+ x 1)" in texts
    vectors = [r.tobytes() for _, r, _ in enum.terms("Start")]
    assert len(vectors) == len(set(vectors))
    assert enum.tried > enum.count


def test_decision_tree_splits_on_the_informative_predicate():
    x, y = var("x", INT, 0), var("y", INT, 1)
    le = Term(APP, "<=", (x, y), BOOL, ())
    gt0 = Term(APP, ">", (x, lit(0, INT)), BOOL, ())
    # Points: x covers 0 and 1, y covers 2 and 3; only x <= y tells them apart.
    covers = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=bool)
    preds = np.array([[1, 0, 1, 0], [0, 0, 1, 1]], dtype=bool)
    tree = learn(covers, [x, y], preds, [gt0, le])
    assert isinstance(tree, Split) and tree.predicate is le
    assert term_text(to_term(tree)) == "(ite (<= x y) y x)"
    assert learn(covers, [x, y], preds[:1], [gt0]) is None
    assert isinstance(learn(covers[:, :2], [x, y], preds[:, :2], [gt0, le]), Leaf)


def test_pcfg_prices_seen_productions_below_unseen_ones():
    x = var("x", INT, 0)
    bodies = [Term(APP, "+", (x, lit(1, INT)), INT, ()), Term(APP, "+", (x, x), INT, ())]
    guide = PCFG.fit(bodies)
    ctx = Context("p", "f", "Start", INT)
    assert guide.cost("+/2", ctx) < guide.cost("-/2", ctx)
    assert guide.cost("param", ctx) < guide.cost("const", ctx) < guide.cost("ite/3", ctx)
    assert production_key(Production("app", (APP, "+", ()), ("S", "S"))) == "+/2"


def test_pcfg_guide_changes_nothing_else(tmp_path):
    x = var("x", INT, 0)
    guide = PCFG.fit([Term(APP, "ite", (Term(APP, "<=", (x, x), BOOL, ()), x, x), INT, ())])
    guide.save(tmp_path / "g.json")
    loaded = PCFG.load(tmp_path / "g.json")
    assert loaded.counts == guide.counts
    p = problem(MAX2)
    result = synthesize(p, guide=loaded, time_budget_s=20.0)
    assert result.status is Status.VERIFIED
    assert prover.check(p, result.proof, CheckLimits()).verified


def test_simplify_folds_reflexive_comparisons_and_units():
    x, y = var("x", INT, 0), var("y", INT, 1)
    ge = Term(APP, ">=", (x, x), BOOL, ())
    keep = Term(APP, "<=", (x, y), BOOL, ())
    conj = Term(APP, "and", (keep, ge, Term(APP, "or", (ge, keep), BOOL, ())), BOOL, ())
    assert term_text(simplify(conj)) == "(<= x y)"
    assert term_text(simplify(Term(APP, ">", (y, y), BOOL, ()))) == "false"


def test_default_grammar_has_the_ite_shape():
    fun = parse_problem(MAX2).synth_funs[0]
    sh = shape(default_rules(fun, [0, 1]))
    assert sh.ite is not None and sh.condition == "Cond"


@pytest.mark.shared
def test_clia_benchmarks_solved_and_rechecked(shared_benchmarks):
    track = shared_benchmarks / "CLIA_Track" / "from_2018"
    for name in ("jmbl_fg_max5.sl", "jmbl_fg_array_search_4.sl", "small.sl", "jmbl_fg_fivefuncs.sl"):
        (p,) = prover.load(track / name)
        result = synthesize(p, time_budget_s=30.0)
        assert result.status is Status.VERIFIED, (name, result.reason)
        assert prover.check(p, result.proof, CheckLimits(timeout_s=30)).verified


@pytest.mark.shared
def test_code2inv_invariant_solved_and_rechecked(shared_benchmarks):
    (p,) = prover.load(shared_benchmarks / "Inv_Track" / "xujie_code2inv" / "100.c.sl")
    result = synthesize(p, time_budget_s=30.0)
    assert result.status is Status.VERIFIED, result.reason
    assert prover.check(p, result.proof, CheckLimits(timeout_s=30)).verified


def test_affine_terms_recover_a_linear_piece_among_outliers():
    import random

    from provers.z3.synth.affine import affine_terms

    rng = random.Random(1)
    params = (("x", INT), ("y", INT))
    inputs = [[rng.randint(-9, 9), rng.randint(-9, 9)] for _ in range(30)]
    outputs = [3 * x - 2 * y + 5 if i % 3 else 7 for i, (x, y) in enumerate(inputs)]
    terms = affine_terms(params, inputs, outputs, rng)
    assert term_text(terms[0]) == "(+ (+ (* 3 x) (* -2 y)) 5)"


def test_a_found_answer_counts_only_when_the_check_pool_verifies_it_again():
    from types import SimpleNamespace

    from proofloop.evaluate import recheck_found
    from proofloop.executors import CheckPool
    from proofloop.types import Verdict

    found = prover.search(problem(MAX2), None, time_budget_s=10.0)
    assert found.verdict.verified
    with CheckPool("local", 1) as pool:
        again = recheck_found(found, problem(MAX2), CheckLimits(timeout_s=5), pool)
    assert again.verdict.verified and again.proof == found.proof
    refusing = SimpleNamespace(check_batch=lambda items, limits: [Verdict(Status.UNKNOWN, "z3", "v", reason="resource")])
    lost = recheck_found(found, problem(MAX2), CheckLimits(timeout_s=5), refusing)
    assert lost.proof is None and lost.status is Status.UNKNOWN and lost.reason == "recheck: resource"
