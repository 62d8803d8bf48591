"""Loading SyGuS-IF problems: v1 and v2 forms, invariants, refusals, files and directories."""

from __future__ import annotations

import pickle

import pytest
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proofloop.errors import ProblemFormatError, UnsupportedFeature
from proofloop.prover import Prover, get_prover
from proofloop.rules import rules_version
from provers.z3 import Z3Prover
from provers.z3.sygus import SygusProblem, parse_problem

PROVER = Z3Prover()

MAX2_V2 = """(set-logic LIA)
(set-option :produce-models true)
(set-info :source |a test|)
(synth-fun max2 ((x Int) (y Int)) Int
  ((Start Int) (B Bool))
  ((Start Int (x y 0 1 (+ Start Start) (ite B Start Start)))
   (B Bool ((<= Start Start) (and B B) (not B)))))
(declare-var x Int)
(declare-var y Int)
(constraint (>= (max2 x y) x))
(constraint (>= (max2 x y) y))
(constraint (or (= x (max2 x y)) (= y (max2 x y))))
(check-synth)
"""

V1_GRAMMAR = """(set-logic LIA)
(synth-fun f ((x Int) (y Int)) Int
  ((Start Int (x (Constant Int) (Variable Int) (InputVariable Int) (+ Start Start) (ite B Start Start)))
   (B Bool ((<= Start Start)))))
(declare-var x Int)
(declare-var y Int)
(constraint (= (f x y) (+ x 1)))
(check-synth)
"""

INV_V2 = """(set-logic LIA)
(synth-inv inv ((x Int) (y Int)))
(define-fun pre ((x Int) (y Int)) Bool (and (= x 0) (= y 0)))
(define-fun trans ((x Int) (y Int) (x! Int) (y! Int)) Bool (and (< x 10) (= x! (+ x 1)) (= y! (+ y 1))))
(define-fun post ((x Int) (y Int)) Bool (=> (>= x 10) (= y 10)))
(inv-constraint inv pre trans post)
(check-synth)
"""

INV_SYNTH_FUN = INV_V2.replace("(synth-inv inv ((x Int) (y Int)))", "(synth-fun inv ((x Int) (y Int)) Bool)")

INV_V1 = """(set-logic LIA)
(synth-inv inv ((x Int)))
(declare-primed-var x Int)
(define-fun pre ((x Int)) Bool (= x 0))
(define-fun trans ((x Int) (x! Int)) Bool (and (< x 5) (= x! (+ x 1))))
(define-fun post ((x Int)) Bool (<= x 5))
(inv-constraint inv pre trans post)
(check-synth)
"""


def test_v2_grammar_loads():
    problem = parse_problem(MAX2_V2)
    (fun,) = problem.synth_funs
    assert fun.name == "max2" and fun.params == (("x", "Int"), ("y", "Int")) and fun.sort == "Int"
    assert [nt.name for nt in fun.grammar.nonterminals] == ["Start", "B"]
    assert fun.grammar.start.sort == "Int"
    assert len(fun.grammar.start.productions) == 6
    assert problem.kind == "fun" and problem.logic == "LIA"
    assert problem.variables == (("x", "Int"), ("y", "Int"))
    assert [c.text for c in problem.constraints][0] == "(>= (max2 x y) x)"


def test_v1_grammar_without_predeclaration_loads():
    problem = parse_problem(V1_GRAMMAR)
    grammar = problem.synth_funs[0].grammar
    assert [nt.name for nt in grammar.nonterminals] == ["Start", "B"]
    assert grammar.start.productions[1] == ("Constant", "Int")


def test_predeclared_order_decides_the_start_symbol():
    text = MAX2_V2.replace(
        "((Start Int (x y 0 1 (+ Start Start) (ite B Start Start)))\n   (B Bool ((<= Start Start) (and B B) (not B))))",
        "((B Bool ((<= Start Start) (and B B) (not B)))\n   (Start Int (x y 0 1 (+ Start Start) (ite B Start Start))))",
    )
    assert text != MAX2_V2
    assert parse_problem(text).synth_funs[0].grammar.start.name == "Start"


def test_function_without_grammar():
    problem = parse_problem(
        MAX2_V2.replace(MAX2_V2[MAX2_V2.index("\n  ((Start") : MAX2_V2.index(")\n(declare-var x")], "")
    )
    assert problem.synth_funs[0].grammar is None


