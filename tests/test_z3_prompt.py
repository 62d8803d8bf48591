"""The Z3 prompt: renamed variables, the answer's opening, and the way back to a candidate."""

from __future__ import annotations

import random

import pytest

from proofloop.problemfile import bundled_problems_dir, load_problems
from provers.z3 import Z3Prover
from provers.z3.prompt import MARKER, answer_prefix, renaming, symbols_of, target
from provers.z3.sygus import parse_problem

PROVER = Z3Prover()



def difference(a: str, b: str) -> str:
    """f(a, b) = a - b, with the variables named a and b."""
    return f"""(set-logic LIA)
(synth-fun f (({a} Int) ({b} Int)) Int)
(declare-var {a} Int)
(declare-var {b} Int)
(constraint (= (f {a} {b}) (- {a} {b})))
(check-synth)
"""


SWAPPED = difference("y", "x")
QV = difference("q", "v")


def problem_part(prompt: str) -> str:
    return prompt[: prompt.rfind(MARKER)]


def test_variables_get_standard_names_in_order_of_appearance():
    prompt = PROVER.prompt(PROVER.from_text(QV, id="p"))
    assert "(synth-fun f ((x Int) (y Int)) Int)" in prompt
    assert "(constraint (= (f x y) (- x y)))" in prompt
    assert prompt.endswith("; solution:\n(define-fun f ((x Int) (y Int)) Int ")
    assert {"q", "v"}.isdisjoint(symbols_of(problem_part(prompt)))


def test_a_swapping_renaming_keeps_the_problem_and_the_checker_reads_the_original():
    problem = PROVER.from_text(SWAPPED, id="swap")
    prompt = PROVER.prompt(problem)
    # y -> x and x -> y at once: the prompt says f(x, y) = x - y, the same problem.
    assert "(constraint (= (f x y) (- x y)))" in prompt
    right = PROVER.extract("(- x y))", prompt)
    assert right == "(define-fun f ((x Int) (y Int)) Int (- x y))"
    assert PROVER.check(problem, right).verified
    assert not PROVER.check(problem, PROVER.extract("(- y x))", prompt)).verified


def test_names_the_problem_uses_otherwise_are_never_given_to_variables():
    text = """(set-logic LIA)
(define-fun x ((a Int)) Int (+ a 1))
(synth-fun f ((a Int) (b Int)) Int ((Start Int) (y Int)) ((Start Int (a b y)) (y Int (0 1 (x Start)))))
(declare-var a Int)
(declare-var b Int)
(constraint (>= (f a b) a))
(check-synth)
"""
    problem = PROVER.from_text(text, id="taken")
    assert renaming(problem.data, symbols_of(text)) == {"a": "z", "b": "w"}
    prompt = PROVER.prompt(problem)
    renamed = parse_problem(problem_part(prompt), "prompt")
    assert [p for p, _ in renamed.synth_funs[0].params] == ["z", "w"]
    assert PROVER.check(problem, PROVER.extract("(x z))", prompt)).verified


def test_primed_state_variables_follow_their_names():
    text = """(set-logic LIA)
(synth-inv inv ((a Int)))
(declare-primed-var a Int)
(define-fun pre ((a Int)) Bool (= a 0))
(define-fun trans ((a Int) (a! Int)) Bool (= a! (+ a 1)))
(define-fun post ((a Int)) Bool (>= a 0))
(inv-constraint inv pre trans post)
(check-synth)
"""
    problem = PROVER.from_text(text, id="inv")
    prompt = PROVER.prompt(problem)
    assert "(define-fun trans ((x Int) (x! Int)) Bool (= x! (+ x 1)))" in prompt
    assert "a" not in symbols_of(problem_part(prompt))
    parse_problem(problem_part(prompt), "prompt")
    assert PROVER.check(problem, PROVER.extract("(>= x 0))", prompt)).verified


