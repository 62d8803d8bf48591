"""The prover interface and the registry that finds provers by name or file type.

A prover is one plug-in per verifier (provers/z3, provers/lean, ...). The engine never imports
a prover by name except through `get_prover`, which reads the `proofloop.provers` entry points
and falls back to the built-in table.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

from proofloop.errors import ConfigError, ProofloopError
from proofloop.types import CheckLimits, Problem, Verdict

BUILTIN_PROVERS = {
    "z3": "provers.z3:Z3Prover",
    "lean": "provers.lean:LeanProver",
}


@runtime_checkable
class Prover(Protocol):
    """What every verifier plug-in implements. See DESIGN.md."""

    name: str
    # File suffixes this prover loads, e.g. (".sl",) or (".lean",); ".jsonl" is shared.
    suffixes: tuple[str, ...]
    # Independent checkers this prover can also ask (CheckLimits.cross_check), e.g. ("cvc5",).
    cross_checkers: tuple[str, ...]

    def version(self, cross_check: str = "") -> str:
        """The checker's version string, recorded in every verdict; with a cross-check, both checkers'."""

    def load(self, path: Path) -> list[Problem]:
        """Parse a problem file (or a directory of them); bad files raise ProblemFormatError."""

    def from_text(
        self, text: str, *, id: str, source: str = "", split: str = "train", reference: str | None = None
    ) -> Problem:
        """Build a Problem from its full text (as stored in a dataset row or a JSONL problem)."""

    def prompt(self, problem: Problem) -> str:
        """The text a model sees for `problem`; it may end with the opening of the answer."""

    def extract(self, completion: str, prompt: str = "") -> str:
        """Cut the candidate out of a model's raw output (the continuation of `prompt`)."""

    def target(self, prompt: str, candidate: str) -> str | None:
        """The completion a model should write after `prompt` to give `candidate` (the SFT target);
        None when the candidate cannot be written as a continuation of this prompt."""

    def check(self, problem: Problem, candidate: str, limits: CheckLimits) -> Verdict:
        """Check an untrusted candidate; outcomes are verdicts, infrastructure failures raise."""

    def canonical(self, candidate: str) -> str:
        """A normal form of the candidate, for dedup and diversity."""


_cache: dict[str, Prover] = {}


def _load_target(target: str) -> type:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def prover_names() -> list[str]:
    names = set(BUILTIN_PROVERS)
    names.update(ep.name for ep in entry_points(group="proofloop.provers"))
    return sorted(names)


def get_prover(name: str) -> Prover:
    """The prover registered under `name` (one instance per process)."""
    if name in _cache:
        return _cache[name]
    target = None
    for ep in entry_points(group="proofloop.provers"):
        if ep.name == name:
            target = ep.value
            break
    target = target or BUILTIN_PROVERS.get(name)
    if target is None:
        raise ConfigError(f"unknown prover {name!r}; known provers: {', '.join(prover_names())}")
    prover = _load_target(target)()
    _cache[name] = prover
    return prover


def prover_for_path(path: Path) -> Prover:
    """The prover whose suffixes match `path` (a file, or a directory of such files)."""
    path = Path(path)
    suffixes = {path.suffix} if path.is_file() else {p.suffix for p in path.rglob("*") if p.is_file()}
    for name in prover_names():
        prover = get_prover(name)
        if suffixes & set(prover.suffixes):
            return prover
    if path.suffix == ".jsonl":
        from proofloop.problemfile import prover_of_jsonl

        return get_prover(prover_of_jsonl(path))
    raise ProofloopError(f"{path}: no prover reads files of this type ({', '.join(sorted(suffixes)) or 'none'})")


def checker_version(prover: Prover, cross_check: str = "") -> str:
    """The version string `prover`'s verdicts carry under `cross_check` (the verdict cache key)."""
    if not cross_check:
        return prover.version()
    if cross_check not in prover.cross_checkers:
        offered = ", ".join(prover.cross_checkers) or "none"
        raise ConfigError(f"cross_check: the {prover.name} prover cannot cross-check with {cross_check!r} (it offers: {offered})")
    return prover.version(cross_check)
