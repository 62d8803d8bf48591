"""`proofloop export`: round trips through JSONL, Parquet and Hugging Face datasets; filters; splits."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from proofloop.cli import app
from proofloop.errors import ProofloopError, RunDirError
from proofloop.export import COLUMNS, ExportFilter, export_rows, export_run, split_by_problem
from proofloop.prover import get_prover
from proofloop.types import CheckLimits, Status, sha256
from synthetic_run import CHECKER, CHECKER_VERSION, DATASET, PROBLEMS, build_run, prompt_of

REQUIRED = {
    "problem_id", "problem", "prompt", "completion", "candidate", "round", "origin", "generator", "checker", "checker_version",
    "verdict_seconds", "problem_hash", "candidate_hash", "prover", "source", "split",
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("runs") / "synthetic")


def store_rows(run_dir):
    """The dataset rows straight from SQLite, for comparison with what an export wrote."""
    with sqlite3.connect(run_dir / "store.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        cur = conn.execute(
            "SELECT d.*, p.text, p.prompt, p.split, p.prover, p.source FROM dataset d "
            "JOIN problems p ON p.id = d.problem_id ORDER BY d.id"
        )
        return [dict(r) for r in cur]


def assert_matches_store(rows, run_dir):
    expected = store_rows(run_dir)
    assert len(rows) == len(expected) == len(DATASET)
    for got, want in zip(rows, expected):
        assert REQUIRED <= set(got)
        assert got["problem_id"] == want["problem_id"]
        assert got["problem"] == want["text"] == PROBLEMS[want["problem_id"]][1]
        assert got["prompt"] == want["prompt"] == prompt_of(want["problem_id"])
        assert got["candidate"] == want["candidate"]
        assert got["round"] == want["round"] and got["origin"] == want["origin"]
        assert got["generator"] == want["generator"]
        assert (got["checker"], got["checker_version"]) == (CHECKER, CHECKER_VERSION)
        assert got["verdict_seconds"] == pytest.approx(want["verdict_seconds"])
        assert got["problem_hash"] == sha256(got["problem"])
        assert got["candidate_hash"] == sha256(got["candidate"])
        assert (got["prover"], got["split"], got["source"]) == ("z3", want["split"], want["source"])
        assert got["dataset_id"] == want["id"] and got["attempt_id"] == want["attempt_id"]


def test_rows_carry_provenance(run_dir):
    rows, stale = export_rows(run_dir)
    assert stale == 0
    assert_matches_store(rows, run_dir)
    assert list(rows[0]) == list(COLUMNS)
    assert rows[0]["origin"] == "reference" and rows[0]["attempt_id"] is None
    assert all(r["attempt_id"] is not None for r in rows if r["origin"] == "verified")
    assert {r["run_id"] for r in rows} == {"synthetic"}


def test_jsonl_round_trip(run_dir, tmp_path):
    import datasets

    out = tmp_path / "rows.jsonl"
    result = export_run(run_dir, "jsonl", out)
    assert result.rows == {"all": len(DATASET)} and result.problems == {"all": 3}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert_matches_store(lines, run_dir)
    ds = datasets.load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert_matches_store(list(ds), run_dir)


def test_parquet_round_trip(run_dir, tmp_path):
    import datasets
    import pyarrow.parquet as pq

    out = tmp_path / "rows.parquet"
    export_run(run_dir, "parquet", out)
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    assert str(table.schema.field("round").type) == "int64"
    assert_matches_store(table.to_pylist(), run_dir)
    ds = datasets.load_dataset("parquet", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert_matches_store(list(ds), run_dir)


def test_hf_round_trip(run_dir, tmp_path):
    import datasets

    out = tmp_path / "hf"
    export_run(run_dir, "hf", out)
    ds = datasets.load_from_disk(str(out))
    assert isinstance(ds, datasets.Dataset)
    assert ds.column_names == list(COLUMNS)
    assert_matches_store(list(ds), run_dir)


def test_exported_rows_recheck_without_the_run(run_dir, tmp_path):
    out = tmp_path / "rows.jsonl"
    export_run(run_dir, "jsonl", out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        prover = get_prover(row["prover"])
        problem = prover.from_text(row["problem"], id=row["problem_id"])
        verdict = prover.check(problem, row["candidate"], CheckLimits())
        assert verdict.status is Status.VERIFIED, (row["problem_id"], verdict)
        # prompt + completion is the SFT pair: what it extracts to verifies too.
        from_pair = prover.extract(row["completion"], row["prompt"])
        assert prover.check(problem, from_pair, CheckLimits()).status is Status.VERIFIED, row["problem_id"]
    # the same rows with a wrong candidate are rejected: the checker really ran
    row = rows[1]
    prover = get_prover(row["prover"])
    problem = prover.from_text(row["problem"], id=row["problem_id"])
    wrong = PROBLEMS[row["problem_id"]][3]
    assert prover.check(problem, wrong, CheckLimits()).status is Status.REJECTED


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (ExportFilter(rounds=(1,)), [("max2", 1), ("double", 1)]),
        (ExportFilter(rounds=(0, 2)), [("max2", 0), ("plus2", 0), ("plus2", 2)]),
        (ExportFilter(origin="reference"), [("max2", 0)]),
        (ExportFilter(origin="verified", rounds=(0,)), [("plus2", 0)]),
        (ExportFilter(prover="z3", splits=("train",)), [(p, r) for p, r, _, _ in DATASET]),
        (ExportFilter(splits=("heldout",)), []),
        (ExportFilter(prover="lean"), []),
    ],
)
def test_filters(run_dir, flt, expected):
    assert [(r["problem_id"], r["round"]) for r in export_rows(run_dir, flt)[0]] == expected


def test_split_is_by_problem_and_seeded():
    rows = [{"problem_id": f"p{i % 10}", "n": i} for i in range(40)]
    parts = split_by_problem(rows, 0.3, seed=1)
    train_ids = {r["problem_id"] for r in parts["train"]}
    test_ids = {r["problem_id"] for r in parts["test"]}
    assert not train_ids & test_ids
    assert len(test_ids) == 3 and len(train_ids) == 7
    assert len(parts["train"]) + len(parts["test"]) == 40
    assert split_by_problem(rows, 0.3, seed=1) == parts
    assert any(split_by_problem(rows, 0.3, seed=s)["test"] != parts["test"] for s in range(2, 6))


def test_split_keeps_both_parts_non_empty():
    rows = [{"problem_id": "a"}, {"problem_id": "b"}]
    assert len(split_by_problem(rows, 0.01, 0)["test"]) == 1
    assert len(split_by_problem(rows, 0.99, 0)["train"]) == 1
    with pytest.raises(ProofloopError, match="cannot split rows of 1 problem"):
        split_by_problem([{"problem_id": "a"}], 0.5, 0)
    with pytest.raises(ProofloopError, match="between 0 and 1"):
        split_by_problem(rows, 1.0, 0)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "hf"])
def test_split_export_loads_and_is_disjoint(run_dir, tmp_path, fmt):
    import datasets

    out = tmp_path / "split"
    result = export_run(run_dir, fmt, out, eval_split_fraction=0.34, seed=3)
    assert result.problems == {"train": 2, "test": 1}
    if fmt == "hf":
        dd = datasets.load_from_disk(str(out))
        assert isinstance(dd, datasets.DatasetDict) and set(dd) == {"train", "test"}
        parts = {name: list(dd[name]) for name in dd}
    else:
        files = {name: str(out / f"{name}.{fmt}") for name in ("train", "test")}
        builder = "json" if fmt == "jsonl" else fmt
        dd = datasets.load_dataset(builder, data_files=files, cache_dir=str(tmp_path / "cache"))
        parts = {name: list(dd[name]) for name in dd}
    train = {r["problem_id"] for r in parts["train"]}
    test = {r["problem_id"] for r in parts["test"]}
    assert train and test and not train & test
    assert len(parts["train"]) + len(parts["test"]) == len(DATASET)
    assert result.rows == {"train": len(parts["train"]), "test": len(parts["test"])}


def test_refuses_to_overwrite_without_force(run_dir, tmp_path):
    out = tmp_path / "rows.jsonl"
    out.write_text("keep me\n")
    with pytest.raises(ProofloopError, match="already exists"):
        export_run(run_dir, "jsonl", out)
    assert out.read_text() == "keep me\n"
    export_run(run_dir, "jsonl", out, force=True)
    assert len(out.read_text().splitlines()) == len(DATASET)


def test_no_matching_rows_is_an_error(run_dir, tmp_path):
    with pytest.raises(ProofloopError, match=r"no dataset rows match \(round in 7\)"):
        export_run(run_dir, "jsonl", tmp_path / "x.jsonl", ExportFilter(rounds=(7,)))
    assert not (tmp_path / "x.jsonl").exists()


def test_damaged_problem_text_is_refused(tmp_path):
    run_dir = build_run(tmp_path / "run")
    with sqlite3.connect(run_dir / "store.sqlite") as conn:
        conn.execute("UPDATE problems SET text = text || ' ' WHERE id = 'plus2'")
    with pytest.raises(ProofloopError, match="'plus2': stored text does not match its hash"):
        export_rows(run_dir)


def test_cli_export_with_filters(run_dir, tmp_path):
    out = tmp_path / "r1.jsonl"
    result = CliRunner().invoke(
        app, ["export", str(run_dir), "--format", "jsonl", "--out", str(out), "--round", "1", "--round", "2",
              "--origin", "verified", "--split", "train", "--prover", "z3"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == ["rows: 3", "problems: 3", f"out: {out}"]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["problem_id"], r["round"]) for r in rows] == [("max2", 1), ("double", 1), ("plus2", 2)]


def test_cli_export_split(run_dir, tmp_path):
    out = tmp_path / "parts"
    result = CliRunner().invoke(
        app, ["export", str(run_dir), "--format", "parquet", "--out", str(out), "--eval-split-fraction", "0.34"]
    )
    assert result.exit_code == 0, result.output
    assert f"train: {out / 'train.parquet'}" in result.output
    assert f"test: {out / 'test.parquet'}" in result.output
    assert "train_problems: 2" in result.output and "test_problems: 1" in result.output


def test_cli_export_errors(run_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(tmp_path / "nope"), "--format", "jsonl", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {tmp_path / 'nope'} is not a proofloop run (no store.sqlite)"
    result = runner.invoke(app, ["export", str(run_dir), "--format", "csv", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "csv" in result.output
    result = runner.invoke(
        app, ["export", str(run_dir), "--format", "jsonl", "--out", str(tmp_path / "o"), "--split", "heldout"]
    )
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {run_dir}: no dataset rows match (split in heldout); nothing to export"


def test_export_rows_not_a_run(tmp_path):
    with pytest.raises(RunDirError):
        export_rows(tmp_path)
