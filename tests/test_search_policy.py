"""`proofloop run` with the search as the round's policy ([search] policy = true): the synthesizer
under each round's learned guide, on tiny problems, with the real checker, store and export."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loop_fixtures import write_config, write_problems
from proofloop.cli import app
from proofloop.export import export_rows
from proofloop.prover import get_prover
from proofloop.searchwork import search_many
from proofloop.types import CheckLimits
from test_loop import _attempts, _kill_when, _start

runner = CliRunner()
SEARCH = {"policy": True, "budget_s": 10.0, "guide": "phog", "workers": 2}
# One search per problem, every train problem each round; one problem per stored chunk.
SAMPLING = {"n": 1, "eval_n": 1, "k": 1, "frontier": False}


def search_config(path: Path, problems: Path, name: str, **search) -> Path:
    return write_config(path, problems, path.parent / "runs", name, search={**SEARCH, **search}, sampling=SAMPLING,
                        generator={"batch_size": 1, "device": "cpu"})


@pytest.fixture(scope="module")
def problems(tmp_path_factory):
    return write_problems(tmp_path_factory.mktemp("problems"))


@pytest.fixture(scope="module")
def search_run(problems, tmp_path_factory):
    base = tmp_path_factory.mktemp("search")
    result = runner.invoke(app, ["run", "--no-report", "--config", str(search_config(base / "run.toml", problems, "s"))])
    assert result.exit_code == 0, result.output
    return base / "runs" / "s", result


def test_each_round_searches_under_the_last_kept_guide_and_fits_its_own(search_run):
    run_dir, result = search_run
    conn = sqlite3.connect(run_dir / "store.sqlite")
    generators = set(conn.execute("SELECT round, purpose, generator FROM attempts"))
    assert {(0, "train", "search:uniform"), (0, "baseline", "search:uniform"), (0, "heldout", "search:phog:round-0"),
            (1, "train", "search:phog:round-0"), (1, "heldout", "search:phog:round-1")} <= generators
    assert {p for _, p, _ in generators} <= {"train", "heldout", "baseline", "probe"}  # no coverage curve for a search
    for r in (0, 1):
        guide = json.loads((run_dir / "checkpoints" / f"round-{r}" / "guide.json").read_text())
        assert guide["kind"] == "phog"
    # No model is made or trained: the guide reads none.
    assert not (run_dir / "base_model").exists()
    assert not list((run_dir / "checkpoints" / "round-1").glob("*.safetensors"))
    metrics = dict(conn.execute("SELECT key, value FROM metrics WHERE round = 0"))
    assert metrics["uniform_heldout_pass@1"] == 1.0 and metrics["heldout_pass@1"] == 1.0
    assert metrics["solved_train"] == 4
    lines = result.stdout.splitlines()
    assert "uniform_heldout_pass@1: 1.0000" in lines


def test_search_answers_are_checked_exported_with_their_guide_and_verify_again(search_run):
    run_dir, _ = search_run
    conn = sqlite3.connect(run_dir / "store.sqlite")
    # The check phase judged every answer again (one verdict per canonical form, by the run's checker).
    unchecked = conn.execute(
        "SELECT COUNT(*) FROM attempts a WHERE a.candidate != '' AND NOT EXISTS (SELECT 1 FROM verdicts v "
        "WHERE v.problem_id = a.problem_id AND v.canonical_hash = a.canonical_hash)").fetchone()[0]
    assert unchecked == 0
    rows, stale = export_rows(run_dir)
    assert rows and stale == 0
    assert {row["generator"] for row in rows} <= {"search:uniform", "search:phog:round-0"}
    for row in rows:
        prover = get_prover(row["prover"])
        problem = prover.from_text(row["problem"], id=row["problem_id"])
        assert prover.check(problem, row["candidate"], CheckLimits()).verified, row


def test_a_killed_search_run_resumes_to_the_same_store(problems, search_run, tmp_path):
    config = search_config(tmp_path / "c.toml", problems, "killed")
    run_dir = tmp_path / "runs" / "killed"
    store = run_dir / "store.sqlite"
    proc = _start(["--config", str(config)])
    for label, sql in [
        ("searching round 0", "SELECT 1 FROM attempts WHERE round = 0 AND purpose = 'train'"),
        ("evaluating round 0", "SELECT 1 FROM attempts WHERE round = 0 AND purpose = 'heldout'"),
        ("searching round 1", "SELECT 1 FROM attempts WHERE round = 1 AND purpose = 'train'"),
    ]:
        _kill_when(proc, store, sql, label)
        before = _attempts(store)
        proc = _start(["--resume", str(run_dir)])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    after = _attempts(store)
    assert all(after[i] == row for i, row in before.items())
    assert sorted(after.values()) == sorted(_attempts(search_run[0] / "store.sqlite").values())
    dataset = "SELECT problem_id, candidate, origin, round FROM dataset ORDER BY 1, 2"
    assert (sqlite3.connect(store).execute(dataset).fetchall()
            == sqlite3.connect(search_run[0] / "store.sqlite").execute(dataset).fetchall())


def test_the_model_guide_trains_and_samples_the_model(problems, tmp_path):
    config = search_config(tmp_path / "m.toml", problems, "m", guide="mix", model_samples=2)
    result = runner.invoke(app, ["run", "--no-report", "--config", str(config)])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "m"
    assert (run_dir / "base_model" / "config.json").is_file()
    assert (run_dir / "checkpoints" / "round-0" / "config.json").is_file()  # the model, beside its guide
    assert json.loads((run_dir / "checkpoints" / "round-0" / "guide.json").read_text())["kind"] == "phog"
    generators = {g for (g,) in sqlite3.connect(run_dir / "store.sqlite").execute("SELECT generator FROM attempts")}
    assert "search:mix:round-0" in generators


def test_a_prover_without_a_search_is_refused_before_the_run_starts(tmp_path):
    from loop_fixtures import write_config as write

    lean = tmp_path / "lean"
    lean.mkdir()
    (lean / "a.lean").write_text("-- split: train\ntheorem a : True := by\n  sorry\n")
    (lean / "b.lean").write_text("-- split: heldout\ntheorem b : True := by\n  sorry\n")
    config = write(tmp_path / "l.toml", lean, tmp_path / "runs", "l", prover="lean", search=SEARCH, sampling=SAMPLING)
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert "search.policy: the lean prover has no search that runs without a model" in result.stderr
    assert not (tmp_path / "runs" / "l").exists()


def test_search_many_returns_in_input_order_like_one_process(problems):
    from proofloop.problemfile import load_problems

    loaded = sorted(load_problems(problems, prover="z3"), key=lambda p: p.id)
    limits = CheckLimits(timeout_s=5.0)
    parallel = search_many(loaded, budget_s=10.0, limits=limits, workers=2)
    alone = search_many(loaded, budget_s=10.0, limits=limits, workers=1)
    assert [r.proof for r in parallel] == [r.proof for r in alone]
    assert all(r.verdict is not None and r.verdict.verified for r in parallel)


def test_eval_searches_under_a_runs_guide(search_run, problems, tmp_path):
    run_dir, _ = search_run
    guide = run_dir / "checkpoints" / "round-1" / "guide.json"
    result = runner.invoke(app, ["eval", "--model", "search", "--problems", str(problems), "--guide", str(guide),
                                 "--time-budget-s", "10", "--workers", "2", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["pass@1"] == 1.0 and out["solved"] == out["total"] == 6
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    result = runner.invoke(app, ["eval", "--model", "search", "--problems", str(problems), "--guide", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --guide {bad}: not a guide file")
    result = runner.invoke(app, ["eval", "--model", "grammar", "--problems", str(problems), "--guide", str(guide)])
    assert result.exit_code == 2 and "use it with --model search" in result.stderr


def test_search_many_takes_a_guide_per_problem(problems):
    from proofloop.problemfile import load_problems
    from provers.z3.synth.guides import fit_guide

    loaded = sorted(load_problems(problems, prover="z3"), key=lambda p: p.id)
    limits = CheckLimits(timeout_s=5.0)
    phog = fit_guide("phog", [(p, p.reference) for p in loaded if p.split == "train"])
    guides = [phog if i % 2 else fit_guide("uniform", []) for i in range(len(loaded))]
    results = search_many(loaded, guides=guides, budget_s=10.0, limits=limits, workers=2)
    assert [r.stats.get("guide") for r in results] == [g.name for g in guides]
    assert all(r.verdict is not None and r.verdict.verified for r in results)
