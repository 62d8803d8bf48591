"""The run store: one SQLite file per run directory that records everything a run does.

The schema below is a contract with the report and export code: tables and columns may be
added by new migration steps, never renamed or dropped. Every batch (the attempts of a
sampling batch, the verdicts of a check batch, the dataset additions of a round, a round's
metrics) is written in one transaction, so a run killed at any moment leaves a consistent
store that `proofloop run --resume` continues from.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from proofloop.errors import RunDirError
from proofloop.types import Problem, Status, Verdict

log = logging.getLogger(__name__)

STORE_FILE = "store.sqlite"
CONFIG_FILE = "config.json"

# An attempt's verdict: the one stored for its (problem, canonical form) by one checker version
# (two parameters: checker, checker_version). Verdicts are keyed by canonical form, so every
# attempt that writes the same candidate shares one check.
_VERDICT_OF_ATTEMPT = (
    "JOIN verdicts v ON v.problem_id = a.problem_id AND v.canonical_hash = a.canonical_hash "
    "AND v.checker = ? AND v.checker_version = ?"
)

# Forward-only migrations: step i brings the store from schema version i to i + 1.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE problems(id TEXT PRIMARY KEY, prover TEXT NOT NULL, split TEXT NOT NULL,
        source TEXT, text TEXT NOT NULL, text_hash TEXT NOT NULL, reference TEXT,
        prompt TEXT NOT NULL);
    CREATE TABLE rounds(round INTEGER PRIMARY KEY, policy TEXT NOT NULL, phase TEXT NOT NULL,
        checkpoint TEXT, kept INTEGER, gate_reason TEXT, started_at REAL, finished_at REAL);
    CREATE TABLE attempts(id INTEGER PRIMARY KEY, round INTEGER NOT NULL, purpose TEXT NOT NULL,
        problem_id TEXT NOT NULL REFERENCES problems(id), sample_idx INTEGER NOT NULL,
        completion TEXT NOT NULL, candidate TEXT NOT NULL, candidate_hash TEXT NOT NULL,
        canonical_hash TEXT NOT NULL, generator TEXT NOT NULL, params TEXT NOT NULL,
        num_tokens INTEGER, logprob REAL, created_at REAL,
        UNIQUE(round, purpose, problem_id, sample_idx));
    CREATE TABLE verdicts(problem_id TEXT NOT NULL, canonical_hash TEXT NOT NULL,
        checker TEXT NOT NULL, checker_version TEXT NOT NULL, status TEXT NOT NULL,
        reason TEXT, message TEXT, counterexample TEXT, seconds REAL, created_at REAL,
        PRIMARY KEY(problem_id, canonical_hash, checker, checker_version));
    CREATE TABLE dataset(id INTEGER PRIMARY KEY, problem_id TEXT NOT NULL REFERENCES problems(id),
        candidate TEXT NOT NULL, canonical_hash TEXT NOT NULL, origin TEXT NOT NULL,
        round INTEGER NOT NULL, attempt_id INTEGER REFERENCES attempts(id), generator TEXT,
        checker TEXT, checker_version TEXT, verdict_seconds REAL,
        UNIQUE(problem_id, canonical_hash));
    CREATE TABLE training_rows(round INTEGER NOT NULL,
        dataset_id INTEGER NOT NULL REFERENCES dataset(id), PRIMARY KEY(round, dataset_id));
    CREATE TABLE checkpoints(round INTEGER PRIMARY KEY, path TEXT NOT NULL, kept INTEGER NOT NULL,
        created_at REAL);
    CREATE TABLE metrics(round INTEGER NOT NULL, key TEXT NOT NULL, value REAL,
        PRIMARY KEY(round, key));
    CREATE INDEX attempts_by_round ON attempts(round, purpose);
    """,
    # Per-phase counters of a round in progress (seconds, items), summed across resumes; the
    # loop folds them into the round's metrics when the round ends.
    """
    CREATE TABLE round_stats(round INTEGER NOT NULL, key TEXT NOT NULL, value REAL NOT NULL,
        PRIMARY KEY(round, key));
    """,
    # How a round spread its train samples over the problems (frontier sampling).
    """
    CREATE TABLE allocations(round INTEGER NOT NULL, problem_id TEXT NOT NULL, samples INTEGER NOT NULL,
        reason TEXT NOT NULL, PRIMARY KEY(round, problem_id));
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

# What an attempt was sampled for: train problems (the policy), counterexample retries of
# train problems, held-out and probe evaluation of the round's model, and the grammar
# sampler's held-out baseline (round 0).
PURPOSES = ("train", "retry", "heldout", "probe", "baseline")


def _proofloop_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("proofloop")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class AttemptRow:
    """One sampled candidate, as the loop hands it to the store."""

    round: int
    purpose: str
    problem_id: str
    sample_idx: int
    completion: str
    candidate: str
    candidate_hash: str
    canonical_hash: str
    generator: str
    params: Mapping[str, Any]
    num_tokens: int | None = None
    logprob: float | None = None


@dataclass(frozen=True)
class DatasetRow:
    """One verified (or reference) solution in the accumulated training data."""

    problem_id: str
    candidate: str
    canonical_hash: str
    origin: str
    round: int
    attempt_id: int | None = None
    generator: str | None = None
    checker: str | None = None
    checker_version: str | None = None
    verdict_seconds: float | None = None
    id: int | None = None


class Store:
    """A run's SQLite store. Use `Store.create` for a new run and `Store.open` to resume."""

    def __init__(self, run_dir: Path, conn: sqlite3.Connection):
        self.run_dir = Path(run_dir)
        self.conn = conn

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def create(cls, run_dir: Path, config: Any, *, run_id: str | None = None) -> "Store":
        """Make a new run directory with a fresh store and the resolved config saved in it."""
        run_dir = Path(run_dir)
        if run_dir.exists() and (not run_dir.is_dir() or any(run_dir.iterdir())):
            raise RunDirError(f"{run_dir} already exists and is not empty; choose another run name or --resume it")
        run_dir.mkdir(parents=True, exist_ok=True)
        conn = _connect(run_dir / STORE_FILE)
        store = cls(run_dir, conn)
        store._migrate(0)
        with store.transaction():
            store._set_meta_many(
                {"proofloop_version": _proofloop_version(), "run_id": run_id or run_dir.name, "created_at": repr(time.time())}
            )
        store.save_config(config)
        return store

    @classmethod
    def open(cls, run_dir: Path) -> "Store":
        """Open an existing run's store, migrating it forward if it is from an older schema."""
        run_dir = Path(run_dir)
        path = run_dir / STORE_FILE
        if not path.is_file():
            raise RunDirError(f"{run_dir} is not a proofloop run (no {STORE_FILE})")
        conn = _connect(path)
        store = cls(run_dir, conn)
        version = store._schema_version()
        if version > SCHEMA_VERSION:
            conn.close()
            raise RunDirError(
                f"{run_dir} was written by proofloop {store_meta_version(path)} with store schema {version}; "
                f"this proofloop {_proofloop_version()} reads schema <= {SCHEMA_VERSION}"
            )
        store._migrate(version)
        return store

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: committed on success, rolled back on any exception."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _schema_version(self) -> int:
        try:
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as e:
            self.conn.close()
            raise RunDirError(f"{self.run_dir} is not a proofloop run ({STORE_FILE}: {e})") from None
        if row is None:
            self.conn.close()
            raise RunDirError(f"{self.run_dir} is not a proofloop run ({STORE_FILE} has no schema_version)")
        return int(row[0])

    def _migrate(self, current: int) -> None:
        for step in range(current, SCHEMA_VERSION):
            log.info("migrating %s from schema %d to %d", self.run_dir, step, step + 1)
            # executescript commits on its own, so the step and its version bump share one script.
            self.conn.executescript(
                "BEGIN;\n" + MIGRATIONS[step] + "\nINSERT OR REPLACE INTO meta(key, value) "
                f"VALUES ('schema_version', '{step + 1}');\nCOMMIT;"
            )

    def _insert_new(self, sql: str, values: list[tuple]) -> int:
        """Run an INSERT OR IGNORE over `values` in one transaction; how many rows were new."""
        with self.transaction():
            before = self.conn.total_changes
            self.conn.executemany(sql, values)
            return self.conn.total_changes - before

    # -- meta and config -----------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def meta_items(self) -> dict[str, str]:
        """Every meta key and value but the saved config (run id, versions, schema)."""
        return {r[0]: r[1] for r in self.conn.execute("SELECT key, value FROM meta ORDER BY key") if r[0] != "config"}

    def _set_meta_many(self, values: Mapping[str, str]) -> None:
        self.conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", list(values.items()))

    def save_config(self, config: Any) -> None:
        """Save the resolved config in the store and as RUN_DIR/config.json (written atomically)."""
        config_json = _config_json(config)
        with self.transaction():
            self._set_meta_many({"config": config_json})
        tmp = self.run_dir / (CONFIG_FILE + ".tmp")
        tmp.write_text(config_json + "\n")
        tmp.replace(self.run_dir / CONFIG_FILE)

    def config_dict(self) -> dict[str, Any]:
        """The resolved config the run was created with."""
        raw = self.meta("config")
        if raw is None:
            raise RunDirError(f"{self.run_dir}: the store has no saved config")
        return json.loads(raw)

    # -- problems ------------------------------------------------------------------------

    def add_problems(self, problems: Sequence[Problem], prompts: Sequence[str]) -> None:
        """Record the run's problems and their prompts (idempotent)."""
        rows = [
            (p.id, p.prover, p.split, p.source, p.text, p.text_hash, p.reference, prompt)
            for p, prompt in zip(problems, prompts, strict=True)
        ]
        with self.transaction():
            self.conn.executemany(
                "INSERT OR IGNORE INTO problems(id, prover, split, source, text, text_hash, reference, prompt) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def problem_rows(self, split: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM problems" + (" WHERE split = ?" if split else "") + " ORDER BY rowid"
        return [dict(r) for r in self.conn.execute(sql, (split,) if split else ())]

    # -- rounds --------------------------------------------------------------------------

    def start_round(self, round: int, policy: str) -> None:
        """Create the round's row (phase "sample") unless it already exists."""
        with self.transaction():
            self.conn.execute(
                "INSERT OR IGNORE INTO rounds(round, policy, phase, started_at) VALUES (?, ?, 'sample', ?)",
                (round, policy, time.time()),
            )

    def set_phase(self, round: int, phase: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE rounds SET phase = ? WHERE round = ?", (phase, round))

    def round_row(self, round: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM rounds WHERE round = ?", (round,)).fetchone()
        return None if row is None else dict(row)

    def round_rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM rounds ORDER BY round")]

    def finish_round(
        self,
        round: int,
        *,
        kept: bool,
        gate_reason: str,
        checkpoint: str | None,
        metrics: Mapping[str, float],
    ) -> None:
        """Write a round's metrics, gate decision and checkpoint state in one transaction."""
        with self.transaction():
            self.conn.executemany(
                "INSERT OR REPLACE INTO metrics(round, key, value) VALUES (?, ?, ?)",
                [(round, k, None if v is None else float(v)) for k, v in metrics.items()],
            )
            if checkpoint is not None:
                self.conn.execute(
                    "INSERT OR REPLACE INTO checkpoints(round, path, kept, created_at) VALUES (?, ?, ?, ?)",
                    (round, checkpoint, int(kept), time.time()),
                )
            self.conn.execute(
                "UPDATE rounds SET phase = 'done', kept = ?, gate_reason = ?, checkpoint = ?, finished_at = ? "
                "WHERE round = ?",
                (int(kept), gate_reason, checkpoint, time.time(), round),
            )

    # -- attempts ------------------------------------------------------------------------

    def add_attempts(self, rows: Iterable[AttemptRow]) -> int:
        """Insert a sampling batch in one transaction; rows already stored are left as they are."""
        now = time.time()
        values = [
            (
                a.round, a.purpose, a.problem_id, a.sample_idx, a.completion, a.candidate, a.candidate_hash,
                a.canonical_hash, a.generator, json.dumps(dict(a.params), sort_keys=True), a.num_tokens,
                a.logprob, now,
            )
            for a in rows
        ]
        return self._insert_new(
            "INSERT OR IGNORE INTO attempts(round, purpose, problem_id, sample_idx, completion, candidate, "
            "candidate_hash, canonical_hash, generator, params, num_tokens, logprob, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )

    def attempt_keys(self, round: int, purpose: str) -> set[tuple[str, int]]:
        """The (problem_id, sample_idx) pairs already sampled for this round and purpose."""
        cur = self.conn.execute(
            "SELECT problem_id, sample_idx FROM attempts WHERE round = ? AND purpose = ?", (round, purpose)
        )
        return {(r[0], r[1]) for r in cur}

    def attempts(self, round: int, purpose: str, checker: str | None = None, version: str | None = None) -> list[dict]:
        """A round's attempts for one purpose, each joined with its verdict (status None if unchecked)."""
        cur = self.conn.execute(
            "SELECT a.*, v.status, v.reason, v.counterexample, v.seconds AS verdict_seconds, "
            f"v.checker, v.checker_version FROM attempts a LEFT {_VERDICT_OF_ATTEMPT} "
            "WHERE a.round = ? AND a.purpose = ? ORDER BY a.problem_id, a.sample_idx",
            (checker, version, round, purpose),
        )
        return [dict(r) for r in cur]

    def pending_attempts(self, round: int, purpose: str, checker: str, version: str) -> list[dict]:
        """Attempts whose (problem, canonical candidate) has no verdict from this checker version yet."""
        return [a for a in self.attempts(round, purpose, checker, version) if a["status"] is None]

    def attempt_texts(self) -> list[tuple[int, str, str, str]]:
        """(id, problem_id, candidate, canonical_hash) of every attempt, for re-keying."""
        return [tuple(r) for r in self.conn.execute("SELECT id, problem_id, candidate, canonical_hash FROM attempts")]

    def rekey_attempts(self, updates: Sequence[tuple[int, str]]) -> None:
        """Give attempts (id, canonical_hash) new verdict keys (the canonical form changed)."""
        with self.transaction():
            self.conn.executemany("UPDATE attempts SET canonical_hash = ? WHERE id = ?", [(h, i) for i, h in updates])

    def unchecked_keys(self, checker: str, version: str) -> list[tuple[str, str, str]]:
        """(problem_id, canonical_hash, a candidate) of every attempt key with no verdict from this
        checker version, all rounds and purposes."""
        cur = self.conn.execute(
            "SELECT a.problem_id, a.canonical_hash, MIN(a.candidate) FROM attempts a LEFT JOIN verdicts v "
            "ON v.problem_id = a.problem_id AND v.canonical_hash = a.canonical_hash AND v.checker = ? "
            "AND v.checker_version = ? WHERE v.status IS NULL GROUP BY a.problem_id, a.canonical_hash",
            (checker, version),
        )
        return [tuple(r) for r in cur]

    def other_versions(self, checker: str, version: str) -> set[str]:
        """Checker versions, other than this one, that verdicts or dataset rows of the run carry."""
        cur = self.conn.execute(
            "SELECT checker_version FROM verdicts WHERE checker = ? AND checker_version != ? UNION "
            "SELECT checker_version FROM dataset WHERE checker_version IS NOT NULL AND checker_version != ?",
            (checker, version, version),
        )
        return {r[0] for r in cur}

    def reverify_dataset_rows(self, updates: Sequence[tuple[int, str, Verdict]]) -> int:
        """Dataset rows (id, canonical_hash, verdict) verified again under `verdict.checker_version`;
        a row whose new key another row already holds keeps its old version. Returns how many moved."""
        moved = 0
        with self.transaction():
            for row_id, chash, v in updates:
                try:
                    self.conn.execute(
                        "UPDATE dataset SET canonical_hash = ?, checker = ?, checker_version = ?, verdict_seconds = ? "
                        "WHERE id = ?",
                        (chash, v.checker, v.checker_version, v.seconds, row_id),
                    )
                    moved += 1
                except sqlite3.IntegrityError:
                    continue
        return moved

    # -- verdicts (also the cache) ---------------------------------------------------------

    def cached_verdict(self, problem_id: str, canonical_hash: str, checker: str, version: str) -> Verdict | None:
        """The stored verdict for this (problem, canonical candidate, checker version), if any."""
        row = self.conn.execute(
            "SELECT * FROM verdicts WHERE problem_id = ? AND canonical_hash = ? AND checker = ? "
            "AND checker_version = ?",
            (problem_id, canonical_hash, checker, version),
        ).fetchone()
        return None if row is None else _verdict_of_row(row)

    def put_verdicts(self, items: Iterable[tuple[str, str, Verdict]]) -> int:
        """Store a check batch of (problem_id, canonical_hash, verdict) in one transaction."""
        now = time.time()
        values = [
            (
                pid, chash, v.checker, v.checker_version, v.status.value, v.reason, v.message,
                None if v.counterexample is None else json.dumps(v.counterexample, sort_keys=True, default=str),
                v.seconds, now,
            )
            for pid, chash, v in items
        ]
        return self._insert_new(
            "INSERT OR IGNORE INTO verdicts(problem_id, canonical_hash, checker, checker_version, status, "
            "reason, message, counterexample, seconds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )

    def verified_problem_ids(
        self,
        checker: str,
        version: str,
        *,
        purposes: Sequence[str] = ("train", "retry"),
        min_round: int | None = None,
        max_round: int | None = None,
        exclude_generators: Sequence[str] = (),
    ) -> set[str]:
        """Problems with a verified attempt of these purposes in rounds [min_round, max_round]."""
        cur = self._verified_attempts(
            "DISTINCT a.problem_id", checker, version, purposes, min_round, max_round, exclude_generators
        )
        return {r[0] for r in cur}

    def verified_counts(
        self, checker: str, version: str, *, purposes: Sequence[str] = ("train", "retry"), max_round: int | None = None
    ) -> dict[tuple[str, str], int]:
        """How many verified attempts each (problem, canonical form) has, up to max_round."""
        cur = self._verified_attempts(
            "a.problem_id, a.canonical_hash, COUNT(*)", checker, version, purposes, None, max_round, (),
            group_by=" GROUP BY a.problem_id, a.canonical_hash",
        )
        return {(r[0], r[1]): r[2] for r in cur}

    def _verified_attempts(
        self, columns: str, checker: str, version: str, purposes: Sequence[str], min_round: int | None,
        max_round: int | None, exclude_generators: Sequence[str], group_by: str = "",
    ) -> sqlite3.Cursor:
        """SELECT `columns` over the verified attempts of these purposes in rounds [min_round, max_round]."""
        marks = ", ".join("?" for _ in purposes)
        sql = (
            f"SELECT {columns} FROM attempts a {_VERDICT_OF_ATTEMPT} "
            f"WHERE v.status = ? AND a.purpose IN ({marks}) AND a.round >= ? AND a.round <= ?"
        )
        if exclude_generators:
            sql += f" AND a.generator NOT IN ({', '.join('?' for _ in exclude_generators)})"
        lo = -(2**62) if min_round is None else min_round
        hi = 2**62 if max_round is None else max_round
        args = [checker, version, Status.VERIFIED.value, *purposes, lo, hi, *exclude_generators]
        return self.conn.execute(sql + group_by, args)

    def outcomes(
        self, checker: str, version: str, *, purposes: Sequence[str] = ("train", "retry"), max_round: int | None = None
    ) -> dict[tuple[int, str], tuple[int, int]]:
        """(round, problem) -> (attempts, verified attempts) for these purposes, up to max_round."""
        marks = ", ".join("?" for _ in purposes)
        hi = 2**62 if max_round is None else max_round
        cur = self.conn.execute(
            "SELECT a.round, a.problem_id, COUNT(*), SUM(CASE WHEN v.status = ? THEN 1 ELSE 0 END) "
            "FROM attempts a LEFT JOIN verdicts v ON v.problem_id = a.problem_id "
            "AND v.canonical_hash = a.canonical_hash AND v.checker = ? AND v.checker_version = ? "
            f"WHERE a.purpose IN ({marks}) AND a.round <= ? GROUP BY a.round, a.problem_id",
            [Status.VERIFIED.value, checker, version, *purposes, hi],
        )
        return {(r[0], r[1]): (r[2], r[3] or 0) for r in cur}

    # -- allocations (frontier sampling) ---------------------------------------------------

    def set_allocation(self, round: int, rows: Iterable[tuple[str, int, str]]) -> None:
        """Record a round's (problem, samples, reason) plan, replacing any earlier plan of that round."""
        with self.transaction():
            self.conn.execute("DELETE FROM allocations WHERE round = ?", (round,))
            self.conn.executemany(
                "INSERT INTO allocations(round, problem_id, samples, reason) VALUES (?, ?, ?, ?)",
                [(round, pid, n, reason) for pid, n, reason in rows],
            )

    def allocation(self, round: int) -> dict[str, tuple[int, str]]:
        """A round's recorded plan: problem -> (samples, reason); {} when none was recorded."""
        cur = self.conn.execute("SELECT problem_id, samples, reason FROM allocations WHERE round = ?", (round,))
        return {r[0]: (r[1], r[2]) for r in cur}

    # -- dataset ---------------------------------------------------------------------------

    def add_dataset_rows(self, rows: Iterable[DatasetRow]) -> int:
        """Accumulate rows in one transaction; a (problem, canonical form) already present is kept."""
        values = [
            (
                d.problem_id, d.candidate, d.canonical_hash, d.origin, d.round, d.attempt_id, d.generator,
                d.checker, d.checker_version, d.verdict_seconds,
            )
            for d in rows
        ]
        return self._insert_new(
            "INSERT OR IGNORE INTO dataset(problem_id, candidate, canonical_hash, origin, round, attempt_id, "
            "generator, checker, checker_version, verdict_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )

    def dataset_rows(self, *, max_round: int | None = None, version: str | None = None) -> list[DatasetRow]:
        """The accumulated dataset (rows added up to max_round; with `version`, only rows verified
        by that checker version), in insertion order."""
        clauses, args = [], []
        if max_round is not None:
            clauses.append("round <= ?")
            args.append(max_round)
        if version is not None:
            clauses.append("checker_version = ?")
            args.append(version)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        cur = self.conn.execute(f"SELECT * FROM dataset{where} ORDER BY id", args)
        return [DatasetRow(**{k: r[k] for k in r.keys()}) for r in cur]

    def dataset_counts(self, by: Literal["origin", "round"]) -> dict[Any, int]:
        """How many dataset rows there are per origin or per round."""
        column = {"origin": "origin", "round": "round"}[by]
        return dict(self.conn.execute(f"SELECT {column}, COUNT(*) FROM dataset GROUP BY {column} ORDER BY {column}"))

    def verified_examples(self, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` verified dataset rows with their problem's source, newest rounds first."""
        cur = self.conn.execute(
            "SELECT d.problem_id, d.round, d.candidate, d.generator, d.checker, d.checker_version, p.source "
            "FROM dataset d JOIN problems p ON p.id = d.problem_id WHERE d.origin = 'verified' "
            "ORDER BY d.round DESC, d.id LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in cur]

    def dataset_with_problems(
        self,
        *,
        rounds: Sequence[int] = (),
        prover: str | None = None,
        splits: Sequence[str] = (),
        origin: str | None = None,
    ) -> list[dict[str, Any]]:
        """Dataset rows joined with their problems, in dataset order; an empty filter means "all"."""
        filters = {"d.round": rounds, "p.prover": [prover] if prover else [], "p.split": splits,
                   "d.origin": [origin] if origin else []}
        clauses = [f"{column} IN ({','.join('?' * len(values))})" for column, values in filters.items() if values]
        args = [value for values in filters.values() for value in values]
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        cur = self.conn.execute(
            "SELECT d.id AS dataset_id, d.problem_id, d.candidate, d.canonical_hash, d.origin, d.round, "
            "d.attempt_id, d.generator, d.checker, d.checker_version, d.verdict_seconds, p.prover, p.split, "
            f"p.source, p.text, p.text_hash, p.prompt FROM dataset d JOIN problems p ON p.id = d.problem_id{where} "
            "ORDER BY d.id",
            args,
        )
        return [dict(r) for r in cur]

    def set_training_rows(self, round: int, dataset_ids: Sequence[int]) -> None:
        """Record what a round trained on (replacing an earlier, interrupted attempt's record)."""
        dataset_ids = list(dict.fromkeys(dataset_ids))
        with self.transaction():
            self.conn.execute("DELETE FROM training_rows WHERE round = ?", (round,))
            self.conn.executemany(
                "INSERT INTO training_rows(round, dataset_id) VALUES (?, ?)", [(round, i) for i in dataset_ids]
            )

    def training_row_ids(self, round: int) -> list[int]:
        cur = self.conn.execute("SELECT dataset_id FROM training_rows WHERE round = ? ORDER BY dataset_id", (round,))
        return [r[0] for r in cur]

    # -- per-phase counters ---------------------------------------------------------------

    def add_round_stats(self, round: int, values: Mapping[str, float]) -> None:
        """Add to a round's counters (seconds per phase, items processed) in one transaction."""
        with self.transaction():
            self.conn.executemany(
                "INSERT INTO round_stats(round, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT(round, key) DO UPDATE SET value = value + excluded.value",
                [(round, k, float(v)) for k, v in values.items()],
            )

    def round_stats(self, round: int) -> dict[str, float]:
        cur = self.conn.execute("SELECT key, value FROM round_stats WHERE round = ? ORDER BY key", (round,))
        return {r[0]: r[1] for r in cur}

    # -- checkpoints and metrics -------------------------------------------------------------

    def checkpoint_rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM checkpoints ORDER BY round")]

    def metrics(self, round: int) -> dict[str, float]:
        cur = self.conn.execute("SELECT key, value FROM metrics WHERE round = ? ORDER BY key", (round,))
        return {r[0]: r[1] for r in cur}

    def all_metrics(self) -> dict[int, dict[str, float]]:
        out: dict[int, dict[str, float]] = {}
        for r in self.conn.execute("SELECT round, key, value FROM metrics ORDER BY round, key"):
            out.setdefault(r[0], {})[r[1]] = r[2]
        return out


def store_meta_version(path: Path) -> str:
    """The proofloop version recorded in a store file ('unknown' if it has none)."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'proofloop_version'").fetchone()
    except sqlite3.DatabaseError:
        row = None
    finally:
        conn.close()
    return row[0] if row else "unknown"


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (see Store.transaction).
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # NORMAL keeps committed transactions across a killed process (not across power loss).
        conn.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as e:
        conn.close()
        raise RunDirError(f"{path.parent} is not a proofloop run ({path.name}: {e})") from None
    return conn


def _config_json(config: Any) -> str:
    if hasattr(config, "model_dump"):
        config = config.model_dump(mode="json", by_alias=True)
    return json.dumps(config, indent=2, sort_keys=True, default=str)


def _verdict_of_row(row: sqlite3.Row) -> Verdict:
    return Verdict(
        status=Status(row["status"]),
        checker=row["checker"],
        checker_version=row["checker_version"],
        seconds=row["seconds"] or 0.0,
        reason=row["reason"] or "",
        message=row["message"] or "",
        counterexample=None if row["counterexample"] is None else json.loads(row["counterexample"]),
    )
