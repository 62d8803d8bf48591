"""Problem-set audits: normal forms, train/held-out overlap, near-duplicates, and the run's refusal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from proofloop.audit import audit
from proofloop.prover import get_prover

REPO = Path(__file__).resolve().parents[1]


def write(directory: Path, name: str, split: str, fun: str, params: list[str], body: str) -> None:
    sig = " ".join(f"({p} Int)" for p in params)
    decls = "\n".join(f"(declare-var {p} Int)" for p in params)
    call = f"({fun} {' '.join(params)})"
    (directory / f"{name}.sl").write_text(
        f";; split: {split}\n(set-logic LIA)\n(synth-fun {fun} ({sig}) Int)\n{decls}\n"
        f"(constraint (= {call} {body}))\n(check-synth)\n"
    )


def problem_set(directory: Path) -> Path:
    directory.mkdir()
    write(directory, "inc", "train", "f", ["x"], "(+ x 17 (* 2 x) 3 5 8)")
    write(directory, "inc_renamed", "heldout", "g", ["a"], "(+ a 17 (* 2 a) 3 5 8)")  # inc, other names
    write(directory, "inc_other_const", "heldout", "f", ["x"], "(+ x 18 (* 2 x) 3 5 8)")  # one numeral differs
    write(directory, "sum", "train", "f", ["x", "y"], "(- x y)")
    return directory


def test_normal_form_renames_variables_and_functions_but_keeps_numerals(tmp_path):
    prover = get_prover("z3")
    problems = {p.id: p for p in prover.load(problem_set(tmp_path / "p"))}
    assert prover.normal_form(problems["inc"]) == prover.normal_form(problems["inc_renamed"])
    assert prover.normal_form(problems["inc"]) != prover.normal_form(problems["inc_other_const"])


def test_audit_reports_overlaps_and_near_duplicates(tmp_path):
    prover = get_prover("z3")
    result = audit(prover, prover.load(problem_set(tmp_path / "p")))
    assert result.overlaps == (("inc_renamed", "inc"),)
    assert [(h, t) for h, t, _ in result.near] == [("inc_other_const", "inc")]
    assert result.near[0][2] >= 0.9
    assert result.duplicates == ()
    assert "heldout_train_overlaps: 1" in result.lines()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "proofloop.cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=300)


def test_audit_command_fails_on_overlap_unless_allowed(tmp_path):
    path = problem_set(tmp_path / "p")
    result = cli("problems", "audit", str(path))
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"error: problems: {path}: 1 held-out problems duplicate train problems (inc_renamed = inc); "
        "fix the split or set problems.allow_overlap=true"
    ]
    assert "overlap: inc_renamed = inc" in result.stdout
    allowed = cli("problems", "audit", str(path), "--allow-overlap")
    assert allowed.returncode == 0 and "near: inc_other_const ~ inc" in allowed.stdout


def test_run_refuses_an_overlapping_problem_set(tmp_path):
    path = problem_set(tmp_path / "p")
    result = cli("run", "--out-dir", str(tmp_path / "runs"), "--set", f"problems.path={str(path)!r}")
    assert result.returncode != 0
    assert "inc_renamed = inc" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_bundled_problems_have_no_overlap():
    prover = get_prover("z3")
    from proofloop.problemfile import bundled_problems_dir, load_problems

    result = audit(prover, load_problems(bundled_problems_dir(), prover="z3"))
    assert result.overlaps == () and result.duplicates == ()


VACUOUS = """;; split: train
(set-logic LIA)
(synth-fun f ((x Int)) Int)
(declare-var x Int)
(constraint (=> (and (> x 4) (< x 5)) (= (f x) 7)))
(check-synth)
"""


@pytest.mark.parametrize("command", ["audit", "check", "run"])
def test_a_vacuous_problem_is_refused_in_one_line_naming_it(tmp_path, command):
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "fine.sl").write_text(VACUOUS.replace("(> x 4)", "(> x 2)"))
    (folder / "empty_guard.sl").write_text(VACUOUS)
    if command == "audit":
        result = cli("problems", "audit", str(folder))
    elif command == "run":
        result = cli("run", "--set", f"problems.path={folder}", "--set", f"run.out_dir={tmp_path / 'runs'}")
        assert not (tmp_path / "runs").exists()  # refused before round 0, before any run directory
    else:
        result = cli("check", str(folder / "empty_guard.sl"), "--candidate", "(define-fun f ((x Int)) Int 0)")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: {folder / 'empty_guard.sl'}:5: the constraints hold for every function (a vacuous problem): "
        "every candidate would verify"
    ]
