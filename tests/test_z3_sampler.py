"""The grammar sampler's default grammar: its shapes, constants, distinct samples and size order."""

from __future__ import annotations

import random
import statistics

import pytest

from provers.z3 import Z3Prover
from provers.z3.checker import compile_text, front_end
from provers.z3.constants import SMALL_INTS
from provers.z3.lia import probe_points
from provers.z3.sexpr import Symbol, parse_one

PROVER = Z3Prover()

COMPARISONS = {"<", "<=", ">", ">=", "="}
ARITHMETIC = {"+", "-", "*", "div", "mod"}


def lia(params: str, sort: str, *constraints: str) -> str:
    """A LIA problem without a grammar: synth-fun f over `params` ("x Int, b Bool")."""
    pairs = [p.split() for p in params.split(", ")]
    signature = " ".join(f"({p} {s})" for p, s in pairs)
    decls = "".join(f"(declare-var {p} {s})\n" for p, s in pairs)
    body = "".join(f"(constraint {c})\n" for c in constraints)
    return f"(set-logic LIA)\n(synth-fun f ({signature}) {sort})\n{decls}{body}(check-synth)\n"


OFFSET = lia("x Int", "Int", "(= (- (f x) x) 3)")
MAX_CONST = lia("z Int", "Int", "(>= (f z) z)", "(>= (f z) 6)", "(or (= (f z) z) (= (f z) 6))")
TWO = lia("x Int, y Int", "Int", "(>= (f x y) (- x y 12))", "(<= (f x y) (+ x y 37))")
PREDICATE = lia("s Int", "Bool", "(=> (< s 10) (f s))", "(=> (>= s 10) (not (f s)))")
MIXED = lia("b Bool, x Int, y Int", "Int", "(= (f b x y) (ite b x y))")
INVARIANT = """(set-logic LIA)
(synth-inv inv ((x Int) (y Int) (b Bool)))
(define-fun pre ((x Int) (y Int) (b Bool)) Bool (and (= x 0) (= y 0)))
(define-fun trans ((x Int) (y Int) (b Bool) (x! Int) (y! Int) (b! Bool)) Bool (and (= x! (+ x 1)) (= y! (+ y 1))))
(define-fun post ((x Int) (y Int) (b Bool)) Bool (= x y))
(inv-constraint inv pre trans post)
(check-synth)
"""
EQUAL_COUNTERS = INVARIANT.replace(" (b Bool)", "").replace(" (b! Bool)", "")
DEFAULT_GRAMMAR_PROBLEMS = [OFFSET, MAX_CONST, TWO, PREDICATE, MIXED, INVARIANT]


def samples(text: str, n: int, seed: int = 0, max_size: int = 16) -> list[str]:
    return PROVER.sample(PROVER.from_text(text, id="p"), n, random.Random(seed), max_size=max_size)


def body(candidate: str):
    """The body of a one-function candidate as an s-expression."""
    return parse_one(candidate)[4]


def is_constant(term) -> bool:
    if type(term) is int:
        return True
    return isinstance(term, tuple) and len(term) == 2 and term[0] == "-" and type(term[1]) is int


def ground(term, params: set[str]) -> bool:
    if isinstance(term, tuple):
        return all(ground(t, params) for t in term[1:])
    return not (isinstance(term, Symbol) and term in params)


def degenerate(term, params: set[str]) -> str | None:
    """Why `term` has a part that a smaller term says as well, or None."""
    if not isinstance(term, tuple) or is_constant(term):
        return None
    op, args = term[0], term[1:]
    if op == "ite" and args[1] == args[2]:
        return "ite with equal branches"
    if op == "ite" and ground(args[0], params):
        return "ite with a constant test"
    if op in COMPARISONS | ARITHMETIC and all(ground(a, params) for a in args):
        return f"{op} of constants"
    if op in COMPARISONS | {"and", "or", "-"} and len(args) == 2 and args[0] == args[1]:
        return f"{op} of twin arguments"
    if op in ("+", "-") and args[-1] == 0 or op == "*" and any(a in (0, 1) for a in args if type(a) is int):
        return f"{op} with its identity"
    for a in args:
        why = degenerate(a, params)
        if why:
            return why
    return None


