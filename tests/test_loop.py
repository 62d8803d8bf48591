"""End to end: `proofloop run` on tiny problems with the real prover, generators, trainer and store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop_fixtures import assert_store_invariants, write_config, write_problems
from proofloop import loop
from proofloop.cli import app
from proofloop.config import load_config
from provers.z3 import Z3Prover

runner = CliRunner()
# One problem per sampling chunk, so that a kill can land between two chunks of a phase.
SMALL_CHUNKS = {"generator": {"batch_size": 4}}


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    return write_problems(tmp_path_factory.mktemp("problems"))


@pytest.fixture(scope="module")
def finished_run(problems, tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    config = write_config(base / "run.toml", problems, base / "runs", "tiny", **SMALL_CHUNKS)
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 0, result.output
    return base / "runs" / "tiny", result


def test_tiny_run_prints_greppable_lines_and_the_run_dir(finished_run):
    run_dir, result = finished_run
    out = result.stdout.splitlines()
    for line in ("round: 0", "round: 1", "kept: yes", f"run_dir: {run_dir}"):
        assert line in out
    assert out[-1] == f"run_dir: {run_dir}"
    for prefix in ("solved_train: ", "heldout_pass@1: ", "heldout_pass@2: ", "forgetting: ", "samples_per_s: ",
                   "checks_per_s: ", "train_tokens_per_s: ", "grammar_heldout_pass@2: "):
        assert any(line.startswith(prefix) for line in out), prefix
    assert (run_dir / "report" / "report.html").is_file()


def test_every_recorded_metric_is_declared_in_the_catalog(finished_run):
    from proofloop.metrics import declared

    run_dir, result = finished_run
    conn = sqlite3.connect(run_dir / "store.sqlite")
    keys = {key for (key,) in conn.execute("SELECT DISTINCT key FROM metrics")} - {"kept"}
    assert {key for key in keys if declared(key, 2) is None} == set()
    printed = {line.partition(": ")[0] for line in result.stdout.splitlines() if ": " in line}
    assert all(declared(key, 2).line for key in printed & keys)  # printed lines come from the catalog


def test_every_dataset_row_rechecks_as_checked_and_as_trained(finished_run):
    from proofloop.export import export_rows
    from proofloop.prover import get_prover
    from proofloop.types import CheckLimits

    run_dir, _ = finished_run
    rows, stale = export_rows(run_dir)
    assert rows and stale == 0
    for row in rows:
        prover = get_prover(row["prover"])
        problem = prover.from_text(row["problem"], id=row["problem_id"])
        assert prover.check(problem, row["candidate"], CheckLimits()).verified, row
        if row["completion"] is not None:  # what the model is trained to write, read back as sampling does
            written = prover.extract(row["completion"], row["prompt"])
            assert prover.check(problem, written, CheckLimits()).verified, row


def test_tiny_run_store_contents(finished_run):
    run_dir, _ = finished_run
    assert_store_invariants(run_dir, n=4, eval_n=4, k=2, rounds=1)
    conn = sqlite3.connect(run_dir / "store.sqlite")
    rounds = conn.execute("SELECT round, policy, kept, gate_reason FROM rounds ORDER BY round").fetchall()
    assert [(r, p) for r, p, _, _ in rounds] == [(0, "grammar"), (1, "round-0")]
    assert rounds[0][2:] == (1, "first model")
    generators = dict(conn.execute("SELECT round, generator FROM attempts WHERE purpose = 'train' GROUP BY round"))
    assert generators == {0: "grammar", 1: "hf:round-0"}
    evaluators = dict(conn.execute("SELECT purpose, generator FROM attempts WHERE round = 0 GROUP BY purpose"))
    assert evaluators == {"train": "grammar", "baseline": "grammar", "heldout": "hf:round-0",
                          "coverage": "hf:round-0"}  # no probe yet
    # Half the train problems are seeded with their reference (unless a sample already found that form).
    origins = dict(conn.execute("SELECT origin, COUNT(*) FROM dataset GROUP BY origin"))
    assert 1 <= origins.get("reference", 0) <= 2 and origins.get("verified", 0) >= 1
    references = conn.execute("SELECT problem_id, candidate FROM dataset WHERE origin = 'reference'").fetchall()
    texts = dict(conn.execute("SELECT id, text FROM problems"))
    assert all(f"reference: {cand}" in texts[pid] for pid, cand in references)
    # The grammar solves some train problems in round 0; every verdict names the real checker and version.
    assert conn.execute("SELECT value FROM metrics WHERE round = 0 AND key = 'solved_train'").fetchone()[0] >= 1

    assert set(conn.execute("SELECT checker, checker_version FROM verdicts")) == {("z3", Z3Prover().version())}
    assert (run_dir / "config.json").is_file() and (run_dir / "base_model" / "config.json").is_file()
    # The base model was pre-trained on the train prompts before round 0.
    assert conn.execute("SELECT value FROM round_stats WHERE round = 0 AND key = 'time_pretrain_s'").fetchone()[0] > 0
    assert not any(p.name.startswith("base_model.") for p in run_dir.iterdir())
    saved = load_config(run_dir / "config.json", [])
    assert saved.run.name == "tiny" and saved.sampling.n == 4


def test_a_second_run_never_reuses_the_directory(finished_run, problems):
    run_dir, _ = finished_run
    config = write_config(run_dir.parent / "again.toml", problems, run_dir.parent, "tiny")
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {run_dir} already exists and is not empty; choose another run name or --resume it\n"


def test_resuming_a_finished_run_does_nothing_new(finished_run):
    run_dir, _ = finished_run
    conn = sqlite3.connect(run_dir / "store.sqlite")
    before = conn.execute("SELECT COUNT(*) FROM attempts").fetchone(), conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()
    result = runner.invoke(app, ["run", "--resume", str(run_dir), "--no-report"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"run_dir: {run_dir}\n"
    after = conn.execute("SELECT COUNT(*) FROM attempts").fetchone(), conn.execute("SELECT COUNT(*) FROM verdicts").fetchone()
    assert before == after


def test_resume_refuses_changes_that_alter_results(finished_run):
    run_dir, _ = finished_run
    result = runner.invoke(app, ["run", "--resume", str(run_dir), "--set", "sampling.n=8"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: config: sampling.n=8 conflicts with the resumed run's sampling.n=4; ")
    result = runner.invoke(app, ["run", "--resume", str(run_dir), "--config", "x.toml"])
    assert result.stderr == "error: --config cannot be combined with --resume: a run keeps its saved config (use --set)\n"


def test_resume_a_directory_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["run", "--resume", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path} is not a proofloop run (no store.sqlite)\n"


def test_resume_a_run_from_another_schema_version(finished_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(finished_run[0], copy, ignore=shutil.ignore_patterns("checkpoints", "base_model", "report"))
    conn = sqlite3.connect(copy / "store.sqlite")
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    result = runner.invoke(app, ["run", "--resume", str(copy)])
    assert result.exit_code == 2
    assert "with store schema 99; this proofloop" in result.stderr and result.stderr.startswith(f"error: {copy} was written by")


def test_bad_config_value_is_one_line(tmp_path):
    result = runner.invoke(app, ["run", "--set", "sampling.n=0", "--out-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == "error: config: sampling.n: must be >= 1 (got 0)\n"
    assert list(tmp_path.iterdir()) == []


def test_gate_discards_a_forced_regression(problems, tmp_path, monkeypatch):
    real_evaluate = loop.evaluate

    def regressing(ctx, r, model):
        metrics = real_evaluate(ctx, r, model)
        if r == 1:  # M_1 looks far worse on held-out than M_0
            metrics[f"heldout_pass@{ctx.k}"] = -1.0
        return metrics

    real_by_problem = loop.heldout_pass_by_problem

    def by_problem(ctx, r):  # and every held-out problem, as the paired gate sees it, fell from 1 to 0
        return {pid: 0.0 if r == 1 else 1.0 for pid in real_by_problem(ctx, r)}

    monkeypatch.setattr(loop, "evaluate", regressing)
    monkeypatch.setattr(loop, "heldout_pass_by_problem", by_problem)
    config = write_config(tmp_path / "c.toml", problems, tmp_path / "runs", "gated",
                          sampling={"n": 2, "eval_n": 2, "k": 2}, train={"max_steps": 1})
    result = runner.invoke(app, ["run", "--config", str(config), "--no-report"])
    assert result.exit_code == 0, result.output
    assert "kept: no" in result.stdout.splitlines()
    run_dir = tmp_path / "runs" / "gated"
    conn = sqlite3.connect(run_dir / "store.sqlite")
    (kept, reason), = conn.execute("SELECT kept, gate_reason FROM rounds WHERE round = 1").fetchall()
    assert kept == 0 and reason.startswith("heldout_pass@2 -1.000 significantly below best kept ")
    assert "difference upper bound -1.000" in reason
    assert conn.execute("SELECT round, kept FROM checkpoints ORDER BY round").fetchall() == [(0, 1), (1, 0)]
    assert conn.execute("SELECT value FROM metrics WHERE round = 1 AND key = 'kept'").fetchone() == (0.0,)
    # The next round samples from the last kept model, not the discarded one.
    monkeypatch.setattr(loop, "evaluate", real_evaluate)
    ctx = loop.resume_run(run_dir, [], _SilentUI())
    try:
        assert loop.current_policy(ctx, 2) == loop.Policy("round-0", str(run_dir / "checkpoints" / "round-0"))
    finally:
        ctx.store.close()


class _SilentUI:
    from contextlib import contextmanager

    @contextmanager
    def progress(self, label, total):
        yield lambda *a, **k: None

    def round_summary(self, *a, **k):
        pass


# -- resume after kill -9 ------------------------------------------------------------------------

KILL_POINTS = [
    ("training round 0", "SELECT 1 FROM rounds WHERE round = 0 AND phase = 'train'"),
    ("evaluating round 0", "SELECT 1 WHERE (SELECT COUNT(*) FROM attempts WHERE round = 0 AND purpose = 'heldout') >= 4"),
    ("sampling round 1", "SELECT 1 WHERE (SELECT COUNT(*) FROM attempts WHERE round = 1 AND purpose = 'train') >= 4"),
]


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "proofloop.cli", "run", "--no-report", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _kill_when(proc: subprocess.Popen, store: Path, sql: str, label: str, timeout_s: float = 240.0) -> None:
    """SIGKILL `proc` as soon as `sql` returns a row in the run's store."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the run ended (rc={proc.returncode}) before the kill point ({label}):\n{out}\n{err}")
        if store.exists():
            conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
            try:
                hit = conn.execute(sql).fetchone() is not None
            except sqlite3.OperationalError:  # tables not created yet, or the writer holds a lock
                hit = False
            finally:
                conn.close()
            if hit:
                proc.send_signal(signal.SIGKILL)
                proc.communicate(timeout=30)
                assert proc.returncode == -signal.SIGKILL
                return
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"kill point ({label}) not reached in {timeout_s}s")


