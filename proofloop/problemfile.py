"""Problem files: the JSONL problem format (any prover) and the one loader the engine calls.

A JSONL problem file holds one problem per line (schema in docs/problems.md):

    {"id": "lia/max2", "prover": "z3", "text": "(set-logic LIA)\\n...", "split": "train",
     "reference": "(define-fun ...)", "source": "problems/sygus/lia/max2.sl", "meta": {}}

`text` is the whole problem exactly as the checker reads it, so a row can be re-checked
anywhere; the prover named in `prover` parses it (`Prover.from_text`). Rows in the layout of
Lean datasets (DeepSeek-Prover's miniF2F) are read too: `header` and `statement` stand for
`text` (joined by a newline), and `proof` for `reference`.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from proofloop.errors import ProblemFormatError, ProofloopError
from proofloop.prover import Prover, get_prover, prover_names
from proofloop.types import Problem

log = logging.getLogger(__name__)

JSONL_SUFFIX = ".jsonl"


class ProblemRow(BaseModel):
    """One line of a JSONL problem file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, description="unique within the file; used in reports and datasets")
    prover: str = Field(min_length=1, description="the prover that reads `text`, e.g. 'z3' or 'lean'")
    text: str = Field(min_length=1, description="the full problem exactly as the checker sees it")
    split: Literal["train", "heldout"] = "train"
    reference: str | None = Field(default=None, description="a known solution, if any")
    source: str = Field(default="", description="where the problem came from")
    meta: dict[str, Any] = Field(default_factory=dict, description="free-form, JSON-serialisable")

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any, info: ValidationInfo) -> Any:
        """Lean dataset fields: header + statement for text, proof for reference; a prover default."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "text" not in data and "statement" in data:
            header, statement = data.pop("header", ""), data.pop("statement")
            if isinstance(header, str) and isinstance(statement, str):
                data["text"] = header + ("" if not header or header.endswith("\n") else "\n") + statement
        elif "text" not in data and "header" in data:
            raise ValueError("has `header` but no `statement` (give `text`, or `header` and `statement`)")
        if "proof" in data and "reference" not in data:
            data["reference"] = data.pop("proof")
        if "prover" not in data and info.context and info.context.get("prover"):
            data["prover"] = info.context["prover"]
        return data

    @classmethod
    def from_problem(cls, problem: Problem) -> ProblemRow:
        """The row that stores `problem` (its parsed `data` is not stored)."""
        return cls(
            id=problem.id,
            prover=problem.prover,
            text=problem.text,
            split=problem.split,
            reference=problem.reference,
            source=problem.source,
            meta=dict(problem.meta),
        )


def _describe(error: ValidationError) -> str:
    """A one-line account of the first validation error (and how many more there are)."""
    errors = error.errors(include_url=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"]
    if first["type"] == "json_invalid":
        message = f"not valid JSON ({first.get('ctx', {}).get('error', message)})"
    elif first["type"] == "model_type":
        message = "expected a JSON object with the fields id, prover, text"
    elif first["type"] == "extra_forbidden":
        message = f"unknown field (allowed: {', '.join(ProblemRow.model_fields)}; for Lean also header, statement, proof)"
    text = f"{where}: {message}" if where else message
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more problem(s) on this line)"
    return text


def _read_rows(path: Path, default_prover: str | None = None) -> Iterator[tuple[int, ProblemRow]]:
    """(line number, row) for every non-blank line; a bad line raises ProblemFormatError.

    A row without `prover` belongs to `default_prover` where one is given.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProblemFormatError(path, None, f"cannot read: {exc.strerror or exc}") from exc
    # Split on "\n" only: str.splitlines would also split inside strings at U+2028 and friends.
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProblemFormatError(path, number, f"not UTF-8 (byte {exc.start + 1} of the line)") from exc
        try:
            yield number, ProblemRow.model_validate_json(line, context={"prover": default_prover})
        except ValidationError as exc:
            raise ProblemFormatError(path, number, _describe(exc)) from exc


def _to_problem(path: Path, number: int, row: ProblemRow) -> Problem:
    try:
        prover = get_prover(row.prover)
    except ProofloopError as exc:
        raise ProblemFormatError(path, number, f"prover: {exc}") from exc
    try:
        problem = prover.from_text(row.text, id=row.id, source=row.source, split=row.split, reference=row.reference)
    except ProblemFormatError as exc:
        inner = f" (line {exc.line} of its text)" if exc.line is not None else ""
        raise ProblemFormatError(path, number, f"problem {row.id!r}{inner}: {exc.message}") from exc
    if row.meta:
        problem = dataclasses.replace(problem, meta={**problem.meta, **row.meta})
    return problem


