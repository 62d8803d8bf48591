"""`proofloop prove`: draft until verified, with the grammar sampler (no model needed)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from proofloop.cli import app
from proofloop.prover import get_prover
from proofloop.types import CheckLimits
from sygus_texts import IMPOSSIBLE

runner = CliRunner()

EASY = """(set-logic LIA)
(synth-fun f ((x Int) (y Int)) Int)
(declare-var x Int)
(declare-var y Int)
(constraint (= (f x y) (+ y x)))
(check-synth)
"""

def test_prove_finds_a_candidate_that_rechecks(tmp_path):
    path = tmp_path / "easy.sl"
    path.write_text(EASY)
    result = runner.invoke(app, ["prove", str(path), "--seed", "0", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["status"] == "proved"
    assert out["verdict"]["status"] == "verified"
    problem = get_prover("z3").load(path)[0]
    assert get_prover("z3").check(problem, out["candidate"], CheckLimits()).verified


def test_prove_gives_up_with_exit_1_and_says_why(tmp_path):
    path = tmp_path / "impossible.sl"
    path.write_text(IMPOSSIBLE)
    result = runner.invoke(app, ["prove", str(path), "--sample", "--seed", "0", "--n", "4", "--batches", "2"])
    assert result.exit_code == 1
    assert "NOT PROVED: no verified candidate in 8 samples" in result.output
    assert "rejected:counterexample" in result.output


def test_prove_searches_sygus_by_default_and_reports_what_it_tried(tmp_path):
    path = tmp_path / "easy.sl"
    path.write_text(EASY)
    result = runner.invoke(app, ["prove", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["status"] == "proved" and out["verdict"]["status"] == "verified"
    assert set(out["search"]) >= {"strategy", "terms", "points", "counterexamples", "candidates"}
    problem = get_prover("z3").load(path)[0]
    assert get_prover("z3").check(problem, out["candidate"], CheckLimits()).verified


def test_prove_search_gives_up_within_its_budget(tmp_path):
    path = tmp_path / "impossible.sl"
    path.write_text(IMPOSSIBLE)
    result = runner.invoke(app, ["prove", str(path), "--budget-s", "1"])
    assert result.exit_code == 1
    assert "NOT PROVED: no verified candidate in" in result.output
    assert "unknown:timeout" in result.output


def test_prove_missing_file_is_a_clean_error(tmp_path):
    result = runner.invoke(app, ["prove", str(tmp_path / "nope.sl")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