def test_target_rewrites_a_candidate_in_the_prompts_parameter_names():
    problem = PROVER.from_text(QV, id="p")
    prompt = PROVER.prompt(problem)
    assert target(prompt, "(define-fun f ((q Int) (v Int)) Int (- q v))") == "(- x y))"
    assert target(prompt, "(define-fun f ((x Int) (y Int)) Int (- x y))") == "(- x y))"
    # Parameter names are the candidate's own: (a, b) reads like (x, y).
    assert target(prompt, "(define-fun f ((a Int) (b Int)) Int (- a b))") == "(- x y))"
    # Further definitions follow the first.
    two = "(define-fun f ((a Int) (b Int)) Int (g a))\n(define-fun g ((c Int)) Int c)"
    assert target(prompt, two) == "(g x))\n(define-fun g ((c Int)) Int c)"


@pytest.mark.parametrize(
    "candidate",
    [
        "(define-fun g ((a Int) (b Int)) Int a)",  # another function
        "(define-fun f ((a Int)) Int a)",  # another arity
        "(define-fun f ((a Int) (b Bool)) Int a)",  # another sort
        "(define-fun f ((a Int) (b Int)) Bool true)",  # another result sort
        "(define-fun f ((a Int) (a Int)) Int a)",  # duplicate parameters
        "(define-fun f ((a Int) (b Int)) Int (let ((x 1)) (+ x a)))",  # x would be captured
        "(define-fun f ((a Int) (b Int)) Int",  # does not parse
    ],
)
def test_target_refuses_what_cannot_continue_the_prompt(candidate):
    prompt = PROVER.prompt(PROVER.from_text(SWAPPED, id="swap"))
    assert target(prompt, candidate) is None


def test_extract_puts_the_opening_back_and_stops_at_the_definitions_end():
    prompt = PROVER.prompt(PROVER.from_text(SWAPPED, id="swap"))
    assert answer_prefix(prompt) == "(define-fun f ((x Int) (y Int)) Int "
    assert PROVER.extract("(- x y)) and some chatter", prompt) == "(define-fun f ((x Int) (y Int)) Int (- x y))"
    # A completion that writes the whole definition (a chat model) is taken as it is.
    assert PROVER.extract("(define-fun f ((a Int) (b Int)) Int a)", prompt) == "(define-fun f ((a Int) (b Int)) Int a)"
    assert PROVER.extract("(- x y)", prompt) == ""  # the definition never closes
    assert PROVER.extract("(- x y))") == ""  # without the prompt there is no opening


def test_reference_solutions_round_trip_through_the_prompt():
    problems = load_problems(bundled_problems_dir(), prover="z3")
    for problem in random.Random(0).sample(problems, 60):
        prompt = PROVER.prompt(problem)
        completion = target(prompt, problem.reference)
        assert completion is not None, problem.id
        assert PROVER.check(problem, PROVER.extract(completion, prompt)).verified, problem.id


def test_grammar_samples_keep_their_verdicts_through_the_prompt():
    problems = load_problems(bundled_problems_dir(), prover="z3")
    rng = random.Random(1)
    for problem in rng.sample(problems, 25):
        prompt = PROVER.prompt(problem)
        for candidate in PROVER.sample(problem, 4, rng):
            completion = target(prompt, candidate)
            assert completion is not None, (problem.id, candidate)
            before = PROVER.check(problem, candidate)
            after = PROVER.check(problem, PROVER.extract(completion, prompt))
            assert (before.status, before.reason) == (after.status, after.reason), (problem.id, candidate)


CLAMP = """(set-logic LIA)
(synth-fun f ((v Int)) Int)
(declare-var v Int)
(constraint (>= (f v) 17))
(constraint (<= (f v) 40))
(constraint (=> (and (<= 17 v) (<= v 40)) (= (f v) v)))
(check-synth)
"""


