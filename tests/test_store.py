"""The run store: schema contract, transactions, idempotent batches, the verdict cache, versions."""

from __future__ import annotations

import sqlite3

import pytest

from proofloop.errors import RunDirError
from proofloop.store import MIGRATIONS, SCHEMA_VERSION, STORE_FILE, AttemptRow, DatasetRow, Store
from proofloop.types import Problem, Status, Verdict

# The contract with the report and export code: these columns, in this order, always exist.
CONTRACT = {
    "meta": ["key", "value"],
    "problems": ["id", "prover", "split", "source", "text", "text_hash", "reference", "prompt"],
    "rounds": ["round", "policy", "phase", "checkpoint", "kept", "gate_reason", "started_at", "finished_at"],
    "attempts": [
        "id", "round", "purpose", "problem_id", "sample_idx", "completion", "candidate", "candidate_hash",
        "canonical_hash", "generator", "params", "num_tokens", "logprob", "created_at",
    ],
    "verdicts": [
        "problem_id", "canonical_hash", "checker", "checker_version", "status", "reason", "message",
        "counterexample", "seconds", "created_at",
    ],
    "dataset": [
        "id", "problem_id", "candidate", "canonical_hash", "origin", "round", "attempt_id", "generator", "checker",
        "checker_version", "verdict_seconds",
    ],
    "training_rows": ["round", "dataset_id"],
    "checkpoints": ["round", "path", "kept", "created_at"],
    "metrics": ["round", "key", "value"],
}

P1 = Problem(id="p1", prover="z3", text="(check-synth)", split="train", reference="(define-fun f () Int 1)")
P2 = Problem(id="p2", prover="z3", text="(check-synth) ", split="heldout")


def attempt(idx: int, canonical: str = "c1", problem: str = "p1", round: int = 0, purpose: str = "train") -> AttemptRow:
    return AttemptRow(
        round=round, purpose=purpose, problem_id=problem, sample_idx=idx, completion=f"out {idx}",
        candidate=f"cand {idx}", candidate_hash=f"h{idx}", canonical_hash=canonical, generator="grammar",
        params={"temperature": 1.0}, num_tokens=3, logprob=-1.5,
    )


def verdict(status: Status = Status.VERIFIED, version: str = "4.16") -> Verdict:
    return Verdict(status=status, checker="z3", checker_version=version, seconds=0.01, reason="", message="")


@pytest.fixture
def store(tmp_path):
    with Store.create(tmp_path / "run", {"run": {"seed": 0}}, run_id="r1") as s:
        s.add_problems([P1, P2], ["prompt 1", "prompt 2"])
        yield s


def test_schema_has_the_contract_columns_and_pragmas(store):
    for table, columns in CONTRACT.items():
        got = [row[1] for row in store.conn.execute(f"PRAGMA table_info({table})")]
        assert got[: len(columns)] == columns, table
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.meta("schema_version") == str(SCHEMA_VERSION)
    assert store.meta("run_id") == "r1"
    assert store.meta("proofloop_version") and float(store.meta("created_at")) > 0


def test_config_saved_in_store_and_run_dir(store):
    assert store.config_dict() == {"run": {"seed": 0}}
    assert (store.run_dir / "config.json").read_text().strip().startswith("{")


def test_create_refuses_a_non_empty_directory_but_takes_an_empty_one(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("x")
    with pytest.raises(RunDirError, match=r"used already exists and is not empty"):
        Store.create(tmp_path / "used", {})
    (tmp_path / "empty").mkdir()
    Store.create(tmp_path / "empty", {}).close()
    assert (tmp_path / "empty" / STORE_FILE).is_file()


def test_open_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(RunDirError) as e:
        Store.open(tmp_path)
    assert str(e.value) == f"{tmp_path} is not a proofloop run (no store.sqlite)"
    (tmp_path / STORE_FILE).write_bytes(b"this is not a database, just some bytes" * 40)
    with pytest.raises(RunDirError, match="is not a proofloop run"):
        Store.open(tmp_path)


def test_open_an_sqlite_file_without_a_schema_version(tmp_path):
    conn = sqlite3.connect(tmp_path / STORE_FILE)
    conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.commit()
    conn.close()
    with pytest.raises(RunDirError, match=r"is not a proofloop run \(store.sqlite has no schema_version\)"):
        Store.open(tmp_path)


def test_open_a_store_from_a_newer_schema_names_both_versions(store):
    with store.transaction():
        store.conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 7),))
        store.conn.execute("UPDATE meta SET value = '9.9.9' WHERE key = 'proofloop_version'")
    with pytest.raises(RunDirError) as e:
        Store.open(store.run_dir)
    message = str(e.value)
    assert f"proofloop 9.9.9 with store schema {SCHEMA_VERSION + 7}" in message
    assert f"reads schema <= {SCHEMA_VERSION}" in message


def test_open_migrates_an_older_schema_forward(tmp_path):
    run = tmp_path / "old"
    run.mkdir()
    conn = sqlite3.connect(run / STORE_FILE)
    conn.executescript(MIGRATIONS[0] + "\nINSERT INTO meta VALUES ('schema_version', '1');")
    conn.commit()
    conn.close()
    with Store.open(run) as s:
        assert s.meta("schema_version") == str(SCHEMA_VERSION)
        s.add_round_stats(0, {"time_sample_s": 1.5})
        s.add_round_stats(0, {"time_sample_s": 2.0, "samples_train": 8})
        assert s.round_stats(0) == {"samples_train": 8.0, "time_sample_s": 3.5}