@pytest.mark.parametrize("text", [INV_V2, INV_SYNTH_FUN])
def test_invariant_constraints_expand_to_three_conditions(text):
    problem = parse_problem(text)
    assert problem.kind == "inv"
    assert [c.label for c in problem.constraints] == ["initiation", "consecution", "safety"]
    assert [c.text for c in problem.constraints] == [
        "(=> (pre x y) (inv x y))",
        "(=> (and (inv x y) (trans x y x! y!)) (inv x! y!))",
        "(=> (inv x y) (post x y))",
    ]
    assert set(problem.variables) == {("x", "Int"), ("y", "Int"), ("x!", "Int"), ("y!", "Int")}
    (inv,) = problem.invariants
    assert inv.state == (("x", "Int"), ("y", "Int")) and inv.primed == (("x!", "Int"), ("y!", "Int"))


def test_v1_declare_primed_var():
    problem = parse_problem(INV_V1)
    assert dict(problem.variables) == {"x": "Int", "x!": "Int"}
    assert problem.kind == "inv"


def test_helpers_assumptions_lets_and_other_logics_load():
    text = """(set-logic NIA)
(define-fun sq ((a Int)) Int (* a a))
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(assume (> x 0))
(constraint (let ((y (f x))) (>= y (sq x))))
"""
    problem = parse_problem(text)
    assert [h.name for h in problem.helpers] == ["sq"]
    assert len(problem.assumptions) == 1 and len(problem.constraints) == 1
    bv = parse_problem(
        "(set-logic BV)\n(synth-fun g ((a (_ BitVec 4))) (_ BitVec 4))\n(declare-var a (_ BitVec 4))\n"
        "(constraint (= (g a) (bvadd a #x1)))"
    )
    assert bv.synth_funs[0].sort == "(_ BitVec 4)"


@pytest.mark.parametrize(
    "text, cls, line, message",
    [
        ("(set-logic LIA)\n(synth-fun f ((x Int)) Int\n", ProblemFormatError, 2, "unbalanced '('"),
        ("(set-logic LIA)\n(frobnicate)\n", ProblemFormatError, 2, "unknown command frobnicate"),
        ("(set-logic SLIA)\n", UnsupportedFeature, 1, "unsupported feature: logic SLIA"),
        (
            "(set-logic LIA)\n(declare-datatypes ((T 0)) (((a))))\n",
            UnsupportedFeature,
            2,
            "unsupported feature: command declare-datatypes",
        ),
        (
            "(set-logic LIA)\n(define-sort S () Int)\n",
            UnsupportedFeature,
            2,
            "unsupported feature: command define-sort",
        ),
        (
            "(set-logic LIA)\n(synth-fun f ((x Real)) Int)\n",
            UnsupportedFeature,
            2,
            "unsupported feature: unsupported sort Real",
        ),
        (
            '(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(constraint (= (f 1) "a"))\n',
            UnsupportedFeature,
            3,
            "unsupported feature: unsupported literal",
        ),
        (
            "(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(constraint (forall ((y Int)) (> (f y) 0)))\n",
            UnsupportedFeature,
            3,
            "unsupported feature: quantifiers",
        ),
        (
            "(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n\n(constraint (> (f z) 0))\n",
            ProblemFormatError,
            4,
            "undeclared symbol z",
        ),
        (
            "(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(constraint (> (f true) 0))\n",
            ProblemFormatError,
            3,
            "function f expects",
        ),
        (
            "(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(constraint (f 1))\n",
            ProblemFormatError,
            3,
            "constraint must be Bool",
        ),
        (
            "(set-logic LIA)\n(synth-fun f ((x Int)) Int ((Start Int ((let ((y Int Start)) y)))))\n",
            UnsupportedFeature,
            2,
            "let in grammar",
        ),
        (
            "(set-logic LIA)\n(synth-fun f ((x Int)) Int ((Start Bool (true))))\n",
            ProblemFormatError,
            2,
            "start symbol Start is Bool",
        ),
        ("(set-logic LIA)\n(declare-var x Int)\n", ProblemFormatError, None, "no synth-fun"),
        ("(set-logic LIA)\n(synth-fun abs ((x Int)) Int)\n", ProblemFormatError, 2, "abs is a builtin"),
        (
            "(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(synth-fun f ((x Int)) Int)\n",
            ProblemFormatError,
            3,
            "f is already defined",
        ),
        (
            "(set-logic LIA)\n(synth-inv i ((x Int)))\n(inv-constraint i pre trans post)\n",
            ProblemFormatError,
            3,
            "pre function pre is not defined",
        ),
        (
            "(set-logic LIA)\n(synth-fun f () Int)\n(constraint " + "(+ 1 " * 500 + "1" + ")" * 500 + ")",
            UnsupportedFeature,
            3,
            "nesting deeper than 400",
        ),
    ],
)
def test_refusals_name_file_line_and_cause(text, cls, line, message):
    with pytest.raises(cls) as e:
        parse_problem(text, "bad.sl")
    assert type(e.value) is cls
    assert e.value.path == "bad.sl" and e.value.line == line
    assert message in e.value.message
    where = f"bad.sl:{line}: " if line else "bad.sl: "
    assert str(e.value).startswith(where) and "\n" not in str(e.value)


