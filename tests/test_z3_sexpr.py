"""The s-expression tokenizer, parser and printer of the Z3 prover, fuzzed with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provers.z3.sexpr import (
    BVLit,
    Decimal,
    Keyword,
    ParseError,
    StrLit,
    Symbol,
    _parse_fast,
    _parse_general,
    collapse,
    depth,
    parse,
    parse_all,
    parse_one,
    to_text,
)


def test_atoms_are_typed():
    forms = parse('(f x 12 -3 #x0f #b101 :named "a ""b""" |two words| 1.5)')
    assert forms == [
        (
            Symbol("f"),
            Symbol("x"),
            12,
            -3,
            BVLit(15, 8),
            BVLit(5, 3),
            Keyword(":named"),
            StrLit('a "b"'),
            Symbol("two words"),
            Decimal("1.5"),
        )
    ]
    assert isinstance(forms[0][1], Symbol) and isinstance(forms[0][7], StrLit)


def test_hex_and_binary_spellings_are_the_same_literal():
    assert parse_one("#x0F") == parse_one("#b00001111") == BVLit(15, 8)
    assert parse_one("#x0F") != parse_one("#b1111")


def test_quoted_symbol_is_the_plain_symbol():
    assert parse_one("|abc|") == parse_one("abc") == Symbol("abc")


def test_negative_numeral_but_minus_symbol():
    assert parse("-5 - -x -5x") == [-5, Symbol("-"), Symbol("-x"), Symbol("-5x")]


def test_lines_of_top_level_forms():
    text = "; a comment\n(set-logic LIA)\n\n(synth-fun f\n ((x Int)) Int)\n(check-synth)"
    assert [line for _, line in parse_all(text)] == [2, 4, 6]


@pytest.mark.parametrize(
    "text, message",
    [
        ("(a (b)", "unbalanced '('"),
        ("(a))", "unbalanced ')'"),
        ('(a "open', "unterminated string"),
        ("(a |open", "unterminated quoted symbol"),
        ("(a 5x)", "unexpected text"),
        ("(a {b})", "unexpected text"),
        ("(a #xZZ)", "unexpected text"),
    ],
)
def test_malformed_text_raises_parse_error(text, message):
    with pytest.raises(ParseError) as e:
        parse(text)
    assert message in str(e.value)
    assert e.value.reason == "parse"


def test_depth_limit_is_enforced_without_recursion():
    deep = "(" * 100_000 + ")" * 100_000
    with pytest.raises(ParseError) as e:
        parse(deep, max_depth=2000)
    assert e.value.reason == "too-deep"
    # Without a limit the iterative parser still copes, and so do the printer and depth().
    (datum,) = parse(deep)
    assert depth(datum) == 100_000
    assert to_text(datum) == deep


def test_depth_limit_allows_exactly_the_limit():
    assert depth(parse_one("(" * 50 + ")" * 50, max_depth=50)) == 50
    with pytest.raises(ParseError):
        parse_one("(" * 51 + ")" * 51, max_depth=50)


def test_smtlib_printing_of_negative_numerals():
    datum = parse_one("(+ x -5)")
    assert to_text(datum) == "(+ x -5)"
    assert to_text(datum, smtlib=True) == "(+ x (- 5))"


def test_symbols_that_need_quoting_are_quoted():
    assert to_text((Symbol("a b"), Symbol("-5"), Symbol("ok"))) == "(|a b| |-5| ok)"
    assert parse_one(to_text((Symbol("a b"), Symbol("-5")))) == (Symbol("a b"), Symbol("-5"))


def test_collapse_drops_comments_and_keeps_spelling():
    text = ";; reference: (define-fun f () Int 1)\n(set-logic   LIA) ; trailing\n(constraint\n  (= |x y|   #x0F))\n"
    assert collapse(text) == "(set-logic LIA)\n(constraint (= |x y| #x0F))"


# ---------------------------------------------------------------------------------------------
# Fuzzing.

_symbols = st.from_regex(r"[A-Za-z_+=<>.?/!@$%^&*~][A-Za-z0-9_+=<>.?/!@$%^&*~-]{0,6}", fullmatch=True).map(Symbol)
_atoms = st.one_of(
    _symbols,
    st.integers(min_value=-(10**12), max_value=10**12),
    st.builds(lambda v, w: BVLit(v % (1 << w), w), st.integers(min_value=0), st.integers(min_value=1, max_value=64)),
    st.from_regex(r":[a-z]{1,5}", fullmatch=True).map(Keyword),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8).map(StrLit),
    st.text(alphabet="ab c-1", min_size=1, max_size=6).map(Symbol),
)
_trees = st.recursive(_atoms, lambda children: st.lists(children, max_size=5).map(tuple), max_leaves=40)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_only_raises_parse_error(text):
    try:
        forms = parse_all(text, max_depth=50)
    except ParseError as e:
        assert e.reason in ("parse", "too-deep")
        return
    for form, line in forms:
        assert line >= 1
        assert depth(form) <= 50


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="()ab -1#x:0.\n\t", max_size=200))
def test_fast_and_general_parsers_agree(text):
    def outcome(fn):
        try:
            return ("ok", fn(text, None))
        except ParseError as e:
            return ("error", e.reason)

    fast, general = outcome(_parse_fast), outcome(_parse_general)
    assert fast[0] == general[0]
    if fast[0] == "ok":
        assert [f for f, _ in fast[1]] == [f for f, _ in general[1]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees)
def test_print_then_parse_round_trips(tree):
    text = to_text(tree)
    assert parse_one(text) == tree
    assert to_text(parse_one(text)) == text
