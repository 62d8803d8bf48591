"""The cvc5 cross-check: its own verdicts, disputes, the CLI flag and the run setting."""

from __future__ import annotations

import json
import sys
import sqlite3

import cvc5
import pytest
import z3
from proofloop.rules import rules_version
from typer.testing import CliRunner

from loop_fixtures import write_config, write_problems
from proofloop.cli import app
from proofloop.config import load_config
from proofloop.errors import ConfigError
from proofloop.prover import checker_version, get_prover
from proofloop.types import CheckLimits, Status
from provers.z3 import Z3Prover, cvc5check
from provers.z3.checker import compiled_for, condition_groups, front_end
from sygus_texts import INV, MAX2

PROVER = Z3Prover()
CROSS = CheckLimits(timeout_s=10, cross_check="cvc5")
BOTH = f"{z3.get_version_string()}, cvc5 {cvc5.__version__}; rules {rules_version('provers.z3.checker')}"

BV = """(set-logic BV)
(define-fun low ((v (_ BitVec 8))) (_ BitVec 4) ((_ extract 3 0) v))
(synth-fun f ((x (_ BitVec 8))) (_ BitVec 8))
(declare-var x (_ BitVec 8))
(constraint (= (f x) (bvor (concat #x0 (low x)) (bvshl x #x04))))
"""

DIV = """(set-logic NIA)
(synth-fun f ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(assume (> y 0))
(constraint (= (f x y) (- x (* y (div x y)))))
"""

# (problem, a right candidate, a wrong one): each pair exercises a different part of the builder.
CASES = [
    (MAX2, "(define-fun max2 ((a Int) (b Int)) Int (ite (>= a b) a b))", "(define-fun max2 ((a Int) (b Int)) Int a)"),
    (INV, "(define-fun inv-f ((x Int) (y Int)) Bool (and (= x y) (<= x 10)))",
     "(define-fun inv-f ((x Int) (y Int)) Bool (= x y))"),
    (BV, "(define-fun f ((x (_ BitVec 8))) (_ BitVec 8) (bvor ((_ zero_extend 4) ((_ extract 3 0) x)) (bvshl x #x04)))",
     "(define-fun f ((x (_ BitVec 8))) (_ BitVec 8) (bvor x (bvshl x #x04)))"),
    (DIV, "(define-fun f ((x Int) (y Int)) Int (mod x y))", "(define-fun f ((x Int) (y Int)) Int (mod x (+ y 1)))"),
]


def cvc5_alone(text: str, candidate: str) -> cvc5check.Outcome:
    problem = PROVER.from_text(text, id="p")
    compiled = compiled_for(problem)
    groups = [indices for _, indices in condition_groups(compiled.problem)]
    import time

    return cvc5check.check(compiled, front_end(compiled, candidate), groups, time.perf_counter() + 10)


@pytest.mark.parametrize("text, right, wrong", CASES)
def test_cvc5_alone_verifies_the_right_candidate_and_rejects_the_wrong_one(text, right, wrong):
    assert cvc5_alone(text, right).status == "verified"
    outcome = cvc5_alone(text, wrong)
    assert outcome.status == "rejected" and outcome.message.startswith("cvc5 found a counterexample")


@pytest.mark.parametrize("text, right, wrong", CASES)
def test_cross_checked_verdicts_carry_both_versions(text, right, wrong):
    problem = PROVER.from_text(text, id="p")
    ok, bad = PROVER.check(problem, right, CROSS), PROVER.check(problem, wrong, CROSS)
    assert (ok.status, bad.status, bad.reason) == (Status.VERIFIED, Status.REJECTED, "counterexample")
    assert ok.checker == "z3" and ok.checker_version == bad.checker_version == BOTH
    # A front-end rejection is the same for both solvers and carries both versions too.
    parse = PROVER.check(problem, "(define-fun", CROSS)
    assert parse.status is Status.REJECTED and parse.checker_version == BOTH


def test_the_version_is_the_cache_key_and_changes_with_the_setting():
    assert checker_version(PROVER) == PROVER.version() == f"{z3.get_version_string()}; rules {rules_version('provers.z3.checker')}"
    assert checker_version(PROVER, "cvc5") == BOTH
    with pytest.raises(ConfigError, match="cannot cross-check"):
        checker_version(get_prover("lean"), "cvc5")


def _cvc5_says(monkeypatch, status: str) -> None:
    monkeypatch.setattr(cvc5check, "check", lambda *a, **k: cvc5check.Outcome(status, f"cvc5 says {status}", {"x": "7"}))


def test_a_split_verdict_is_disputed_either_way(monkeypatch):
    problem = PROVER.from_text(MAX2, id="max2")
    right, wrong = CASES[0][1], CASES[0][2]
    _cvc5_says(monkeypatch, "rejected")
    disputed = PROVER.check(problem, right, CROSS)
    assert (disputed.status, disputed.reason) == (Status.DISPUTED, "cross-check") and not disputed.verified
    assert disputed.counterexample == {"cvc5_values": {"x": "7"}}
    _cvc5_says(monkeypatch, "verified")
    other = PROVER.check(problem, wrong, CROSS)
    assert (other.status, other.reason) == (Status.DISPUTED, "cross-check")
    assert other.counterexample["values"]  # Z3's counterexample is kept
    _cvc5_says(monkeypatch, "unknown")
    assert PROVER.check(problem, right, CROSS).status is Status.UNKNOWN  # verified needs both
    assert PROVER.check(problem, wrong, CROSS).status is Status.REJECTED
    # Without the setting cvc5 is never asked.
    _cvc5_says(monkeypatch, "rejected")
    assert PROVER.check(problem, right, CheckLimits(timeout_s=10)).status is Status.VERIFIED