def test_load_file_and_directory(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.sl").write_text(
        ";; reference: (define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))\n" + MAX2_V2
    )
    (tmp_path / "sub" / "a.sl").write_text(";; split: heldout\n" + INV_V2)
    (tmp_path / "notes.txt").write_text("not a problem")
    problems = PROVER.load(tmp_path)
    assert [p.id for p in problems] == ["b", "sub/a"]
    b, a = problems
    assert b.split == "train" and b.reference == "(define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))"
    assert a.split == "heldout" and a.reference is None
    assert b.meta == {"logic": "LIA", "kind": "fun", "functions": ["max2"]}
    assert a.meta == {"logic": "LIA", "kind": "inv", "functions": ["inv"]}
    assert b.prover == "z3" and b.source == str(tmp_path / "b.sl") and b.text.startswith(";; reference:")
    (single,) = PROVER.load(tmp_path / "sub" / "a.sl")
    assert single.id == "a"


def test_several_reference_lines_are_joined(tmp_path):
    text = ";; reference: (define-fun g ((a Int)) Int a)\n;; reference: (define-fun f ((x Int)) Int (g x))\n" + (
        "(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(declare-var x Int)\n(constraint (= (f x) x))\n"
    )
    (tmp_path / "p.sl").write_text(text)
    (problem,) = PROVER.load(tmp_path / "p.sl")
    assert problem.reference == "(define-fun g ((a Int)) Int a)\n(define-fun f ((x Int)) Int (g x))"
    assert PROVER.check(problem, problem.reference).verified
    assert not PROVER.check(problem, "(define-fun f ((x Int)) Int (+ x 1))").verified


def test_bad_files_are_refused_with_their_path(tmp_path):
    (tmp_path / "split.sl").write_text(";; split: test\n" + MAX2_V2)
    with pytest.raises(ProblemFormatError, match=r"split.sl:1: split must be one of heldout, train"):
        PROVER.load(tmp_path / "split.sl")
    (tmp_path / "latin1.sl").write_bytes(b"(set-logic LIA) ; caf\xe9\n")
    with pytest.raises(ProblemFormatError, match=r"latin1.sl: not UTF-8"):
        PROVER.load(tmp_path / "latin1.sl")
    with pytest.raises(ProblemFormatError, match=r"missing.sl: cannot read"):
        PROVER.load(tmp_path / "missing.sl")
    (tmp_path / "broken.sl").write_text("(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(constraint (> (f y) 0))\n")
    with pytest.raises(ProblemFormatError, match=r"broken.sl:3: undeclared symbol y"):
        PROVER.load(tmp_path)


def test_from_text():
    problem = PROVER.from_text(
        ";; reference: (define-fun max2 ((x Int) (y Int)) Int x)\n" + MAX2_V2, id="m", source="row 3"
    )
    assert problem.id == "m" and problem.source == "row 3" and problem.split == "train"
    assert problem.reference == "(define-fun max2 ((x Int) (y Int)) Int x)"
    given = PROVER.from_text(MAX2_V2, id="m", split="heldout", reference="(define-fun max2 ((x Int) (y Int)) Int y)")
    assert given.split == "heldout" and given.reference.endswith("Int y)")
    with pytest.raises(ProblemFormatError):
        PROVER.from_text(MAX2_V2, id="m", split="validation")
    with pytest.raises(ProblemFormatError, match="^row 9:2: unknown command"):
        PROVER.from_text("(set-logic LIA)\n(oops)", id="x", source="row 9")


def test_problem_data_is_plain_and_picklable():
    problem = PROVER.from_text(INV_V2, id="inv")
    assert isinstance(problem.data, SygusProblem)
    copy = pickle.loads(pickle.dumps(problem))
    assert copy.data == problem.data and copy == problem


