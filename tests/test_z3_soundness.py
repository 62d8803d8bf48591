"""Holes a hostile problem or candidate could open in the Z3 checker, one test per class."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from proofloop.errors import ProblemFormatError, UnsupportedFeature
from proofloop.executors import check_batch
from proofloop.types import CheckLimits, Status
from provers.z3 import Z3Prover
from sygus_texts import MAX2

PROVER = Z3Prover()
FAST = CheckLimits(timeout_s=10)
PROOFLOOP = Path(sys.executable).parent / "proofloop"
REPO = Path(__file__).resolve().parents[1]

MAX2_OK = "(define-fun max2 ((a Int) (b Int)) Int (ite (>= a b) a b))"

# The second parameter is named like the primed copy of the first: the transition relation must
# still relate (a, a!) to fresh next-state variables, never to the state itself.
PRIMED = """(set-logic LIA)
(synth-inv inv ((a Int) (a! Int)))
(define-fun pre ((a Int) (c Int)) Bool (and (= a 0) (= c 0)))
(define-fun trans ((a Int) (c Int) (a2 Int) (c2 Int)) Bool (and (= a2 (+ a 1)) (= c2 c)))
(define-fun post ((a Int) (c Int)) Bool (<= a {bound}))
(inv-constraint inv pre trans post)
(check-synth)
"""

INT_FUN = """(set-logic {logic})
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (= (f x) (- x 1)))
(check-synth)
"""


def check(text: str, candidate, limits: CheckLimits = FAST):
    return PROVER.check(PROVER.from_text(text, id="p"), candidate, limits)


# ---- problem side --------------------------------------------------------------------------------


def test_primed_parameter_names_cannot_make_consecution_vacuous():
    unsafe = PRIMED.format(bound=5)  # a grows without bound: no invariant exists
    wrong = "(define-fun inv ((a Int) (b Int)) Bool (and (= a 0) (= b 0)))"
    verdict = check(unsafe, wrong)
    assert verdict.status is Status.REJECTED
    assert verdict.counterexample["condition"] == "consecution"
    # The state and the next state are different variables, all four named apart.
    cex = verdict.counterexample
    assert len(set(cex["state"]) | set(cex["next_state"])) == 4


def test_primed_parameter_names_still_verify_a_right_invariant():
    safe = PRIMED.format(bound=5).replace("(= a2 (+ a 1))", "(= a2 (ite (< a 5) (+ a 1) a))")
    right = "(define-fun inv ((a Int) (b Int)) Bool (and (>= a 0) (<= a 5)))"
    assert check(safe, right).status is Status.VERIFIED
    assert check(safe, "(define-fun inv ((a Int) (b Int)) Bool (= a 0))").status is Status.REJECTED


def test_declared_primed_variables_do_not_collide_with_state_names():
    # v1 declare-primed-var beside parameters named x and x!.
    text = PRIMED.format(bound=5).replace("(synth-inv", "(declare-primed-var a Int)\n(synth-inv")
    verdict = check(text, "(define-fun inv ((a Int) (b Int)) Bool (and (= a 0) (= b 0)))")
    assert verdict.status is Status.REJECTED


ASSUME_F = """(set-logic LIA)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(assume (= (f x) 0))
(constraint (= (f x) (+ x 1)))
(check-synth)
"""


def test_assume_mentioning_the_synth_fun_is_refused_naming_the_file(tmp_path):
    with pytest.raises(UnsupportedFeature, match=r"assume.*\bf\b"):
        PROVER.from_text(ASSUME_F, id="p", source="assume.sl")
    path = tmp_path / "assume.sl"
    path.write_text(ASSUME_F)
    proc = subprocess.run(
        [str(PROOFLOOP), "check", str(path), "-c", "(define-fun f ((x Int)) Int 1)"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and str(path) in proc.stderr


def test_assumptions_that_no_input_satisfies_are_refused():
    text = MAX2.replace("(constraint", "(assume (and (> x 0) (< x 0)))\n(constraint", 1)
    with pytest.raises(ProblemFormatError, match="no input satisfies"):
        check(text, "(define-fun max2 ((a Int) (b Int)) Int 0)")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(check-synth)\n", "no constraint"),
        (
            "(set-logic LIA)\n(synth-fun f ((x Int)) Int)\n(synth-fun g ((x Int)) Int)\n(declare-var x Int)\n"
            "(constraint (= (f x) x))\n",
            "g",
        ),
    ],
)
def test_functions_no_constraint_mentions_are_refused(text, fragment):
    with pytest.raises(ProblemFormatError, match=fragment):
        PROVER.from_text(text, id="p")


# ---- strict sorts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "logic, body",
    [
        ("ALL", "(+ x (- #x01))"),
        ("ALL", "(- #x01)"),
        ("ALL", "(- (_ bv1 8))"),
        ("LIA", "(+ x (- true))"),
        ("LIA", "(- true)"),
        ("LIA", "(- false)"),
        ("LIA", "(+ true 1)"),
        ("LIA", "(ite 1 x x)"),
        ("LIA", "(ite (= true 1) x x)"),
        ("LIA", "(ite (and x true) x x)"),
        ("LIA", "(abs true)"),
        ("ALL", "(ite (bvult x #x01) x x)"),
    ],
)
def test_ill_sorted_candidates_are_rejected(logic, body):
    verdict = check(INT_FUN.format(logic=logic), f"(define-fun f ((x Int)) Int {body})")
    assert verdict.status is Status.REJECTED and verdict.reason == "logic", verdict


# ---- numerals and digits -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "(+ x " + "9" * 5000 + ")",
        "(- x " + "9" * 5000 + ")",
        "(- " + "9" * 5000 + ")",
    ],
)
def test_numerals_of_any_length_get_a_clean_verdict(body):
    verdict = check(INT_FUN.format(logic="LIA"), f"(define-fun f ((x Int)) Int {body})")
    assert verdict.status is Status.REJECTED and verdict.reason in ("too-large", "counterexample"), verdict


def test_a_long_numeral_that_is_right_still_verifies():
    big = "1" + "0" * 100
    text = INT_FUN.format(logic="LIA").replace("(- x 1)", f"(+ x {big})")
    assert check(text, f"(define-fun f ((x Int)) Int (+ {big} x))").status is Status.VERIFIED


def test_problem_with_an_overlong_numeral_is_a_clean_error():
    text = INT_FUN.format(logic="LIA").replace("(- x 1)", "(- x " + "9" * 5000 + ")")
    with pytest.raises(ProblemFormatError):
        PROVER.from_text(text, id="p")


BV_FUN = """(set-logic BV)
(synth-fun f ((x (_ BitVec 8))) (_ BitVec 8))
(declare-var x (_ BitVec 8))
(constraint (= (f x) (bvadd x #x01)))
(check-synth)
"""


@pytest.mark.parametrize(
    "body",
    [
        "(bvadd x (_ |bv\u00b9| 8))",  # a superscript digit: str.isdigit() says yes, int() says no
        "(bvadd x (_ |bv\u0661| 8))",  # an Arabic-Indic digit, which int() would read as 1
        "(bvadd x (_ bv" + "9" * 5000 + " 8))",
        "(bvadd x ((_ extract 7 0) (_ bv1 100000000000)))",
        "(bvadd x ((_ extract 7 0) ((_ zero_extend 100000000000) x)))",
        "(bvadd x ((_ extract 7 0) ((_ repeat 100000000000) x)))",
    ],
)
def test_bit_vector_indices_only_take_ascii_digits_and_sane_widths(body):
    verdict = check(BV_FUN, f"(define-fun f ((x (_ BitVec 8))) (_ BitVec 8) {body})")
    assert verdict.status is Status.REJECTED and verdict.reason != "counterexample", verdict


# ---- batches and limits --------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_a_bad_candidate_never_fails_a_batch(workers):
    problem = PROVER.from_text(MAX2, id="max2")
    bad = "(define-fun max2 ((a Int) (b Int)) Int " + "9" * 5000 + ")"
    verdicts = check_batch([(problem, MAX2_OK), (problem, bad), (problem, MAX2_OK)], FAST, workers=workers)
    assert [v.status for v in verdicts] == [Status.VERIFIED, Status.REJECTED, Status.VERIFIED]


def test_an_unexpected_error_on_one_candidate_is_its_own_verdict(monkeypatch):
    import provers.z3.checker as checker

    def broken(compiled, candidate):
        raise ValueError("an internal slip")

    monkeypatch.setattr(checker, "front_end", broken)
    problem = PROVER.from_text(MAX2, id="max2")
    verdicts = check_batch([(problem, MAX2_OK)] * 2, FAST, workers=1)
    assert [(v.status, v.reason) for v in verdicts] == [(Status.UNKNOWN, "checker-error")] * 2
    assert "an internal slip" in verdicts[0].message


@pytest.mark.parametrize("memory_mb", [16, 24, 32, 40])
def test_a_small_memory_limit_never_ends_in_a_signal(tmp_path, memory_mb):
    path = tmp_path / "max2.sl"
    path.write_text(MAX2)
    proc = subprocess.run(
        [str(PROOFLOOP), "check", str(path), "--memory-mb", str(memory_mb), "-c", MAX2_OK],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode in (0, 2, 3), (proc.returncode, proc.stderr[-500:])
    if proc.returncode == 0:
        assert proc.stdout.startswith("VERIFIED")
    elif proc.returncode == 3:
        assert proc.stdout.startswith("UNKNOWN (resource)")
    else:
        assert len(proc.stderr.strip().splitlines()) == 1 and "memory" in proc.stderr


# ---- terminal output -----------------------------------------------------------------------------


def test_text_output_escapes_control_characters_from_the_candidate(tmp_path):
    path = tmp_path / "max2.sl"
    path.write_text(MAX2)
    spoof = "(define-fun max2 ((a Int) (b Int)) Int |\x1b[2K\x1b[1G\x1b[32mVERIFIED\x07\u202e|)"
    proc = subprocess.run(
        [str(PROOFLOOP), "check", str(path), "-c", spoof],
        capture_output=True, text=True, timeout=60, env={**os.environ, "TERM": "xterm", "FORCE_COLOR": "1"},
    )
    assert proc.returncode == 1
    assert "\x1b[2K" not in proc.stdout and "\x07" not in proc.stdout and "\u202e" not in proc.stdout
    assert "\\x1b[2K\\x1b[1G\\x1b[32mVERIFIED\\x07\\u202e" in proc.stdout


def test_assume_beside_an_inv_constraint_is_refused():
    text = PRIMED.format(bound=5).replace("(check-synth)", "(declare-var a Int)\n(assume (= a 0))\n(check-synth)")
    with pytest.raises(UnsupportedFeature, match="assume beside inv-constraint"):
        PROVER.from_text(text, id="p")
