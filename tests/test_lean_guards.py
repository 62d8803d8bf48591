"""The Lean lexer and the static guards on candidates (no Lean needed)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provers.lean.guards import WORDS, check_candidate
from provers.lean.lexer import Kind, LexError, _is_ident_rest, normalize, strip_comments, tokenize
from provers.lean.source import parse_problem_text

TASK = parse_problem_text("theorem add_comm' (a b : Nat) : a + b = b + a :=")
FINE = "by omega"


def reason(candidate: str) -> str:
    return check_candidate(candidate, TASK).reason


# -- lexer --------------------------------------------------------------------------------


def test_lexer_skips_nested_comments_and_keeps_strings_whole():
    src = '/- a /- nested sorry -/ still comment -/ exact "sorry -- not a comment" -- sorry\n  rfl'
    assert [(t.kind, t.text) for t in tokenize(src)] == [
        (Kind.IDENT, "exact"),
        (Kind.STRING, '"sorry -- not a comment"'),
        (Kind.IDENT, "rfl"),
    ]


def test_lexer_reads_identifiers_whole():
    texts = [t.text for t in tokenize("h'.1 Nat.succ_le_of_lt «my name».x ℕ x₁ get! α")]
    assert texts == ["h'", ".", "1", "Nat.succ_le_of_lt", "«my name».x", "ℕ", "x₁", "get!", "α"]


def test_lexer_positions_are_lean_style():
    toks = tokenize("theorem t :\n  True := trivial")
    assert [(t.text, t.line, t.column) for t in toks][3:5] == [("True", 2, 2), (":=", 2, 7)]


def test_lexer_rejects_unterminated_comment_with_its_line():
    with pytest.raises(LexError) as e:
        tokenize("by\n  simp /- oops")
    assert e.value.line == 2


def test_strip_comments_and_normalize():
    assert strip_comments("a -- x\nb /- y -/ c").split() == ["a", "b", "c"]
    assert normalize("theorem  t :\n  True :=  -- c\n") == normalize("theorem t : True :=")
    assert normalize("theorem t : True :=") != normalize("theorem t : False :=")


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab /-\"'\n#«»:=()λ.1_")), max_size=40))
def test_lexer_total_on_arbitrary_text(text):
    try:
        toks = tokenize(text)
    except LexError:
        return
    # Tokens are ordered, non-overlapping slices of the input.
    assert all(text[t.start : t.end] == t.text for t in toks)
    assert all(a.end <= b.start for a, b in zip(toks, toks[1:]))


# -- guards: each one rejects, and a near miss does not -----------------------------------

REJECTED = {
    "guard:sorry": [
        "by sorry",
        "by\n  have h : 1 = 1 := sorry\n  omega",
        "by exact sorryAx _ false",
        "by exact _root_.sorryAx _",
        # Code in an interpolation whose braces hold further strings (and a comment with a brace).
        'by simp [s!"{ "a" ++ toString (sorry : Nat) ++ "b" }"]',
        'by simp [m!"x{ /- } -/ (sorry : Nat) }y"]',
        'by simp [s!"{ s!"{ "}" ++ toString (sorry : Nat) }" }"]',
        # Lean reads `sorryᶜ`, `sorry²` and `2sorry` as `sorry` next to another token.
        "by exact sorryᶜ",
        "by exact sorry²",
        "by exact (2sorry)",
        "by exact 𝓈𝓸𝓇𝓇𝔂",  # one identifier for Lean; NFKC makes it `sorry`
        "by stop omega",
    ],
    "guard:compiler_axiom": ["lcProof", "by exact lcUnreachable", "by exact @_root_.lcProof _"],
    "guard:admit": ["by admit"],
    "guard:axiom": [
        "by omega\naxiom cheat : False",
        # Lean skips the character after `/-` unread: `/-/- -/` is one whole comment, and the
        # axiom after it is code (a nesting count would hide it up to the last `-/`).
        "by omega /-/- -/\naxiom cheat : False\n/- -/",
    ],
    "guard:constant": ["by omega\nconstant c : Nat", "by omega\nopaque c : Nat"],
    "guard:import": ["by omega\nimport Mathlib"],
    "guard:exit": ["by omega\n#exit"],
    "guard:debug_option": ["by\n  set_option debug.skipKernelTC true in\n  omega"],
    "guard:set_option": ["by\n  set_option pp.all true in\n  omega"],
    "guard:macro": ['by omega\nmacro "cheat" : tactic => `(tactic| omega)'],
    "guard:macro_rules": ["by omega\nmacro_rules | `(tactic| trivial) => `(tactic| omega)"],
    "guard:syntax": ['by omega\nsyntax "cheat" : tactic'],
    "guard:elab": ['by omega\nelab "cheat" : tactic => pure ()'],
    "guard:notation": ['by omega\nnotation "⊤⊤" => True', 'by omega\ninfixl:65 " +' + "' " + '" => Nat.add'],
    "guard:native_decide": [
        "by native_decide",
        "by decide +native",
        "by exact Lean.ofReduceBool _ _ rfl",
        "by bv_decide",
        "by bv_decide?",
        "by exact Lean.reduceBool true",
    ],
    "guard:implemented_by": ["by omega\n@[implemented_by foo] def g : Nat := 0"],
    "guard:extern": ['by omega\n@[extern "c_fn"] def g : Nat := 0'],
    "guard:unsafe": ["by exact unsafe (Nat.add_comm a b)"],
    "guard:eval": ["by omega\n#eval IO.println 1", "by exact (eval% 1 + 1)"],
    "guard:run_cmd": ["by omega\nrun_cmd pure ()"],
    "guard:run_tac": ["by run_tac pure ()", 'by simp [s!"{(by run_tac pure ())}"]'],
    "guard:run_elab": ["by omega\nrun_elab pure ()"],
    "guard:run_meta": ["by omega\nrun_meta pure ()"],
    "guard:by_elab": ["by_elab pure (Lean.mkConst ``True)"],
    "guard:initialize": ["by omega\ninitialize pure ()"],
    "guard:simproc": ["by omega\nsimproc foo (_) := fun _ => pure .continue"],
    "guard:shadow": [
        "by omega\ntheorem add_comm' : True := trivial",
        "by omega\nnamespace Evil",
        "by omega\nend",
        "by omega\nopen Nat in\nlemma Evil.add_comm' : True := trivial",
    ],
    "guard:command": [
        "by omega\ntheorem other : True := trivial",
        "by omega\nopen Nat",
        "by omega\n#print axioms add_comm'",
    ],
    "guard:statement": ["theorem add_comm' (a b : Nat) : a + b = a + b := rfl", "theorem add_comm' : True := trivial"],
    "guard:empty": ["", "  -- nothing here\n", ":="],
    "guard:lexer": [
        "by simp /- unterminated",
        # A brace in a string not after s!/m!/f!: plain for Lean unless some syntax of the
        # environment (throwError, dbg_trace, a notation) interpolates it; the guard cannot tell.
        'by\n  have := "{"\n  omega',
        'by\n  have := "{ -/"\n  axiom cheat : False',
        'by omega\n#check "{--}"\naxiom cheat : False',
        # Lean's lexical errors: a tab between tokens, a lone carriage return, `2e` without digits.
        "by\tomega",
        "by\romega",
        "by exact 2elab",
        "by exact 'ab'",
    ],
}


@pytest.mark.parametrize("expected, candidate", [(r, c) for r, cs in REJECTED.items() for c in cs])
def test_each_guard_rejects_for_its_own_reason(expected, candidate):
    assert reason(candidate) == expected


def test_every_listed_word_has_a_rejecting_case():
    covered = {r for r in REJECTED}
    assert {f"guard:{g}" for g in WORDS.values()} <= covered


ACCEPTED = [
    FINE,
    ":= by omega",
    "Nat.add_comm a b",
    "by\n  -- sorry, admit, native_decide and #eval only in a comment\n  omega",
    "by\n  /- axiom cheat : False\n     theorem add_comm' : True := trivial -/\n  omega",
    'by\n  have := "sorry admit #exit"\n  omega',
    "by exact my_sorry_helper a b",
    "by exact Nat.admit_free a b",
    "by\n  set_option maxHeartbeats 400000 in\n  omega",
    "by\n  set_option linter.unusedVariables false in\n  omega",
    "by\n  open Nat in\n  omega",
    "by decide",
    'by\n  have := s!"{a} and {"b"}"\n  omega',
    "by exact stop_watch a b",
    "by exact sorryα a b",  # one identifier for Lean (α is a letter), not `sorry`
    "theorem add_comm' (a b : Nat) :\n    a + b = b + a := by omega",
    "theorem add_comm' (a b : Nat) : a + b = b + a := by -- the same statement, another layout\n  omega",
]


@pytest.mark.parametrize("candidate", ACCEPTED)
def test_near_misses_pass_the_guards(candidate):
    result = check_candidate(candidate, TASK)
    assert result.ok, result.message
    assert result.proof.endswith(("omega", "a b", "decide"))


def test_repeated_statement_is_stripped_and_never_used():
    result = check_candidate("theorem add_comm' (a b : Nat) : a + b = b + a := by omega", TASK)
    assert result.proof == "by omega"


def test_example_problem_accepts_its_original_form():
    task = parse_problem_text("example : 2 + 2 = 4 :=", stem="ex")
    assert task.statement.startswith("theorem ex_example_1")
    assert check_candidate("example : 2 + 2 = 4 := by decide", task).proof == "by decide"
    assert check_candidate("example : 2 + 2 = 5 := by decide", task).reason == "guard:statement"


def test_leading_assign_then_restated_statement():
    stated = ":= theorem add_comm' (a b : Nat) : a + b = b + a := by omega"
    assert check_candidate(stated, TASK).proof == "by omega"
    assert reason(":= theorem add_comm' (a b : Nat) : a = a := rfl") == "guard:statement"


# -- properties: each bypass class, over generated variants ---------------------------------

IDENT_WORDS = sorted(w for w in WORDS if not w.startswith("#"))
# Characters Lean does not glue to an identifier (modifier letters, superscripts, Cyrillic, ...),
# except those that open a literal or unbalance an interpolation (a stray `"`, `«` or brace
# fails to lex, which rejects as guard:lexer).
NOT_IDENT = st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")).filter(
    lambda c: not _is_ident_rest(c) and c not in '"«\'{}' and not c.isspace()
)


def interpolate(code: str, depth: int, filler: str) -> str:
    """`code` inside `depth` nested interpolated strings, each brace also holding string literals."""
    for _ in range(depth):
        code = f's!"{filler}{{ "{filler}" ++ {code} ++ "{filler}" }}{filler}"'
    return code


@settings(max_examples=300, deadline=None)
@given(
    word=st.sampled_from(IDENT_WORDS),
    depth=st.integers(0, 3),
    filler=st.text(alphabet="ab #/", max_size=4),
    suffix=st.one_of(st.just(""), NOT_IDENT),
    prefix=st.sampled_from(["", "2", "(", "@", "1.5"]),
)
def test_forbidden_words_are_found_in_every_context(word, depth, filler, suffix, prefix):
    code = interpolate(f"({prefix}{word}{suffix} : Nat)", depth, filler)
    # Lean reads `2e...` as a scientific literal missing its exponent: a lexical error there.
    expected = "guard:lexer" if prefix in ("2", "1.5") and word[0] in "eE" else f"guard:{WORDS[word]}"
    assert reason(f"by simp [{code}]") == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(['s!"', '"', "{", "}", " ", "a", "sorry", "ᶜ", "²", "/-", "-/", "--", "\n", "2"])))
def test_lexer_reads_every_character_into_a_token(parts):
    # Nothing but whitespace between tokens is skipped: in particular no code inside an
    # interpolation hides in a string token, and a `sorry` the lexer sees is rejected.
    text = "".join(parts)
    try:
        toks = tokenize(text, keep_comments=True)
    except LexError:
        assert reason(text) == "guard:lexer"
        return
    covered = {i for t in toks for i in range(t.start, t.end)}
    assert all(i in covered for i, c in enumerate(text) if not c.isspace())
    assert all(text[t.start : t.end] == t.text for t in toks)
    assert all(a.end <= b.start for a, b in zip(toks, toks[1:]))
    code = [t.text for t in toks if t.kind is Kind.IDENT]
    if "sorry" in code:
        assert reason("by exact " + text) in ("guard:sorry", "guard:lexer")