def test_prompt_strips_comments_reference_and_split():
    text = ";; reference: (define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))\n;; split: heldout\n" + MAX2_V2
    prompt = PROVER.prompt(PROVER.from_text(text, id="m"))
    assert "reference" not in prompt and "ite (>= x y) x y" not in prompt and "heldout" not in prompt
    lines = prompt.split("\n")
    assert lines[0] == "(set-logic LIA)"
    assert (
        "(synth-fun max2 ((x Int) (y Int)) Int ((Start Int) (B Bool)) ((Start Int (x y 0 1 (+ Start Start) (ite B Start Start))) (B Bool ((<= Start Start) (and B B) (not B)))))"
        in lines
    )
    assert prompt.endswith("(check-synth)\n; solution:\n(define-fun max2 ((x Int) (y Int)) Int ")


def test_prover_interface():
    assert isinstance(PROVER, Prover)
    assert PROVER.name == "z3" and PROVER.suffixes == (".sl",)
    assert PROVER.version() == f"{z3.get_version_string()}; rules {rules_version('provers.z3.checker')}"
    assert isinstance(get_prover("z3"), Z3Prover)


def test_extract_takes_leading_define_funs():
    completion = (
        "  (define-fun g ((a Int)) Int (+ a 1))\n(define-fun f ((x Int)) Int (g x)) ; done\nThe answer is above."
    )
    assert PROVER.extract(completion) == "(define-fun g ((a Int)) Int (+ a 1))\n(define-fun f ((x Int)) Int (g x))"
    assert PROVER.extract("```lisp\n(define-fun f ((x Int)) Int x)\n```") == "(define-fun f ((x Int)) Int x)"
    assert (
        PROVER.extract("(define-fun f ((x Int)) Int |)|) (define-fun h () Int 1") == "(define-fun f ((x Int)) Int |)|)"
    )
    assert PROVER.extract("Sure! (define-fun f ((x Int)) Int x)") == ""
    assert PROVER.extract("(define-fun f ((x Int)) Int x") == ""
    assert PROVER.extract("(define-funny)") == ""
    assert PROVER.extract("") == ""


# ---------------------------------------------------------------------------------------------
# Fuzzing: whatever the text, the loader returns a problem or raises ProblemFormatError.

_SNIPPETS = [
    "(set-logic LIA)",
    "(set-logic BV)",
    "(set-logic SAT)",
    "(set-logic NIA)",
    "(set-logic QF_XYZ)",
    "(set-logic)",
    "(synth-fun f ((x Int)) Int)",
    "(synth-fun f ((x Int)) Int ((Start Int (x 0 (+ Start Start)))))",
    "(synth-fun f ((x Int)) Int ((Start Int)) ((Start Int (x (Constant Int)))))",
    "(synth-fun g () (_ BitVec 4))",
    "(synth-fun h ((b Bool)) Bool ((Start Bool (b (not Start) (Variable Bool)))))",
    "(synth-inv inv ((x Int)))",
    "(declare-var x Int)",
    "(declare-var x Bool)",
    "(declare-primed-var x Int)",
    "(declare-var y (_ BitVec 4))",
    "(define-fun pre ((x Int)) Bool (= x 0))",
    "(define-fun trans ((x Int) (x! Int)) Bool (= x! (+ x 1)))",
    "(inv-constraint inv pre trans pre)",
    "(constraint (= (f x) x))",
    "(constraint (f x))",
    "(assume (> x 0))",
    "(constraint (let ((y x)) (= (f y) y)))",
    "(constraint (= g #x1))",
    "(constraint (h true))",
    "(check-synth)",
    "(",
    ")",
    "|",
    '"',
    ";",
    "(constraint (forall ((z Int)) (= z z)))",
    "(define-fun-rec r ((x Int)) Int x)",
    "(constraint (= (f 1.5) 1))",
    "(set-option :x 1)",
    "(constraint (= (f (- 1)) -1))",
    "(_ BitVec 0)",
    "x",
    "12",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_SNIPPETS), max_size=10))
def test_loader_fuzz_commands(snippets):
    _load_or_refuse("\n".join(snippets))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(MAX2_V2)), st.integers(0, 40), st.sampled_from(_SNIPPETS + [""]))
def test_loader_fuzz_mutations(at, cut, insert):
    _load_or_refuse(MAX2_V2[:at] + insert + MAX2_V2[at + cut :])


def _load_or_refuse(text: str) -> None:
    try:
        problem = parse_problem(text, "fuzz.sl")
    except ProblemFormatError as e:
        assert str(e).startswith("fuzz.sl") and "\n" not in str(e)
        return
    assert problem.synth_funs
    pickle.loads(pickle.dumps(problem))
