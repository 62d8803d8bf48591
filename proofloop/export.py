"""Export a run's verified (prompt, candidate) pairs as JSONL, Parquet or a Hugging Face dataset.

Every row carries its provenance and the full problem text exactly as the checker saw it, so
anyone can re-check a row without the run directory:

    problem = get_prover(row["prover"]).from_text(row["problem"], id=row["problem_id"])
    verdict = get_prover(row["prover"]).check(problem, row["candidate"], CheckLimits())
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from proofloop.errors import ProofloopError
from proofloop.prover import get_prover, rules_of
from proofloop.store import Store
from proofloop.types import sha256

log = logging.getLogger(__name__)


class ExportFormat(str, Enum):
    JSONL = "jsonl"
    PARQUET = "parquet"
    HF = "hf"


# Column -> arrow type name. The order is the column order of every format.
COLUMNS: dict[str, str] = {
    "problem_id": "string",
    "problem": "string",
    "prompt": "string",
    # What a model writes after `prompt` to give `candidate`: the pair (prompt, completion) is
    # the prompt-completion format of SFT trainers such as TRL's.
    "completion": "string",
    "candidate": "string",
    "round": "int64",
    "origin": "string",
    "generator": "string",
    "checker": "string",
    "checker_version": "string",
    "verdict_seconds": "float64",
    "problem_hash": "string",
    "candidate_hash": "string",
    "canonical_hash": "string",
    "prover": "string",
    "source": "string",
    "split": "string",
    "attempt_id": "int64",
    "dataset_id": "int64",
    "run_id": "string",
    # The parts of a proof problem, where the prover has them (Lean: the header, the statement up
    # to `:=`, the proof the checker elaborated after it); null otherwise.
    "header": "string",
    "statement": "string",
    "proof": "string",
}

SPLIT_NAMES = ("train", "test")


@dataclass(frozen=True)
class ExportFilter:
    """Which dataset rows to export; an empty tuple or None means "all"."""

    rounds: tuple[int, ...] = ()
    prover: str | None = None
    splits: tuple[str, ...] = ()
    origin: str | None = None

    def describe(self) -> str:
        parts = []
        if self.rounds:
            parts.append("round in " + ",".join(map(str, self.rounds)))
        if self.prover:
            parts.append(f"prover={self.prover}")
        if self.splits:
            parts.append("split in " + ",".join(self.splits))
        if self.origin:
            parts.append(f"origin={self.origin}")
        return ", ".join(parts) or "no filters"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: path per part ("all", or "train"/"test") and row/problem counts."""

    paths: dict[str, Path]
    rows: dict[str, int]
    problems: dict[str, int]
    stale: int = 0  # rows verified under other checker rules, left out


