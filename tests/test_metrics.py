"""Metrics: pass@k against the exact binomial formula, diversity, forgetting, NLL."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proofloop.generate.base import Completion
from proofloop.metrics import (
    distinct_n,
    forgetting_rate,
    mean_pass_at_k,
    mean_token_entropy,
    nll_per_token,
    pass_at_k,
    tokens,
    unique_per_solved,
)


def exact_pass_at_k(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (10, 1, 1, 0.1),
        (10, 0, 5, 0.0),
        (10, 10, 1, 1.0),
        (4, 2, 2, 1 - 1 / 6),  # C(2,2)/C(4,2) = 1/6
        (16, 3, 8, 1 - math.comb(13, 8) / math.comb(16, 8)),
        (8, 1, 8, 1.0),
        (5, 3, 3, 1.0),  # only 2 failures: every 3-subset passes
    ],
)
def test_pass_at_k_known_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_matches_exact_binomials(nck):
    n, c, k = nck
    assert pass_at_k(n, c, k) == pytest.approx(float(exact_pass_at_k(n, c, k)), abs=1e-9)


def test_pass_at_k_is_stable_for_large_n():
    # C(5000, 100) overflows a float; the product form must not.
    value = pass_at_k(5000, 7, 100)
    assert 0.0 < value < 1.0
    assert value == pytest.approx(1 - math.prod(1 - 100 / i for i in range(4994, 5001)), rel=1e-12)


def test_pass_at_k_grows_with_k_and_c():
    assert pass_at_k(16, 2, 1) < pass_at_k(16, 2, 4) < pass_at_k(16, 2, 8)
    assert pass_at_k(16, 1, 4) < pass_at_k(16, 3, 4)


@pytest.mark.parametrize(("n", "c", "k"), [(4, 1, 5), (0, 0, 1), (4, 5, 1), (4, -1, 1), (4, 1, 0), (-1, 0, 1)])
def test_pass_at_k_rejects_bad_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_pass_at_k_k_greater_than_n_message_names_both():
    with pytest.raises(ValueError, match=r"k=9 > n=8"):
        pass_at_k(8, 1, 9)


def test_mean_pass_at_k():
    counts = {"a": (4, 4), "b": (4, 0), "c": (4, 1)}
    assert mean_pass_at_k(counts, 1) == pytest.approx((1.0 + 0.0 + 0.25) / 3)
    assert mean_pass_at_k(counts, 4) == pytest.approx(2 / 3)
    assert mean_pass_at_k({}, 1) == 0.0
    with pytest.raises(ValueError):
        mean_pass_at_k({"a": (2, 1)}, 4)


def test_tokens_split_parentheses():
    assert tokens("(+ x (ite (< x y) y x))") == ["(", "+", "x", "(", "ite", "(", "<", "x", "y", ")", "y", "x", ")", ")"]
    assert tokens("( + x  y )") == tokens("(+ x y)")
    assert tokens("  ") == []


def test_distinct_n():
    # "a b a b": bigrams (a b), (b a), (a b) -> 2 unique of 3
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    # identical texts halve distinct-2
    assert distinct_n(["(f x)", "(f x)"], 2) == pytest.approx(0.5)
    assert distinct_n(["(f x)", "(g y)"], 2) == pytest.approx(1.0)
    assert distinct_n(["x y z"], 1) == 1.0
    assert distinct_n([], 2) == 0.0
    assert distinct_n(["x"], 2) == 0.0  # no bigram at all
    with pytest.raises(ValueError):
        distinct_n(["x"], 0)


def test_distinct_n_does_not_join_texts():
    # the bigram (y, z) would only appear if texts were concatenated
    assert distinct_n(["x y", "z w"], 2) == 1.0
    assert distinct_n(["x y", "x y"], 2) == 0.5


def test_mean_token_entropy():
    comps = [Completion("a", 2, -2.0), Completion("b", 4, -2.0), Completion("", 0, 0.0)]
    assert mean_token_entropy(comps) == pytest.approx((1.0 + 0.5) / 2)
    assert mean_token_entropy([Completion("", 0, 0.0)]) == 0.0
    assert mean_token_entropy([]) == 0.0
    # a confident model (logprob near 0) has lower entropy than an unsure one
    assert mean_token_entropy([Completion("a", 3, -0.3)]) < mean_token_entropy([Completion("a", 3, -6.0)])


def test_forgetting_rate():
    assert forgetting_rate({"a", "b", "c", "d"}, {"a", "b", "x"}) == pytest.approx(0.5)
    assert forgetting_rate({"a"}, {"a"}) == 0.0
    assert forgetting_rate([], {"a"}) == 0.0
    assert forgetting_rate(["a", "a", "b"], []) == 1.0


def test_unique_per_solved():
    verified = {"p1": ["h1", "h2", "h1"], "p2": {"h3"}, "p3": []}
    assert unique_per_solved(verified) == pytest.approx((2 + 1) / 2)
    assert unique_per_solved({"p": []}) == 0.0
    assert unique_per_solved({}) == 0.0


def test_nll_per_token():
    assert nll_per_token([-4.0, -2.0], [2, 4]) == pytest.approx(1.0)
    assert nll_per_token([], []) == 0.0
    assert nll_per_token([0.0], [0]) == 0.0
    with pytest.raises(ValueError, match="one token count per logprob sum"):
        nll_per_token([-1.0], [1, 2])
    with pytest.raises(ValueError):
        nll_per_token([-1.0], [-1])


def test_bootstrap_ci_brackets_the_mean_and_narrows_with_more_problems():
    from proofloop.metrics import bootstrap_ci

    few = [1.0, 0.0, 1.0, 0.0]
    many = few * 50
    lo, hi = bootstrap_ci(few, seed=1)
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0
    lo2, hi2 = bootstrap_ci(many, seed=1)
    assert lo <= lo2 <= 0.5 <= hi2 <= hi and hi2 - lo2 < hi - lo
    assert bootstrap_ci([], seed=1) == (0.0, 0.0)
    assert bootstrap_ci([0.3] * 10) == pytest.approx((0.3, 0.3))


def test_paired_drop_bound_separates_noise_from_a_real_drop():
    from proofloop.metrics import paired_drop_bound

    ref = {f"p{i}": 1.0 if i % 2 else 0.0 for i in range(60)}
    swapped = {f"p{i}": 0.0 if i % 2 else 1.0 for i in range(60)}  # same mean, different problems
    mean, upper = paired_drop_bound(swapped, ref, seed=2)
    assert mean == 0.0 and upper > 0.0  # within the noise: not a significant drop
    lower = {p: v * 0.5 for p, v in ref.items()}
    mean, upper = paired_drop_bound(lower, ref, seed=2)
    assert mean == pytest.approx(-0.25) and upper < 0.0
    assert paired_drop_bound({"a": 1.0}, {"b": 1.0}) == (0.0, 0.0)  # no common problems