def _attempts(store: Path) -> dict[int, tuple]:
    conn = sqlite3.connect(store)
    rows = conn.execute("SELECT id, round, purpose, problem_id, sample_idx, candidate FROM attempts").fetchall()
    conn.close()
    return {r[0]: r[1:] for r in rows}


def test_resume_after_kill_at_several_points(problems, finished_run, tmp_path):
    config = write_config(tmp_path / "c.toml", problems, tmp_path / "runs", "killed", **SMALL_CHUNKS)
    run_dir = tmp_path / "runs" / "killed"
    store = run_dir / "store.sqlite"
    proc = _start(["--config", str(config)])
    for label, sql in KILL_POINTS:
        _kill_when(proc, store, sql, label)
        before = _attempts(store)
        proc = _start(["--resume", str(run_dir)])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1] == f"run_dir: {run_dir}"
    after = _attempts(store)
    assert all(after[i] == row for i, row in before.items())  # nothing stored before the last kill was lost
    assert_store_invariants(run_dir, n=4, eval_n=4, k=2, rounds=1)
    # Seeded per (seed, round, purpose, chunk), the killed run drew exactly what the uninterrupted one did.
    reference = finished_run[0] / "store.sqlite"
    assert sorted(after.values()) == sorted(_attempts(reference).values())
    assert not (run_dir / "checkpoints" / "round-0.tmp").exists()


def test_model_samples_stop_at_the_provers_stop_strings(finished_run):
    """The hf backend receives the prover's stop strings in a real run and cuts at them."""
    import json

    from provers.z3 import Z3Prover

    run_dir, _ = finished_run
    conn = sqlite3.connect(run_dir / "store.sqlite")
    rows = conn.execute("SELECT completion, params FROM attempts WHERE generator LIKE 'hf:%'").fetchall()
    assert rows
    for completion, params in rows:
        assert json.loads(params)["stop"] == list(Z3Prover.stop)
        assert not any(s in completion for s in Z3Prover.stop)