def arrow_schema():
    """The pyarrow schema of an exported table (nullable columns keep their type when empty)."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMNS.items()])


def export_rows(run_dir: Path, flt: ExportFilter = ExportFilter()) -> tuple[list[dict[str, Any]], int]:
    """The run's dataset rows joined with their problems, filtered, in dataset order, and how many
    rows were left out because the rules that verified them are not the current ones (their
    prover's `rules_version`; `proofloop run --resume` checks such rows again)."""
    with Store.open(run_dir) as store:
        run_id = store.meta("run_id") or Path(run_dir).name
        rows = store.dataset_with_problems(
            rounds=flt.rounds, prover=flt.prover, splits=flt.splits, origin=flt.origin
        )
    current = {name: get_prover(name).rules_version() for name in {r["prover"] for r in rows}}
    fresh = [r for r in rows if rules_of(r["checker_version"] or "") == current[r["prover"]]]
    return [_row(r, run_id) for r in fresh], len(rows) - len(fresh)


def _row(r: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    if sha256(r["text"]) != r["text_hash"]:
        # The row's problem text must be exactly what was checked; a mismatch means a damaged store.
        raise ProofloopError(f"problem {r['problem_id']!r}: stored text does not match its hash; the store is damaged")
    prover = get_prover(r["prover"])
    parts = prover.parts(prover.from_text(r["text"], id=r["problem_id"]), r["candidate"])
    return {
        "problem_id": r["problem_id"],
        "problem": r["text"],
        "prompt": r["prompt"],
        "completion": get_prover(r["prover"]).target(r["prompt"], r["candidate"]),
        "candidate": r["candidate"],
        "round": r["round"],
        "origin": r["origin"],
        "generator": r["generator"],
        "checker": r["checker"],
        "checker_version": r["checker_version"],
        "verdict_seconds": r["verdict_seconds"],
        "problem_hash": r["text_hash"],
        "candidate_hash": sha256(r["candidate"]),
        "canonical_hash": r["canonical_hash"],
        "prover": r["prover"],
        "source": r["source"],
        "split": r["split"],
        "attempt_id": r["attempt_id"],
        "dataset_id": r["dataset_id"],
        "run_id": run_id,
        **{key: parts.get(key) for key in ("header", "statement", "proof")},
    }


def split_by_problem(rows: Sequence[dict[str, Any]], test_fraction: float, seed: int) -> dict[str, list[dict[str, Any]]]:
    """Split rows into "train" and "test" by problem: every problem's rows land in one part.

    The test part gets round(test_fraction * problems) problems, at least one and leaving at
    least one for train; which ones is decided by a seeded shuffle of the sorted problem ids.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ProofloopError(f"--eval-split-fraction must be between 0 and 1 exclusive (got {test_fraction})")
    problems = sorted({r["problem_id"] for r in rows})
    if len(problems) < 2:
        raise ProofloopError(f"cannot split rows of {len(problems)} problem(s) by problem; export without --eval-split-fraction")
    random.Random(seed).shuffle(problems)
    n_test = min(max(1, round(test_fraction * len(problems))), len(problems) - 1)
    test = set(problems[:n_test])
    return {
        "train": [r for r in rows if r["problem_id"] not in test],
        "test": [r for r in rows if r["problem_id"] in test],
    }


def _check_out(out: Path, force: bool) -> None:
    if out.exists() or out.is_symlink():
        if not force:
            raise ProofloopError(f"{out} already exists; choose another --out or pass --force to replace it")
        if out.is_dir() and not out.is_symlink():
            shutil.rmtree(out)
        else:
            out.unlink()


def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def write_jsonl(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """One JSON object per line, columns in the export order."""
    tmp = _tmp_path(path)
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({k: row[k] for k in COLUMNS}, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def write_parquet(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """A Parquet file with the export schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tmp = _tmp_path(path)
    pq.write_table(pa.Table.from_pylist(list(rows), schema=arrow_schema()), tmp)
    tmp.replace(path)
    return path


def _hf_dataset(rows: Sequence[dict[str, Any]]):
    import datasets

    features = datasets.Features.from_arrow_schema(arrow_schema())
    return datasets.Dataset.from_list([{k: r[k] for k in COLUMNS} for r in rows], features=features)


def write_hf(parts: Mapping[str, Sequence[dict[str, Any]]], path: Path) -> Path:
    """A Dataset (one part) or a DatasetDict (train/test) saved with save_to_disk."""
    import datasets

    tmp = _tmp_path(path)
    if tmp.exists():
        shutil.rmtree(tmp)
    if set(parts) == {"all"}:
        _hf_dataset(parts["all"]).save_to_disk(str(tmp))
    else:
        datasets.DatasetDict({name: _hf_dataset(rows) for name, rows in parts.items()}).save_to_disk(str(tmp))
    tmp.replace(path)
    return path


def export_run(
    run_dir: Path,
    fmt: ExportFormat | str,
    out: Path,
    flt: ExportFilter = ExportFilter(),
    *,
    eval_split_fraction: float | None = None,
    seed: int = 0,
    force: bool = False,
) -> ExportResult:
    """Export a run's dataset rows to `out`.

    Without a split, `out` is a .jsonl/.parquet file or, for hf, a dataset directory. With
    `eval_split_fraction`, `out` is a directory holding train/test parts (train.jsonl and
    test.jsonl, train.parquet and test.parquet, or a saved DatasetDict).
    """
    fmt = ExportFormat(fmt)
    out = Path(out)
    rows, stale = export_rows(run_dir, flt)
    if not rows:
        why = f"; {stale} were verified under other checker rules (`proofloop run --resume {run_dir}` checks them again)"
        raise ProofloopError(f"{run_dir}: no dataset rows match ({flt.describe()}){why if stale else ''}; nothing to export")
    parts = {"all": rows} if eval_split_fraction is None else split_by_problem(rows, eval_split_fraction, seed)
    _check_out(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt is ExportFormat.HF:
        write_hf(parts, out)
        paths = {name: out / name if name != "all" else out for name in parts}
    elif "all" in parts:
        paths = {"all": (write_jsonl if fmt is ExportFormat.JSONL else write_parquet)(rows, out)}
    else:
        out.mkdir()
        writer = write_jsonl if fmt is ExportFormat.JSONL else write_parquet
        paths = {name: writer(part, out / f"{name}.{fmt.value}") for name, part in parts.items()}
    log.info("exported %d rows of %s to %s", len(rows), run_dir, out)
    return ExportResult(
        paths=paths,
        rows={name: len(part) for name, part in parts.items()},
        problems={name: len({r["problem_id"] for r in part}) for name, part in parts.items()},
        stale=stale,
    )

