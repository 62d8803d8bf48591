"""The whole-file mode against the real `lean` binary (marker `lean`; `make lean` builds one).

The binary `make lean` builds has no Init, so every problem here is a `prelude` file that
declares what it needs: `Eq`, a unary `N`, addition and multiplication by recursors. Proofs are
terms (there are no tactics without Init). These tests show that Lean's own elaborator and
kernel decide the verdicts; nothing here is a double.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest
from typer.testing import CliRunner

from proofloop.cli import app
from proofloop.errors import ProblemFormatError
from proofloop.types import CheckLimits, Status
from provers.lean import toolchain
from provers.lean.filecheck import LeanCrashed, assemble, parse_json_messages
from provers.lean.prover import LeanProver
from provers.lean.toolchain import ENV_CONFIG, ENV_LEAN, ENV_MODE, LeanConfig, discover

pytestmark = pytest.mark.lean

LIMITS = CheckLimits(timeout_s=60.0)
# Enough memory for the small checks (Lean itself takes about 110 MB), far too little for the hog.
SMALL_MEMORY_MB = 192
HEADER = """prelude
universe u
inductive Eq {α : Sort u} : α → α → Prop
  | refl (a : α) : Eq a a
inductive N
  | z
  | s (n : N)
noncomputable def N.add (a b : N) : N := N.rec a (fun _ ih => N.s ih) b
noncomputable def N.mul (a b : N) : N := N.rec N.z (fun _ ih => N.add ih a) b
noncomputable def two : N := N.s (N.s N.z)
noncomputable def four : N := N.mul two two
noncomputable def p16 : N := N.mul four four
noncomputable def p256 : N := N.mul p16 p16
-- Unary numbers are deep terms: let the elaborator recurse and run as long as the check lets it.
set_option maxRecDepth 1000000
set_option maxHeartbeats 0
"""
TWO = "theorem two_eq : Eq (N.add two two) four :="
# 1024 = 4 * 256 computed in both orders: about half a second.
MEDIUM = "theorem medium : Eq (N.mul p256 four) (N.mul four p256) :="
# 65536 * 16 in both orders: seconds and gigabytes of kernel work.
HUGE = "theorem huge : Eq (N.mul (N.mul p256 p256) p16) (N.mul p16 (N.mul p256 p256)) :="


@pytest.fixture(scope="module")
def prover():
    p = LeanProver(LeanConfig(mode="file", memory_mb=SMALL_MEMORY_MB, restart_backoff_s=0.05))
    assert p.toolchain().mode == "file"
    yield p
    p.close()


@pytest.fixture(scope="module")
def roomy():
    """A prover whose memory limit (the default) leaves only time to run out."""
    p = LeanProver(LeanConfig(mode="file"))
    yield p
    p.close()


def problem(prover: LeanProver, statement: str, header: str = HEADER):
    return prover.from_text(header + statement, id=statement.split()[1])


def test_valid_term_proof_is_verified(prover):
    verdict = prover.check(problem(prover, TWO), "Eq.refl four", LIMITS)
    assert verdict.status is Status.VERIFIED, verdict.message
    assert verdict.checker_version.startswith("lean 4.") and "(file)" in verdict.checker_version


def test_wrong_proof_is_rejected_with_lean_errors(prover):
    verdict = prover.check(problem(prover, TWO), "Eq.refl two", LIMITS)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, "lean")
    first = verdict.counterexample["messages"][0]
    assert first["severity"] == "error" and "mismatch" in first["data"]


def test_proof_from_an_extra_axiom_is_rejected_by_the_axioms_rule(prover):
    cheat = problem(prover, TWO, HEADER + "axiom cheat : (p : Prop) → p\n")
    verdict = prover.check(cheat, "cheat _", LIMITS)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, "axioms")
    assert "cheat" in verdict.message
    assert prover.check(cheat, "Eq.refl four", LIMITS).verified


def test_changed_statement_is_rejected(prover):
    two = problem(prover, TWO)
    restated = "theorem two_eq : Eq two two := Eq.refl two"
    assert prover.check(two, restated, LIMITS).reason == "guard:statement"
    # A proof of another statement, given as the proof, fails against the problem's statement.
    verdict = prover.check(two, "(Eq.refl two : Eq two two)", LIMITS)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, "lean")
    # The same statement restated is accepted, and the file holds the problem's statement only.
    assert prover.check(two, f"{TWO} Eq.refl four", LIMITS).verified
    assert assemble(two.data, "Eq.refl four").text.count("theorem two_eq") == 1


def test_kernel_work_past_the_time_limit_is_unknown(roomy):
    started = time.monotonic()
    verdict = roomy.check(problem(roomy, HUGE), "Eq.refl _", CheckLimits(timeout_s=2.0))
    assert (verdict.status, verdict.reason) == (Status.UNKNOWN, "timeout")
    assert time.monotonic() - started < 2.0 + 5.0  # the limit, plus killing the process tree
    assert not roomy.file_pool().running
    assert roomy.check(problem(roomy, TWO), "Eq.refl four", LIMITS).verified


def test_memory_hog_is_a_resource_verdict(prover):
    verdict = prover.check(problem(prover, HUGE), "Eq.refl _", CheckLimits(timeout_s=300.0))
    assert (verdict.status, verdict.reason) == (Status.UNKNOWN, "resource"), verdict.message
    assert prover.check(problem(prover, TWO), "Eq.refl four", LIMITS).verified


def test_json_messages_of_a_real_run(prover):
    two = problem(prover, TWO)
    layout = assemble(two.data, "Eq.refl two")
    run = prover.file_pool().run(layout.text + "#print axioms N.add\n", 60.0)
    assert run.returncode == 1
    errors = [m for m in run.messages if m.is_error]
    infos = [m for m in run.messages if m.severity in ("info", "information")]
    assert errors[0].pos.line == layout.statement_line and errors[0].endPos is not None
    assert [m.data for m in infos][-1] == "'N.add' does not depend on any axioms"
    assert infos[0].pos.line == layout.axioms_line and infos[0].data.startswith("'two_eq' d")
    with pytest.raises(LeanCrashed, match="not a message"):
        parse_json_messages('{"severity": "error", "data": "x"}\nuncaught exception\n')


def test_pool_survives_a_killed_lean(prover):
    pool = prover.file_pool()
    medium = problem(prover, MEDIUM)
    started_before = pool.started
    killed: list[int] = []

    def kill_first_lean() -> None:
        deadline = time.monotonic() + 30
        while not killed and time.monotonic() < deadline:
            for pid in pool.running:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.005)

    killer = threading.Thread(target=kill_first_lean)
    killer.start()
    verdict = prover.check(medium, "Eq.refl _", LIMITS)
    killer.join()
    assert killed, "no lean process was seen running"
    assert verdict.status is Status.VERIFIED, verdict.message  # retried in a fresh process
    assert pool.started == started_before + 2
    assert prover.check(problem(prover, TWO), "Eq.refl four", LIMITS).verified


def test_header_that_does_not_elaborate_is_a_problem_error(prover):
    broken = problem(prover, TWO, HEADER + "noncomputable def bad : N := N.s\n")
    with pytest.raises(ProblemFormatError, match="does not elaborate"):
        prover.check(broken, "Eq.refl four", LIMITS)


def test_cli_check_in_file_mode(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_MODE, "file")
    monkeypatch.delenv(ENV_CONFIG, raising=False)
    monkeypatch.setattr("proofloop.prover._cache", {})
    path = tmp_path / "two.lean"
    path.write_text(HEADER + TWO + " sorry\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["check", str(path), "--candidate", "Eq.refl four"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("VERIFIED")
    wrong = runner.invoke(app, ["check", str(path), "--json", "--candidate", "Eq.refl two"])
    assert wrong.exit_code == 1, wrong.output
    assert json.loads(wrong.output)["reason"] == "lean"
    guarded = runner.invoke(app, ["check", str(path), "--candidate", 's!"{ "a" ++ sorry ++ "b" }"'])
    assert guarded.exit_code == 1 and "guard:sorry" in guarded.output


def test_the_repository_cache_is_found_with_no_configuration(tmp_path, monkeypatch):
    if not toolchain.REPO_CACHE_LEAN.is_file():
        pytest.skip("the lean in use is not the one `make lean` builds")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("PROOFLOOP_LEAN_PROJECT", "PROOFLOOP_LEAN_REPL", ENV_CONFIG, ENV_LEAN, ENV_MODE):
        monkeypatch.delenv(var, raising=False)
    found = discover(LeanConfig.from_env())
    assert (found.mode, found.lean, found.lean_version) == ("file", toolchain.REPO_CACHE_LEAN, "4.35.0")
    # An explicit setting wins over the cache.
    link = tmp_path / "lean"
    link.symlink_to(toolchain.REPO_CACHE_LEAN)
    assert discover(LeanConfig(lean=link)).lean == link


# -- the verdict key keeps layout; hidden code never reaches Lean -----------------------------

FOUR = "theorem four_eq : Eq four four :="
LAYOUT_PROOFS = [
    "(fun (_ : N) => Eq.refl four) two",
    "Eq.refl (N.add two two)",
    "(fun (a : N) (_ : Eq a a) => Eq.refl four) two (Eq.refl two)",
]


def _perturbed(proof: str, rng) -> str:
    """`proof` with each space replaced by a random run of spaces and line breaks."""
    return "".join(rng.choice([" ", "  ", "\n", "\n  ", "\n    "]) if c == " " else c for c in proof)


def test_texts_with_one_verdict_key_get_one_verdict(prover):
    import random

    rng = random.Random(7)
    task = problem(prover, FOUR)
    verdicts: dict[str, set[Status]] = {}
    for proof in LAYOUT_PROOFS:
        for text in [proof, f"  {proof}\n", f":= {proof}", *(_perturbed(proof, rng) for _ in range(6))]:
            verdict = prover.check(task, text, LIMITS)
            verdicts.setdefault(prover.canonical(text), set()).add(verdict.status)
    assert all(len(statuses) == 1 for statuses in verdicts.values()), verdicts
    # Layout decides verdicts: the same tokens verify on one line and not with `two` on a line
    # of its own, so one key for both would let the rejected text inherit the accepted verdict.
    same_tokens = ["(fun (_ : N) => Eq.refl four) two", "(fun (_ : N) => Eq.refl four)\ntwo"]
    statuses = [prover.check(task, t, LIMITS).status for t in same_tokens]
    assert statuses == [Status.VERIFIED, Status.REJECTED]
    assert prover.canonical(same_tokens[0]) != prover.canonical(same_tokens[1])


@pytest.mark.parametrize(
    "candidate",
    [
        "Eq.refl four /-/- -/\naxiom cheat : False\n/- -/",
        'Eq.refl four /- "{" -/\n#check "{ -/ }"\naxiom cheat : False',
        "Eq.refl four\n/-! module doc -/\naxiom cheat : False",
    ],
)
def test_code_hidden_from_a_nesting_count_or_a_brace_is_never_verified(prover, candidate):
    verdict = prover.check(problem(prover, FOUR), candidate, LIMITS)
    assert verdict.status is Status.REJECTED
    assert verdict.reason.startswith("guard:"), verdict


@pytest.mark.parametrize("header", ["", "import Mathlib\n"])
def test_a_problem_that_needs_init_is_the_toolchains_fault_not_the_candidates(tmp_path, monkeypatch, header):
    # The core Lean of `make lean` has no Init: Lean would answer "unknown module prefix 'Init'"
    # for any candidate, which must never read as a rejected candidate.
    monkeypatch.setenv(ENV_MODE, "file")
    monkeypatch.delenv(ENV_CONFIG, raising=False)
    monkeypatch.setattr("proofloop.prover._cache", {})
    lean = discover(LeanConfig(mode="file"))
    if not lean.missing_modules(["Init"]):
        pytest.skip("this Lean has Init")
    path = tmp_path / "needs_init.lean"
    path.write_text(header + "theorem t : True := sorry\n")
    result = CliRunner().invoke(app, ["check", str(path), "--candidate", "trivial"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {path}: needs Init") and result.output.count("\n") == 1
    assert "only `prelude` files" in result.output


def test_a_run_on_problems_that_need_init_is_refused_before_round_0(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_MODE, "file")
    monkeypatch.delenv(ENV_CONFIG, raising=False)
    monkeypatch.setattr("proofloop.prover._cache", {})
    if not discover(LeanConfig(mode="file")).missing_modules(["Init"]):
        pytest.skip("this Lean has Init")
    problems = tmp_path / "problems"
    problems.mkdir()
    rows = [{"id": f"t{i}", "prover": "lean", "split": split, "text": f"theorem t{i} : True :="}
            for i, split in enumerate(["train", "heldout"])]
    (problems / "set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = CliRunner().invoke(app, ["run", "--set", f"problems.path={problems}", "--set", "problems.prover=lean",
                                      "--set", f"run.out_dir={tmp_path / 'runs'}"])
    assert result.exit_code == 2, result.output
    assert "needs Init" in result.output and not (tmp_path / "runs").exists()
