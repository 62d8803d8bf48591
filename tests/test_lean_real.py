"""Checks against a real Lean 4 toolchain with the leanprover-community REPL (marker `lean`).

Configure with $PROOFLOOP_LEAN_PROJECT (a Lake project with `lake build repl` done) or put
`repl` and `lean` on PATH; see docs/lean.md. Only core Lean is used (no Mathlib), so any
project works. Where no `lean` is on PATH these tests are skipped.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from proofloop.cli import app
from proofloop.errors import ProblemFormatError, ToolchainMissing
from proofloop.types import CheckLimits, Status
from provers.lean.checker import check_proof
from provers.lean.prover import LeanProver
from provers.lean.tactic import LeanError, ProofFinished, TacticSession, TacticState
from provers.lean.toolchain import LeanConfig
from test_lean_guards import REJECTED

pytestmark = pytest.mark.lean_repl

LIMITS = CheckLimits(timeout_s=60.0)
ADD_COMM = "theorem add_comm' (a b : Nat) : a + b = b + a :="


@pytest.fixture(scope="module")
def prover():
    p = LeanProver(LeanConfig.from_env())
    yield p
    p.close()


@pytest.fixture(scope="module")
def problem(prover):
    return prover.from_text(ADD_COMM, id="add_comm'")


@pytest.mark.parametrize("proof", ["by omega", "Nat.add_comm a b", "by\n  rw [Nat.add_comm]", ADD_COMM + " by omega"])
def test_valid_proofs_verify(prover, problem, proof):
    verdict = prover.check(problem, proof, LIMITS)
    assert verdict.status is Status.VERIFIED, verdict.message
    assert verdict.checker_version.startswith("lean 4.")


@pytest.mark.parametrize("expected, candidate", [(r, c) for r, cs in REJECTED.items() for c in cs])
def test_each_guard_rejects_before_lean_runs(prover, problem, expected, candidate):
    verdict = prover.check(problem, candidate, LIMITS)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, expected)


def test_wrong_proof_is_rejected_with_lean_errors(prover, problem):
    verdict = prover.check(problem, "by rfl", LIMITS)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, "lean")
    assert verdict.counterexample["messages"][0]["severity"] == "error"


def test_sorry_inside_have_is_rejected_by_lean_too(prover, problem):
    # The guard stops it first; past the guard, Lean's own report must reject it as well.
    assert prover.check(problem, "by\n  have h : a = a := sorry\n  omega", LIMITS).reason == "guard:sorry"
    outcome = check_proof(prover.pool(), problem.data, "by\n  have h : a = a := sorry\n  omega", 60.0, 600.0)
    assert (outcome.status, outcome.reason) == (Status.REJECTED, "sorry")


def test_changed_statement_is_rejected(prover, problem):
    restated = "theorem add_comm' (a b : Nat) : a + b = a + b := rfl"
    assert prover.check(problem, restated, LIMITS).reason == "guard:statement"
    # A proof of another statement, given as a proof, fails to elaborate against the real one.
    verdict = prover.check(problem, "(rfl : a + b = a + b)", LIMITS)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, "lean")


def test_extra_axiom_from_the_header_is_rejected_by_the_axiom_check(prover):
    problem = prover.from_text("axiom cheat : False\n\n" + ADD_COMM, id="add_comm'")
    verdict = prover.check(problem, "cheat.elim", LIMITS)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, "axioms")
    assert "cheat" in verdict.message
    assert prover.check(problem, "by omega", LIMITS).verified


def test_native_decide_past_the_guard_is_caught_by_the_axiom_check(prover):
    problem = prover.from_text("theorem four : 2 + 2 = 4 :=", id="four")
    assert prover.check(problem, "by native_decide", LIMITS).reason == "guard:native_decide"
    outcome = check_proof(prover.pool(), problem.data, "by native_decide", 60.0, 600.0)
    assert (outcome.status, outcome.reason) == (Status.REJECTED, "axioms")
    assert "ofReduceBool" in outcome.message


def test_non_terminating_tactic_ends_as_unknown_within_the_timeout(prover):
    # Type-class resolution is tabled (iterative), so with its limits lifted this never ends.
    header = "class Loop (n : Nat) : Prop\ninstance loopStep {n : Nat} [Loop (n + 1)] : Loop n := ⟨⟩\n\n"
    problem = prover.from_text(header + "theorem loops : Loop 0 :=", id="loops")
    candidate = (
        "by\n  set_option maxHeartbeats 0 in\n  set_option synthInstance.maxHeartbeats 0 in\n"
        "  set_option synthInstance.maxSize 100000000 in\n  exact inferInstance"
    )
    verdict = prover.check(problem, candidate, CheckLimits(timeout_s=5.0))
    assert verdict.status is Status.UNKNOWN
    assert verdict.seconds < 5.0 + 15.0  # the timeout, plus killing and a fresh REPL's start
    assert prover.check(prover.from_text(ADD_COMM, id="a"), "by omega", LIMITS).verified


def test_header_that_does_not_elaborate_is_a_problem_error(prover):
    problem = prover.from_text('def x : Nat := "not a number"\n\n' + ADD_COMM, id="add_comm'")
    with pytest.raises(ProblemFormatError, match="does not elaborate"):
        prover.check(problem, "by omega", LIMITS)


def test_tactic_mode_steps(prover):
    problem = prover.from_text("theorem both (p q : Prop) (hp : p) (hq : q) : p ∧ q :=", id="both")
    with TacticSession(prover, problem, LIMITS) as session:
        root = session.start()
        assert isinstance(root, TacticState) and "p ∧ q" in root.goals[0]
        assert isinstance(session.run_tac(root, "exact hq"), LeanError)
        split = session.run_tac(root, "constructor")
        assert isinstance(split, TacticState) and len(split.goals) == 2
        left = session.run_tac(split, "exact hp")
        done = session.run_tac(left, "exact hq")
        assert isinstance(done, ProofFinished)
        assert session.verify("by\n  constructor\n  exact hp\n  exact hq").verified


def test_lean4checker_replay_when_installed(prover):
    replaying = LeanProver(LeanConfig.from_env(lean4checker=True))
    try:
        replaying.toolchain()
    except ToolchainMissing as e:  # lean4checker is optional
        pytest.skip(str(e))
    problem = replaying.from_text(ADD_COMM, id="add_comm'")
    assert replaying.check(problem, "by omega", LIMITS).verified
    assert not replaying.check(problem, "by rfl", LIMITS).verified
    replaying.close()


def test_cli_check_exit_codes(tmp_path):
    path = tmp_path / "p.lean"
    path.write_text(ADD_COMM + " by\n  sorry\n")
    runner = CliRunner()
    assert runner.invoke(app, ["check", str(path), "--candidate", "by omega"]).exit_code == 0
    assert runner.invoke(app, ["check", str(path), "--candidate", "by rfl"]).exit_code == 1