def test_numerals_become_placeholders_listed_in_a_legend():
    prompt = PROVER.prompt(PROVER.from_text(CLAMP, id="clamp"))
    assert prompt.startswith("; literals: k0=17 k1=40\n")
    assert "(constraint (>= (f x) k0))" in prompt and "(<= x k1)" in prompt
    assert "17" not in problem_part(prompt).split("\n", 1)[1]


def test_placeholders_are_written_back_and_the_checker_judges_the_numbers():
    problem = PROVER.from_text(CLAMP, id="clamp")
    prompt = PROVER.prompt(problem)
    right = PROVER.extract("(ite (< x k0) k0 (ite (> x k1) k1 x)))", prompt)
    assert right == "(define-fun f ((x Int)) Int (ite (< x 17) 17 (ite (> x 40) 40 x)))"
    assert PROVER.check(problem, right).verified
    swapped = PROVER.extract("(ite (< x k1) k1 (ite (> x k0) k0 x)))", prompt)
    assert not PROVER.check(problem, swapped).verified
    unknown = PROVER.extract("(ite (< x k7) k0 x))", prompt)  # not in the legend: stays a symbol
    assert "k7" in unknown and not PROVER.check(problem, unknown).verified
    # target is the inverse: the reference's numbers become the prompt's placeholders
    assert PROVER.target(prompt, right) == "(ite (< x k0) k0 (ite (> x k1) k1 x)))"
    assert PROVER.target(prompt, "(define-fun f ((q Int)) Int (+ q 17 2))") == "(+ x k0 2))"


def test_a_candidate_that_binds_a_placeholder_name_is_not_trained_in_a_changed_form():
    problem = PROVER.from_text(CLAMP, id="clamp")
    prompt = PROVER.prompt(problem)
    binds = "(define-fun f ((x Int)) Int (let ((k0 (ite (< x 17) 17 x))) (ite (> k0 40) 40 k0)))"
    assert PROVER.check(problem, binds).verified
    # Placing 17 -> k0 would capture the let's own k0: no completion writes this candidate back.
    assert PROVER.target(prompt, binds) is None
    plain = "(define-fun f ((x Int)) Int (ite (< x 17) 17 (ite (> x 40) 40 x)))"
    assert PROVER.check(problem, PROVER.extract(PROVER.target(prompt, plain), prompt)).verified


def test_a_retry_prompt_keeps_the_legend_of_the_problem_it_ends_with():
    from proofloop.loop import retry_prompt

    problem = PROVER.from_text(CLAMP, id="clamp")
    prompt = PROVER.prompt(problem)
    # A failed candidate that carries a legend line of its own does not take the problem's place.
    failed = "(define-fun f ((x Int)) Int\n; literals: k0=3 k1=5\nx)"
    retry = retry_prompt(prompt, failed, '{"x": "16"}')
    right = PROVER.extract("(ite (< x k0) k0 (ite (> x k1) k1 x)))", retry)
    assert right == "(define-fun f ((x Int)) Int (ite (< x 17) 17 (ite (> x 40) 40 x)))"
    assert PROVER.check(problem, right).verified


def test_no_placeholders_where_a_numeral_is_not_a_constant_or_k_names_are_taken():
    bv = """(set-logic BV)
(synth-fun f ((x (_ BitVec 32))) (_ BitVec 32))
(declare-var x (_ BitVec 32))
(constraint (= (f x) (bvadd x #x00000003)))
(check-synth)
"""
    assert "; literals:" not in PROVER.prompt(PROVER.from_text(bv, id="bv"))
    taken = CLAMP.replace("(synth-fun f ((v Int)) Int)", "(define-fun k0 () Int 3)\n(synth-fun f ((v Int)) Int)")
    assert "; literals:" not in PROVER.prompt(PROVER.from_text(taken, id="taken"))
    small = difference("a", "b").replace("(- a b)", "(+ a b 1)")
    assert "; literals:" not in PROVER.prompt(PROVER.from_text(small, id="small"))  # 0 and 1 stay