@pytest.mark.parametrize(
    "text, why",
    [
        ("(ite (<= 3 5) x y)", "ite with a constant test"),
        ("(+ x (+ 2 3))", "+ of constants"),
        ("(and (< x 3) (<= 4 5))", "<= of constants"),
        ("(ite (< x 3) (+ y 1) (+ y 1))", "ite with equal branches"),
        ("(- y y)", "- of twin arguments"),
        ("(+ (* 1 x) 2)", "* with its identity"),
        ("(+ x 0)", "+ with its identity"),
        ("(ite (< x 3) (+ y 1) (- 2))", None),
        ("(and (>= x (- 3)) (<= (+ x y) 7))", None),
    ],
)
def test_the_degeneracy_test_itself(text, why):
    assert degenerate(parse_one(text), {"x", "y"}) == why


@pytest.mark.parametrize("text", DEFAULT_GRAMMAR_PROBLEMS)
def test_default_grammar_samples_conform_and_nothing_in_them_is_degenerate(text):
    compiled = compile_text(text)
    drawn = samples(text, 400, seed=5)
    assert len(drawn) == 400
    for candidate in drawn:
        front_end(compiled, candidate)  # raises Rejection if the sample is not a valid candidate
        params = {str(p[0]) for p in parse_one(candidate)[2]}
        assert degenerate(body(candidate), params) is None, candidate


@pytest.mark.parametrize("text", DEFAULT_GRAMMAR_PROBLEMS)
def test_samples_are_distinct_in_canonical_form(text):
    drawn = samples(text, 64, seed=1)
    assert len({PROVER.canonical(c) for c in drawn}) == 64


def test_a_grammar_with_fewer_terms_than_asked_gives_each_term_then_repeats():
    tiny = "(set-logic LIA)\n(synth-fun f ((x Int)) Int ((Start Int (x 1))))\n(declare-var x Int)\n"
    tiny += "(constraint (= (f x) x))\n"
    drawn = samples(tiny, 5)
    assert len(drawn) == 5
    assert {str(body(c)) for c in drawn} == {"x", "1"}
    assert drawn[2:] == [drawn[0], drawn[1], drawn[0]]


def test_samples_come_smallest_first_and_mix_sizes():
    for text in (OFFSET, TWO, MAX_CONST):
        sizes = [str(body(c)).count("(") for c in samples(text, 64, seed=2)]
        quarter = len(sizes) // 4
        assert statistics.mean(sizes[:quarter]) < statistics.mean(sizes[-quarter:])
        assert sizes[0] == 0  # a bare parameter comes first
        assert len(set(sizes)) >= 5


def test_default_grammar_uses_every_operator_and_multiplies_by_constants_only():
    ops: set[str] = set()
    for candidate in samples(TWO, 600, seed=3):
        stack = [body(candidate)]
        while stack:
            term = stack.pop()
            if isinstance(term, tuple) and not is_constant(term):
                ops.add(str(term[0]))
                if term[0] == "*":
                    assert is_constant(term[1]), candidate
                if term[0] in ("div", "mod"):
                    assert type(term[2]) is int and term[2] > 1, candidate
                stack.extend(term[1:])
    assert COMPARISONS | {"+", "-", "*", "ite"} <= ops


def test_constants_come_from_the_problem_and_a_few_small_values():
    allowed = {v * s for v in (12, 37, *SMALL_INTS) for s in (1, -1)}
    seen: set[int] = set()
    for candidate in samples(TWO, 300, seed=4):
        stack = [body(candidate)]
        while stack:
            term = stack.pop()
            if is_constant(term):
                seen.add(term if type(term) is int else -term[1])
            elif isinstance(term, tuple):
                stack.extend(term[1:])
    assert seen <= allowed
    assert {12, 37} <= {abs(v) for v in seen}
    assert not {100, 6} & seen  # nothing made up


