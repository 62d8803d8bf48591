"""A run resumed under other checker rules checks its verdicts again; export leaves stale rows out."""

from __future__ import annotations

import shutil
import sqlite3

import pytest
from typer.testing import CliRunner

from loop_fixtures import write_config, write_problems
from proofloop.cli import app
from proofloop.prover import rules_of
from proofloop.store import Store
from provers.z3 import Z3Prover

runner = CliRunner()
OLD = "4.15.0; rules 00000000"
WRONG = "(define-fun f ((x Int)) Int x)"  # inc needs x + 1


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("recheck")
    problems = write_problems(base / "problems")
    config = write_config(base / "run.toml", problems, base / "runs", "tiny", train={"max_steps": 1})
    result = runner.invoke(app, ["run", "--config", str(config), "--no-report"])
    assert result.exit_code == 0, result.output
    return base / "runs" / "tiny"


def _as_if_checked_by_old_rules(run_dir) -> None:
    """Every verdict and row made under other rules, plus a wrong candidate those rules accepted."""
    conn = sqlite3.connect(run_dir / "store.sqlite")
    with conn:
        conn.execute("UPDATE verdicts SET checker_version = ?", (OLD,))
        conn.execute("UPDATE dataset SET checker_version = ?", (OLD,))
        conn.execute(
            "INSERT INTO verdicts(problem_id, canonical_hash, checker, checker_version, status) VALUES (?, ?, ?, ?, ?)",
            ("inc", "wrong-key", "z3", OLD, "verified"),
        )
        conn.execute(
            "INSERT INTO dataset(problem_id, candidate, canonical_hash, origin, round, checker, checker_version) "
            "VALUES ('inc', ?, 'wrong-key', 'verified', 1, 'z3', ?)",
            (WRONG, OLD),
        )
    conn.close()


def test_resume_under_new_rules_rechecks_and_export_leaves_stale_rows_out(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    _as_if_checked_by_old_rules(run_dir)
    out = tmp_path / "rows.jsonl"

    refused = runner.invoke(app, ["export", str(run_dir), "--format", "jsonl", "--out", str(out)])
    assert refused.exit_code == 2 and "verified under other checker rules" in refused.output
    assert not out.exists()

    resumed = runner.invoke(app, ["run", "--resume", str(run_dir), "--no-report"])
    assert resumed.exit_code == 0, resumed.output
    rechecked = [line for line in resumed.stdout.splitlines() if line.startswith("rechecked: ")]
    assert len(rechecked) == 1 and OLD in rechecked[0]  # said once
    assert "1 do not (left out of training and export)" in resumed.stdout

    current = Z3Prover().version()
    conn = sqlite3.connect(run_dir / "store.sqlite")
    # Every attempt has a verdict under the current rules again.
    unchecked = conn.execute(
        "SELECT COUNT(*) FROM attempts a LEFT JOIN verdicts v ON v.problem_id = a.problem_id "
        "AND v.canonical_hash = a.canonical_hash AND v.checker_version = ? WHERE v.status IS NULL",
        (current,),
    ).fetchone()[0]
    assert unchecked == 0
    versions = dict(conn.execute("SELECT candidate, checker_version FROM dataset WHERE problem_id = 'inc'"))
    assert versions[WRONG] == OLD  # no longer verifies: it keeps the rules that accepted it
    assert all(v == current for c, v in versions.items() if c != WRONG)

    exported = runner.invoke(app, ["export", str(run_dir), "--format", "jsonl", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert "left_out_stale: 1 " in exported.stdout
    text = out.read_text()
    assert WRONG not in text and text.count("\n") >= 1
    # What the next round trains on is chosen from the rows of the current rules only.
    with Store.open(run_dir) as store:
        assert WRONG not in {row.candidate for row in store.dataset_rows(version=current)}
    assert rules_of(current) == Z3Prover().rules_version()