def test_cli_cross_check_flag(monkeypatch, tmp_path):
    path = tmp_path / "max2.sl"
    path.write_text(MAX2)
    runner = CliRunner()
    ok = runner.invoke(app, ["check", str(path), "--cross-check", "cvc5", "-c", CASES[0][1]])
    assert ok.exit_code == 0 and ok.stdout.startswith("VERIFIED\n") and f"checker z3 {BOTH}" in ok.stdout
    bad = runner.invoke(app, ["check", str(path), "--cross-check", "yices", "-c", CASES[0][1]])
    assert bad.exit_code == 2 and "yices" in bad.output
    _cvc5_says(monkeypatch, "rejected")
    disputed = runner.invoke(app, ["check", str(path), "--cross-check", "cvc5", "--json", "-c", CASES[0][1]])
    assert disputed.exit_code == 1
    out = json.loads(disputed.stdout)
    assert (out["status"], out["reason"], out["checker_version"]) == ("disputed", "cross-check", BOTH)
    text = runner.invoke(app, ["check", str(path), "--cross-check", "cvc5", "-c", CASES[0][1]])
    assert text.exit_code == 1 and text.stdout.startswith("DISPUTED (cross-check): Z3 verified but cvc5 says")


def test_run_config_documents_and_validates_cross_check(tmp_path):
    config = write_config(tmp_path / "run.toml", tmp_path, tmp_path / "runs", "x", checker={"cross_check": "cvc5"})
    assert load_config(config, []).checker.cross_check == "cvc5"
    assert load_config(None, []).checker.cross_check == ""
    bad = write_config(tmp_path / "bad.toml", tmp_path, tmp_path / "runs", "x", checker={"cross_check": "yices"})
    with pytest.raises(ConfigError):
        load_config(bad, [])


def test_a_run_with_the_cross_check_never_keeps_a_disputed_candidate(tmp_path, monkeypatch):
    """In-process run (one worker): cvc5 disputes every candidate of problem `dbl`."""
    problems = write_problems(tmp_path / "problems")
    real = cvc5check.check

    def disputing(compiled, bodies, groups, deadline):
        if "(+ x x)" in compiled.problem.constraints[0].text:
            return cvc5check.Outcome("rejected", "cvc5 found a counterexample: x = 1", {"x": "1"})
        return real(compiled, bodies, groups, deadline)

    monkeypatch.setattr(cvc5check, "check", disputing)
    config = write_config(
        tmp_path / "run.toml", problems, tmp_path / "runs", "cross",
        checker={"cross_check": "cvc5", "workers": 1}, loop={"rounds": 0}, sampling={"frontier": False},
    )
    result = CliRunner().invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    conn = sqlite3.connect(tmp_path / "runs" / "cross" / "store.sqlite")
    q = lambda sql: conn.execute(sql).fetchall()  # noqa: E731
    versions = {v for (v,) in q("SELECT DISTINCT checker_version FROM verdicts")}
    assert versions == {BOTH}
    disputed = q("SELECT COUNT(*) FROM attempts a JOIN verdicts v ON v.problem_id = a.problem_id "
                 "AND v.canonical_hash = a.canonical_hash WHERE v.status = 'disputed' AND a.round = 0")[0][0]
    assert disputed > 0 and int(lines["disputed"]) == disputed
    assert q("SELECT COUNT(*) FROM dataset WHERE problem_id = 'dbl'") == [(0,)]
    rows = q("SELECT checker, checker_version FROM dataset")
    assert rows and set(rows) == {("z3", BOTH)}
    assert {v for (v,) in q("SELECT DISTINCT v.status FROM verdicts v WHERE v.problem_id = 'dbl'")} <= {
        "disputed", "rejected", "unknown"
    }


def test_missing_cvc5_is_a_one_line_error_for_check_and_run(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cvc5", None)  # makes `import cvc5` fail
    path = tmp_path / "p.sl"
    path.write_text(CASES[0][0])
    runner = CliRunner()
    result = runner.invoke(app, ["check", str(path), "--cross-check", "cvc5", "-c", CASES[0][1]])
    assert result.exit_code == 2
    assert result.output.startswith("error: --cross-check cvc5 needs cvc5's Python bindings")
    assert result.output.count("\n") == 1 and "pip install cvc5" in result.output
    problems = write_problems(tmp_path / "problems")
    config = write_config(tmp_path / "run.toml", problems, tmp_path / "runs", "x", checker={"cross_check": "cvc5"})
    run = runner.invoke(app, ["run", "--config", str(config)])
    assert run.exit_code == 2 and "pip install cvc5" in run.output
    assert not (tmp_path / "runs" / "x").exists()  # refused before the run directory is made