def load_jsonl(path: Path, default_prover: str | None = None) -> list[Problem]:
    """Read a JSONL problem file; every text is parsed by the prover its row names
    (`default_prover` for a row that names none)."""
    path = Path(path)
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    for number, row in _read_rows(path, default_prover):
        if row.id in first_line:
            raise ProblemFormatError(path, number, f"id {row.id!r} already used on line {first_line[row.id]}")
        first_line[row.id] = number
        problems.append(_to_problem(path, number, row))
    log.debug("loaded %d problems from %s", len(problems), path)
    return problems


def write_jsonl(problems: Iterable[Problem], path: Path) -> None:
    """Write problems as a JSONL problem file (atomically: readers never see half a file)."""
    path = Path(path)
    seen: set[str] = set()
    lines = []
    for problem in problems:
        if problem.id in seen:
            raise ProofloopError(f"{path}: two problems share the id {problem.id!r}")
        seen.add(problem.id)
        try:
            row = ProblemRow.from_problem(problem)
        except ValidationError as exc:
            raise ProofloopError(f"{path}: problem {problem.id!r}: {_describe(exc)}") from exc
        try:
            lines.append(json.dumps(row.model_dump(mode="json"), ensure_ascii=False).encode("utf-8") + b"\n")
        except (TypeError, ValueError) as exc:
            raise ProofloopError(f"{path}: problem {problem.id!r}: meta is not JSON-serialisable ({exc})") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.writelines(lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prover_of_jsonl(path: Path) -> str:
    """The prover of a JSONL problem file; an error if it is empty or mixes provers."""
    path = Path(path)
    prover, first = None, None
    for number, row in _read_rows(path):
        if prover is None:
            prover, first = row.prover, number
        elif row.prover != prover:
            raise ProblemFormatError(
                path, number, f"prover {row.prover!r} differs from {prover!r} on line {first}; one prover per file"
            )
    if prover is None:
        raise ProblemFormatError(path, None, "no problems in file")
    return prover


def prover_for_path(path: Path) -> Prover:
    """The prover whose suffixes match `path` (a file, or a directory of such files); for a
    JSONL file, the prover its rows name."""
    path = Path(path)
    suffixes = {path.suffix} if path.is_file() else {p.suffix for p in path.rglob("*") if p.is_file()}
    for name in prover_names():
        prover = get_prover(name)
        if suffixes & set(prover.suffixes):
            return prover
    if path.suffix == JSONL_SUFFIX:
        return get_prover(prover_of_jsonl(path))
    raise ProofloopError(f"{path}: no prover reads files of this type ({', '.join(sorted(suffixes)) or 'none'})")


def _visible_files(directory: Path) -> list[Path]:
    """Files under `directory`, skipping hidden files and folders (.git, editor swap files)."""
    return sorted(
        p for p in directory.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def _load_directory(directory: Path, prover: str | None) -> list[Problem]:
    files = _visible_files(directory)
    problems: list[Problem] = []
    for path in files:
        if path.suffix == JSONL_SUFFIX:
            problems.extend(load_jsonl(path))
    suffixes = {path.suffix for path in files} - {JSONL_SUFFIX}
    for name in [prover] if prover else prover_names():
        plugin = get_prover(name)
        if suffixes & set(plugin.suffixes):
            problems.extend(plugin.load(directory))
    if not problems:
        found = ", ".join(sorted(suffixes)) or "none"
        raise ProblemFormatError(directory, None, f"no problem files found (file types here: {found})")
    return problems


def load_problems(path: Path, prover: str | None = None) -> list[Problem]:
    """Load problems from a JSONL file, a prover's file, or a directory holding either.

    `prover` restricts loading to that prover (and refuses JSONL rows for another one).
    Ids must be unique across everything loaded.
    """
    path = Path(path)
    if not path.exists():
        raise ProblemFormatError(path, None, "no such file or directory")
    if path.is_dir():
        problems = _load_directory(path, prover)
    elif path.suffix == JSONL_SUFFIX:
        problems = load_jsonl(path, default_prover=prover)
    else:
        problems = (get_prover(prover) if prover else prover_for_path(path)).load(path)
    owners: dict[str, Problem] = {}
    for problem in problems:
        if prover is not None and problem.prover != prover:
            raise ProblemFormatError(path, None, f"problem {problem.id!r} is for prover {problem.prover!r}, not {prover!r}")
        if problem.id in owners:
            sources = sorted({owners[problem.id].source, problem.source} - {""})
            where = f" (in {' and '.join(sources)})" if sources else ""
            raise ProblemFormatError(path, None, f"problem id {problem.id!r} is used twice{where}")
        owners[problem.id] = problem
    if not problems:
        raise ProblemFormatError(path, None, "no problems found")
    return problems


def problem_files(directory: Path, prover: str | None = None) -> list[Path]:
    """The files under `directory` that a prover reads (`prover`'s only, where one is named) and
    the JSONL problem files, sorted; hidden files and folders are skipped."""
    suffixes = {JSONL_SUFFIX}
    for name in [prover] if prover else prover_names():
        suffixes.update(get_prover(name).suffixes)
    return [path for path in _visible_files(directory) if path.suffix in suffixes]


def load_each_file(
    root: Path, files: Iterable[Path], prover: str | None = None, *, skip_unreadable: bool, limit: int | None = None
) -> tuple[list[Problem], list[tuple[str, str]]]:
    """The problems of `files` (under the folder `root`), loaded one file at a time, and the
    (file, reason) of each file refused when `skip_unreadable` (else the first refusal raises).

    A problem's id is its file's folder relative to `root`, then the id the file gives it, as a
    whole-folder load names it. Loading stops once `limit` problems are loaded.
    """
    problems: list[Problem] = []
    skipped: list[tuple[str, str]] = []
    owners: dict[str, Path] = {}
    for file in files:
        try:
            loaded = load_problems(file, prover=prover)
        except ProblemFormatError as e:
            if not skip_unreadable:
                raise
            skipped.append((str(file), f"line {e.line}: {e.message}" if e.line else e.message))
            continue
        folder = file.parent.relative_to(root).as_posix()
        for problem in loaded:
            if folder != ".":
                problem = dataclasses.replace(problem, id=f"{folder}/{problem.id}")
            if problem.id in owners:
                raise ProblemFormatError(
                    file, None, f"problem id {problem.id!r} is used twice under {root} (also in {owners[problem.id]})"
                )
            owners[problem.id] = file
            problems.append(problem)
        if limit is not None and len(problems) >= limit:
            return problems[:limit], skipped
    return problems, skipped


def bundled_problems_dir() -> Path:
    """The bundled SyGuS problems: package data of an installed wheel (proofloop/bundled), or
    problems/sygus of a source checkout (where the wheel's data comes from)."""
    import proofloop

    installed = Path(str(importlib.resources.files(proofloop) / "bundled"))
    source = Path(proofloop.__file__).resolve().parents[1] / "problems" / "sygus"
    for path in (installed, source):
        if path.is_dir():
            return path
    raise ProofloopError(
        f"bundled problems not found (neither {installed} nor {source}); reinstall proofloop, "
        "or pass a problem path"
    )


def load_problem(path: Path, theorem: str | None) -> Problem:
    """The problem in `path` (a prover's file, a JSONL file or a folder), or the one `theorem` names."""
    return pick_problem(load_problems(path), theorem, path)


def pick_problem(problems: list[Problem], theorem: str | None, path: Path) -> Problem:
    """The problem named `theorem` (by id, the id's last path component, or meta "theorem")."""
    if not problems:
        raise ProofloopError(f"{path}: holds no problems")
    if theorem is None:
        if len(problems) == 1:
            return problems[0]
        raise ProofloopError(f"{path}: holds {len(problems)} problems; pick one with --theorem: {_names(problems)}")
    found = [p for p in problems if theorem in (p.id, p.id.rsplit("/", 1)[-1], p.meta.get("theorem"))]
    if not found:
        raise ProofloopError(f"{path}: no problem named {theorem!r}; it holds: {_names(problems)}")
    if len(found) > 1:
        raise ProofloopError(f"{path}: {theorem!r} names {len(found)} problems: {_names(found)}; use the full id")
    return found[0]


def _names(problems: list, limit: int = 20) -> str:
    names = [p.id for p in problems[:limit]]
    more = f" and {len(problems) - limit} more" if len(problems) > limit else ""
    return ", ".join(names) + more