def test_attempts_insert_idempotently_in_one_batch(store):
    assert store.add_attempts([attempt(0), attempt(1, "c2")]) == 2
    assert store.add_attempts([attempt(0), attempt(1, "c2"), attempt(2)]) == 1
    assert store.attempt_keys(0, "train") == {("p1", 0), ("p1", 1), ("p1", 2)}
    assert store.attempt_keys(0, "heldout") == set()


def test_a_failed_batch_writes_nothing(store):
    bad = AttemptRow(**{**attempt(5).__dict__, "problem_id": "no-such-problem"})  # violates the foreign key
    with pytest.raises(sqlite3.IntegrityError):
        store.add_attempts([attempt(4), bad])
    assert store.attempt_keys(0, "train") == set()


def test_verdict_cache_is_keyed_by_checker_version(store):
    store.add_attempts([attempt(0, "c1"), attempt(1, "c1"), attempt(2, "c2")])
    assert len(store.pending_attempts(0, "train", "z3", "4.16")) == 3
    assert store.put_verdicts([("p1", "c1", verdict())]) == 1
    assert store.put_verdicts([("p1", "c1", verdict(Status.REJECTED))]) == 0  # first verdict stays
    pending = store.pending_attempts(0, "train", "z3", "4.16")
    assert [a["canonical_hash"] for a in pending] == ["c2"]
    assert store.cached_verdict("p1", "c1", "z3", "4.16").status is Status.VERIFIED
    assert store.cached_verdict("p1", "c1", "z3", "4.17") is None
    assert len(store.pending_attempts(0, "train", "z3", "4.17")) == 3


def test_verdict_round_trips_with_counterexample(store):
    v = Verdict(Status.REJECTED, "z3", "4.16", 0.5, "counterexample", "f(1) = 2", {"x": 1})
    store.put_verdicts([("p1", "cx", v)])
    assert store.cached_verdict("p1", "cx", "z3", "4.16") == v


def test_verified_problems_and_counts(store):
    store.add_attempts([attempt(0, "c1"), attempt(1, "c1"), attempt(2, "c2"), attempt(0, "c3", round=1)])
    store.put_verdicts([("p1", "c1", verdict()), ("p1", "c2", verdict(Status.REJECTED)), ("p1", "c3", verdict())])
    assert store.verified_problem_ids("z3", "4.16") == {"p1"}
    assert store.verified_problem_ids("z3", "4.16", purposes=("heldout",)) == set()
    assert store.verified_counts("z3", "4.16", max_round=0) == {("p1", "c1"): 2}
    assert store.verified_counts("z3", "4.16") == {("p1", "c1"): 2, ("p1", "c3"): 1}


def test_dataset_accumulates_and_keeps_the_first_row_per_canonical_form(store):
    first = DatasetRow(problem_id="p1", candidate="a", canonical_hash="c1", origin="verified", round=0)
    assert store.add_dataset_rows([first]) == 1
    again = DatasetRow(problem_id="p1", candidate="a'", canonical_hash="c1", origin="verified", round=1)
    other = DatasetRow(problem_id="p1", candidate="b", canonical_hash="c2", origin="verified", round=1)
    assert store.add_dataset_rows([again, other]) == 1
    rows = store.dataset_rows()
    assert [(r.candidate, r.round) for r in rows] == [("a", 0), ("b", 1)]
    assert [r.candidate for r in store.dataset_rows(max_round=0)] == ["a"]
    store.set_training_rows(1, [rows[1].id, rows[0].id, rows[1].id])
    assert store.training_row_ids(1) == sorted([rows[0].id, rows[1].id])
    store.set_training_rows(1, [rows[0].id])
    assert store.training_row_ids(1) == [rows[0].id]


def test_finish_round_writes_metrics_checkpoint_and_phase_together(store):
    store.start_round(0, "grammar")
    store.start_round(0, "ignored: the round exists")
    assert store.round_row(0)["policy"] == "grammar" and store.round_row(0)["phase"] == "sample"
    with pytest.raises(ValueError):
        store.finish_round(0, kept=True, gate_reason="x", checkpoint="ck", metrics={"a": 1.0, "b": "not a number"})
    assert store.metrics(0) == {} and store.checkpoint_rows() == [] and store.round_row(0)["phase"] == "sample"
    store.finish_round(0, kept=False, gate_reason="worse", checkpoint="ck", metrics={"heldout_pass@8": 0.5})
    assert store.metrics(0) == {"heldout_pass@8": 0.5}
    assert store.all_metrics() == {0: {"heldout_pass@8": 0.5}}
    row = store.round_row(0)
    assert (row["phase"], row["kept"], row["gate_reason"], row["checkpoint"]) == ("done", 0, "worse", "ck")
    assert [(c["round"], c["path"], c["kept"]) for c in store.checkpoint_rows()] == [(0, "ck", 0)]


def test_reopened_store_sees_committed_data(store):
    store.add_attempts([attempt(0)])
    run_dir = store.run_dir
    store.close()
    with Store.open(run_dir) as again:
        assert again.attempt_keys(0, "train") == {("p1", 0)}
        assert [p["id"] for p in again.problem_rows()] == ["p1", "p2"]
        assert [p["id"] for p in again.problem_rows("heldout")] == ["p2"]


def test_verified_problems_can_leave_out_a_generator(store):
    grammar = attempt(0, "c1")
    model = AttemptRow(**{**attempt(1, "c2", problem="p2").__dict__, "generator": "hf:round-0"})
    store.add_attempts([grammar, model])
    store.put_verdicts([("p1", "c1", verdict()), ("p2", "c2", verdict())])
    assert store.verified_problem_ids("z3", "4.16") == {"p1", "p2"}
    assert store.verified_problem_ids("z3", "4.16", exclude_generators=("grammar",)) == {"p2"}