def test_invariant_samples_are_and_or_of_comparisons():
    atoms = 0
    for candidate in samples(EQUAL_COUNTERS, 200, seed=6):
        term = body(candidate)
        parts = list(term[1:]) if term[0] in ("and", "or") else [term]
        for part in parts:
            if part[0] in ("and", "or"):
                parts.extend(part[1:])
                continue
            assert str(part[0]) in COMPARISONS, candidate
            atoms += 1
    assert atoms > 200


def test_probe_points_take_every_literal_and_its_neighbours_and_relate_parameters():
    points = probe_points(2, 1, [37, -12])
    for column in range(2):
        values = {p[column] for p in points}
        assert {36, 37, 38, -13, -12, -11} <= values
        assert {-3, 0, 6} <= values
    assert any(p[0] == p[1] for p in points) and any(p[1] == p[0] + 1 for p in points)
    assert {p[2] for p in points} == {True, False}
    assert probe_points(2, 1, [37, -12]) == points  # fixed: fingerprints are comparable across draws


def test_same_seed_same_samples_other_seed_other_samples():
    assert samples(TWO, 32, seed=9) == samples(TWO, 32, seed=9)
    assert samples(TWO, 32, seed=9) != samples(TWO, 32, seed=10)


def test_constant_sums_are_redrawn_where_the_grammar_derives_the_constant_itself():
    with_constants = (
        "(set-logic LIA)\n(synth-fun f ((x Int)) Int ((Start Int (x (Constant Int) (+ Start Start)))))\n"
        "(declare-var x Int)\n(constraint (= (f x) (+ x 3)))\n"
    )
    only_one = with_constants.replace("(Constant Int)", "1")
    def constant_sums(text: str) -> list:
        bodies = [body(c) for c in samples(text, 300, seed=8)]
        return [t for t in bodies if not is_constant(t) and isinstance(t, tuple) and ground(t, {"x"})]

    assert constant_sums(with_constants) == []
    # Without (Constant Int), (+ 1 1) is the only way to say 2, so it is drawn.
    assert ("+", 1, 1) in constant_sums(only_one)


@pytest.mark.parametrize(
    "text",
    [OFFSET, MAX_CONST, PREDICATE, EQUAL_COUNTERS],
    ids=["offset", "max-with-constant", "predicate", "equal-counters"],
)
def test_the_default_grammar_solves_the_easy_shapes_within_64_samples(text):
    problem = PROVER.from_text(text, id="easy")
    verdicts = [PROVER.check(problem, c) for c in samples(text, 64, seed=0)]
    assert any(v.verified for v in verdicts)
    assert any(v.reason == "counterexample" for v in verdicts)  # and the checker still says no to most


def test_the_named_weights_steer_the_default_grammar():
    """LiaWeights is what the generator reads: weights of zero remove those shapes."""
    from provers.z3.constants import IntPool, problem_literals
    from provers.z3.lia import DEFAULT_WEIGHTS, LiaGenerator, LiaWeights

    problem = PROVER.parsed(PROVER.from_text(lia("x Int, y Int", "Int", "(>= (f x y) x)"), id="p"))
    fun = problem.synth_funs[0]
    only_params = LiaWeights(
        const_weight=0.0, linear_weight=0.0, arith_weight=0.0, scale_weight=0.0, divmod_weight=0.0, ite_weight=0.0,
        constant_body_share=0.0,
    )

    def bodies(weights: LiaWeights) -> set[str]:
        pool = IntPool(problem_literals(problem), random.Random(3))
        gen = LiaGenerator(fun, problem.theories, pool, invariant=False, weights=weights)
        return {gen.body(12)[0] for _ in range(200)}

    assert bodies(only_params) == {"x", "y"}
    assert len(bodies(DEFAULT_WEIGHTS)) > 50
