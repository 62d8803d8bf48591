"""Theorems and their human proofs from a Lean repository traced by LeanDojo.

Each theorem becomes a problem whose header is the text of its file before it (imports,
namespaces, variables and earlier declarations: exactly the context it was proved in), whose
statement is its signature up to `:=`, and whose reference is the proof that follows. Human
proofs become seed data for the loop. lean-dojo is an optional dependency
(`pip install 'proofloop[lean]'`); this module imports it only when asked to trace.
"""

from __future__ import annotations

import logging
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from proofloop.errors import ProblemFormatError, ProofloopError, ToolchainMissing
from proofloop.types import Problem

log = logging.getLogger(__name__)

INSTALL = "lean-dojo is not installed: pip install 'proofloop[lean]'"


@dataclass
class ImportReport:
    """What an import kept and why it skipped the rest."""

    problems: list[Problem] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)


def trace_repo(url: str, commit: str, build_deps: bool = False) -> tuple[Any, Any]:
    """(LeanGitRepo, TracedRepo) for `url` at `commit`, traced (or read from LeanDojo's cache)."""
    try:
        from lean_dojo import LeanGitRepo, trace
    except ImportError:
        raise ToolchainMissing(INSTALL) from None
    try:
        repo = LeanGitRepo(url, commit)
        return repo, trace(repo, build_deps=build_deps)
    except (ValueError, RuntimeError, OSError, AssertionError, subprocess.CalledProcessError) as e:
        raise ProofloopError(f"lean-dojo could not trace {url} at {commit}: {e}") from None


def theorems_to_problems(
    traced_repo: Any, repo: Any, prover: Any, *, split: str = "train", limit: int | None = None
) -> ImportReport:
    """Problems for the theorems of `repo` itself (not its dependencies) in `traced_repo`."""
    report = ImportReport()
    seen: set[str] = set()
    for tt in traced_repo.get_traced_theorems():
        if limit is not None and len(report.problems) >= limit:
            break
        if tt.repo != repo:
            continue
        problem, why = _problem(tt, repo, prover, split)
        if problem is None:
            report.skipped[why] += 1
            continue
        if problem.id in seen:
            report.skipped["duplicate name"] += 1
            continue
        seen.add(problem.id)
        report.problems.append(problem)
    return report


def _problem(tt: Any, repo: Any, prover: Any, split: str) -> tuple[Problem | None, str]:
    lean_file = tt.traced_file.lean_file
    proof_start, proof_end = tt.locate_proof()
    header = lean_file[None : tt.start]
    statement = lean_file[tt.start : proof_start].rstrip()
    if not statement.endswith(":="):
        return None, "proof is not `:= ...` (equations or `where`)"
    proof = lean_file[proof_start:proof_end].strip()
    name = tt.theorem.full_name
    source = f"{repo.url}@{repo.commit}:{tt.file_path}:{tt.start.line_nb}"
    try:
        problem = prover.from_text(header + statement, id=name, source=source, split=split, reference=proof)
    except ProblemFormatError as e:
        log.debug("skipping %s: %s", name, e)
        return None, "statement not understood"
    problem.meta.update(
        {
            "repo": repo.url,
            "commit": repo.commit,
            "file": str(tt.file_path),
            "line": tt.start.line_nb,
            "lean_name": name,
        }
    )
    return problem, ""
