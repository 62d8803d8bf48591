"""Tactic mode and best-first search, driven by TEST DOUBLES: tests/lean_repl_double.py (a
stand-in REPL with canned goals) and a scripted generator. They test the search loop and the
step API's values, not Lean."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from proofloop.generate.base import Completion, SamplingParams
from proofloop.types import CheckLimits, Status
from provers.lean.pool import Launcher
from provers.lean.prover import LeanProver
from provers.lean.tactic import (
    LeanError,
    ProofFinished,
    TacticSession,
    TacticState,
    best_first_search,
    extract_tactic,
    tactic_proof,
)
from provers.lean.toolchain import LeanConfig

DOUBLE = Path(__file__).with_name("lean_repl_double.py")
LIMITS = CheckLimits(timeout_s=5.0)


class ScriptedGenerator:
    """TEST DOUBLE of a Generator: canned tactics (text, log-prob) per goal text."""

    name = "scripted"

    def __init__(self, script: dict[str, list[tuple[str, float]]]):
        self.script = script
        self.prompts: list[str] = []

    def generate(self, prompts: list[str], n: int, params: SamplingParams) -> list[list[Completion]]:
        self.prompts.extend(prompts)
        out = []
        for prompt in prompts:
            goals = prompt.removeprefix("[GOAL]").removesuffix("[PROOFSTEP]")
            out.append([Completion(text, 3, lp) for text, lp in self.script.get(goals, [])][:n])
        return out


@pytest.fixture
def prover(tmp_path):
    p = LeanProver(LeanConfig(restart_backoff_s=0.05))
    env = {**os.environ, "LEAN_DOUBLE_LOG": str(tmp_path / "starts.log")}
    p.make_pool(Launcher((sys.executable, str(DOUBLE)), env, 0))
    yield p
    p.close()


@pytest.fixture
def problem(prover):
    return prover.from_text("import Mathlib\naxiom double_axiom : False\n\ntheorem t : True ∧ True :=", id="t")


AND = "⊢ True ∧ True"
TWO = "⊢ True\n\n⊢ True"
ONE = "⊢ True"


def test_step_api_returns_values(prover, problem):
    with TacticSession(prover, problem, LIMITS) as s:
        root = s.start()
        assert root == TacticState(root.proof_state, (AND,), 0)
        split = s.run_tac(root, "constructor")
        assert isinstance(split, TacticState) and split.goals == ("⊢ True", "⊢ True")
        assert isinstance(s.run_tac(root, "linarith"), LeanError)
        assert s.run_tac(root, "sorry").error.startswith("guard:sorry")
        one = s.run_tac(split, "trivial")
        done = s.run_tac(one, "trivial")
        assert isinstance(done, ProofFinished) and done.status == "Completed"
        assert s.verify(tactic_proof(["constructor", "trivial", "trivial"])).verified


def test_timeout_in_a_session_replaces_the_repl_and_old_states_go_stale(prover, problem):
    with TacticSession(prover, problem, CheckLimits(timeout_s=0.5)) as s:
        root = s.start()
        assert s.run_tac(root, "double_hang").error.startswith("timeout")
        with pytest.raises(ValueError, match="replay"):
            s.run_tac(root, "constructor")
        replayed = s.replay(("constructor",))
        assert isinstance(replayed, TacticState) and replayed.goals == ("⊢ True", "⊢ True") and replayed.epoch == 1


def test_search_finds_the_proof_by_cumulative_logprob(prover, problem):
    gen = ScriptedGenerator(
        {
            AND: [("skip", -0.1), ("nonsense", -0.05), ("constructor", -0.5)],
            TWO: [("trivial", -0.2)],
            ONE: [("trivial\n\nextra text", -0.2)],
        }
    )
    result = best_first_search(prover, problem, gen, samples=4, max_nodes=10, limits=LIMITS)
    assert result.status is Status.VERIFIED
    assert result.proof == "by\n  constructor\n  trivial\n  trivial"
    assert result.verdict.verified and result.nodes == 3
    assert gen.prompts[0] == f"[GOAL]{AND}[PROOFSTEP]"


def test_a_finished_tactic_proof_counts_only_after_the_whole_proof_check(prover, problem):
    # The REPL's tactic mode accepts `exact double_axiom.elim`; the whole-proof check's
    # `#print axioms` does not, so the search goes on to the clean proof.
    gen = ScriptedGenerator(
        {
            AND: [("exact double_axiom.elim", -0.01), ("constructor", -1.0)],
            TWO: [("trivial", -0.1)],
            ONE: [("trivial", -0.1)],
        }
    )
    result = best_first_search(prover, problem, gen, samples=4, max_nodes=10, limits=LIMITS)
    assert result.status is Status.VERIFIED
    assert "double_axiom" not in result.proof


def test_search_survives_a_hanging_tactic(prover, problem):
    gen = ScriptedGenerator(
        {AND: [("double_hang", -0.01), ("constructor", -1.0)], TWO: [("trivial", -0.1)], ONE: [("trivial", -0.1)]}
    )
    result = best_first_search(prover, problem, gen, samples=4, max_nodes=10, limits=CheckLimits(timeout_s=0.5))
    assert result.status is Status.VERIFIED


def test_search_without_a_way_forward_is_rejected_and_budgets_give_unknown(prover, problem):
    stuck = ScriptedGenerator({AND: [("sorry", 0.0), ("admit", 0.0), ("linarith", -1.0)]})
    assert best_first_search(prover, problem, stuck, max_nodes=10, limits=LIMITS).status is Status.REJECTED
    looping = ScriptedGenerator({AND: [("constructor", -0.1)], TWO: [("skip", -0.1)]})
    result = best_first_search(prover, problem, looping, max_nodes=1, limits=LIMITS)
    assert (result.status, result.reason, result.nodes) == (Status.UNKNOWN, "node budget", 1)
    timed = best_first_search(prover, problem, looping, time_budget_s=0.0, limits=LIMITS)
    assert (timed.status, timed.reason) == (Status.UNKNOWN, "time budget")


def test_tactic_text_helpers():
    assert extract_tactic("\nsimp [h]\n\nnext one") == "simp [h]"
    assert extract_tactic("nlinarith [sq_nonneg x]```") == "nlinarith [sq_nonneg x]"
    assert extract_tactic("rw [h][GOAL]x") == "rw [h]"
    assert tactic_proof(["have h : 1 = 1 := by\n  rfl", "simp"]) == "by\n  have h : 1 = 1 := by\n    rfl\n  simp"
