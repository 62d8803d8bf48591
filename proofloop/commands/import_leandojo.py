"""`proofloop import-leandojo`: theorems and human proofs of a Lean repository as a JSONL problem file."""

from __future__ import annotations

from pathlib import Path

import typer

from proofloop.errors import ConfigError, ProofloopError


def import_leandojo(
    repo_url: str = typer.Argument(..., help="Git URL (or local path) of a Lean 4 repository."),
    commit: str = typer.Option(..., "--commit", help="Commit (or tag) to trace."),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL problem file to write."),
    split: str = typer.Option("train", "--split", help="Split of every imported problem: train or heldout."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Import at most this many theorems."),
    build_deps: bool = typer.Option(False, "--build-deps/--no-build-deps", help="Also trace the dependencies."),
) -> None:
    """Trace a Lean repository with LeanDojo and write its theorems (with their proofs as references)."""
    if split not in ("train", "heldout"):
        raise ConfigError(f"--split: expected train or heldout, got {split!r}")
    from proofloop.problemfile import write_jsonl
    from proofloop.prover import get_prover
    from provers.lean.leandojo import theorems_to_problems, trace_repo

    repo, traced = trace_repo(repo_url, commit, build_deps=build_deps)
    report = theorems_to_problems(traced, repo, get_prover("lean"), split=split, limit=limit)
    if not report.problems:
        raise ProofloopError(f"{repo_url} at {commit}: no theorem with a `:=` proof found")
    write_jsonl(report.problems, out)
    typer.echo(f"theorems: {len(report.problems)}")
    for why, count in sorted(report.skipped.items()):
        typer.echo(f"skipped: {count} ({why})")
    typer.echo(f"out: {out}")


def register(app: typer.Typer) -> None:
    app.command("import-leandojo")(import_leandojo)
