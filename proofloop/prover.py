"""The prover interface and the registry that finds provers by name or file type.

A prover is one plug-in per verifier (provers/z3, provers/lean, ...); docs/architecture.md says
where it plugs in. The engine never imports a prover by name: `get_prover` reads the
`proofloop.provers` entry points declared in pyproject.toml.
"""

from __future__ import annotations

import functools
import importlib
import logging
import random
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proofloop.errors import ConfigError, ProofloopError
from proofloop.types import CheckLimits, Problem, Rung, Status, Verdict, sha256

if TYPE_CHECKING:
    from proofloop.generate.base import Generator, SamplingParams

ENTRY_POINTS = "proofloop.provers"
log = logging.getLogger(__name__)


class Prover:
    """What every verifier plug-in implements; subclass it (docs/architecture.md, "Adding a prover").

    The first group of methods is required. The rest are optional hooks: each has a default
    here, and a class attribute declares whether a prover offers it, so the engine reads the
    declaration instead of probing for the method.
    """

    name: str = ""
    # File suffixes this prover loads, e.g. (".sl",) or (".lean",); ".jsonl" is shared.
    suffixes: tuple[str, ...] = ()
    # Strings that end an answer in this prover's prompt format: sampling stops at the first
    # one and drops it. Each must be unable to occur inside a valid answer. At most four, the
    # most an OpenAI-compatible server has to accept.
    stop: tuple[str, ...] = ()
    # Whether `sample` draws candidates from the problem's grammar (the round-0 policy).
    can_sample: bool = False
    # Whether `search` runs a search of the prover's own (Lean's tactic search, the SyGuS synthesizer).
    can_search: bool = False
    # Whether `search` works without a model (`proofloop prove` then searches by default).
    search_by_default: bool = False
    # Independent checkers this prover can also ask (CheckLimits.cross_check), e.g. ("cvc5",);
    # a prover that declares any also takes `version(cross_check)`, the version of both.
    cross_checkers: tuple[str, ...] = ()

    # -- required ------------------------------------------------------------------------

    def version(self) -> str:
        """The checker's version string, recorded in every verdict."""
        raise NotImplementedError(f"{type(self).__name__}.version")

    def load(self, path: Path) -> list[Problem]:
        """Parse a problem file (or a directory of them); bad files raise ProblemFormatError."""
        raise NotImplementedError(f"{type(self).__name__}.load")

    def from_text(
        self, text: str, *, id: str, source: str = "", split: str = "train", reference: str | None = None
    ) -> Problem:
        """Build a Problem from its full text (as stored in a dataset row or a JSONL problem)."""
        raise NotImplementedError(f"{type(self).__name__}.from_text")

    def prompt(self, problem: Problem) -> str:
        """The text a model sees for `problem`; it may end with the opening of the answer."""
        raise NotImplementedError(f"{type(self).__name__}.prompt")

    def extract(self, completion: str, prompt: str = "") -> str:
        """Cut the candidate out of a model's raw output (the continuation of `prompt`)."""
        raise NotImplementedError(f"{type(self).__name__}.extract")

    def target(self, prompt: str, candidate: str) -> str | None:
        """The completion a model should write after `prompt` to give `candidate` (the SFT target);
        None when the candidate cannot be written as a continuation of this prompt."""
        raise NotImplementedError(f"{type(self).__name__}.target")

    def check(self, problem: Problem, candidate: str, limits: CheckLimits) -> Verdict:
        """Check an untrusted candidate; outcomes are verdicts, infrastructure failures raise."""
        raise NotImplementedError(f"{type(self).__name__}.check")

    def canonical(self, candidate: str) -> str:
        """A normal form of the candidate, for dedup and diversity."""
        raise NotImplementedError(f"{type(self).__name__}.canonical")

    # -- optional hooks, with their defaults -------------------------------------------------

    def rules_version(self) -> str:
        """The version of the code around the solver that decides verdicts (proofloop.rules): part
        of `version()`, and what `export` compares rows against. Default: this prover's module and
        the modules of its package it imports."""
        from proofloop.rules import rules_version

        return rules_version(type(self).__module__)

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply the run config's table named after this prover (e.g. `[lean]`).

        Default: the prover takes no settings, so a table for it is a config error.
        """
        raise ConfigError(f"config: the {self.name} prover takes no settings table")

    def settings(self) -> dict[str, Any]:
        """The settings table this prover was configured with, as JSON-ready data: a checking
        process (a local worker, a Ray task) builds its prover and applies it with `configure`,
        so it checks exactly as this one does. Default: no settings."""
        return {}

    def sample(self, problem: Problem, n: int, rng: random.Random, max_size: int = 16) -> list[str]:
        """`n` candidates from random size-bounded derivations of the problem's grammar.

        Only where `can_sample` is true; the default has no grammar to sample from.
        """
        raise ConfigError(f"the {self.name} prover has no grammar sampler")

    def search(
        self, problem: Problem, generator: Generator | None = None, *, params: SamplingParams | None = None,
        samples: int = 1, time_budget_s: float = 300.0, limits: CheckLimits | None = None, guide: Any = None,
    ) -> SearchResult:
        """The prover's own search, only where `can_search` is true: Lean's tactic search guided by
        `generator`; the SyGuS synthesizer, whose `guide` prices grammar productions (None: uniform).
        Every answer it returns has been verified by `check`."""
        raise ProofloopError(f"the {self.name} prover has no proof search (--search)")

    # -- search guides (where `guide_kinds` is not empty: the search's policy, see [search]) ----

    # The kinds of guide `fit_guide` makes: what a run with `search.policy` can learn.
    guide_kinds: tuple[str, ...] = ()

    def fit_guide(self, kind: str, solutions: Sequence[tuple[Problem, str]]) -> Any:
        """A guide of `kind` for `search`, fitted on verified (problem, candidate) pairs."""
        raise ConfigError(f"the {self.name} prover's search takes no learned guide")

    def model_guide(self, samples: dict[str, tuple[Problem, list[str]]], prior: Any, weight: float) -> Any:
        """The guide a model's samples give each problem (`samples`: problem id -> the problem and
        the candidates sampled for it), mixed with `prior` at `weight`."""
        raise ConfigError(f"the {self.name} prover's search takes no learned guide")

    def save_guide(self, guide: Any, path: Path) -> None:
        raise ConfigError(f"the {self.name} prover's search takes no learned guide")

    def load_guide(self, path: Path) -> Any:
        raise ConfigError(f"the {self.name} prover's search takes no learned guide")

    def normal_form(self, problem: Problem) -> str:
        """The problem's statement in a normal form, for the train/held-out audit: two problems with
        equal normal forms are the same problem. Default: the prompt with whitespace collapsed; a
        prover that can rename variables canonically should do so."""
        return " ".join(self.prompt(problem).split())

    def rung(self, problem: Problem) -> Rung | None:
        """The problem's family and level on a generated ladder, or None for a hand-written problem.

        Default: `problem.meta["family"]` and `problem.meta["level"]`, which a prover's loader
        fills from its own metadata (Z3: `;; family:` / `;; level:` lines; Lean: `-- family:` /
        `-- level:` lines). The curriculum, frontier sampling and the level metrics read only this.
        """
        level = problem.meta.get("level")
        if level is None:
            return None
        return Rung(str(problem.meta.get("family") or "other"), int(level))

    def parts(self, problem: Problem, candidate: str) -> dict[str, str]:
        """`header`, `statement` and `proof` of a checked candidate, for exports: a prover whose
        problems are a header and a statement to prove fills them. Default: none."""
        return {}

    def trivial_candidates(self, problem: Problem) -> list[str]:
        """Candidates that a problem worth posing rejects (a constant, a parameter returned as
        it is); a derived problem that one of them solves is dropped. Default: none known."""
        return []

    def require(self, problems: Iterable[Problem]) -> None:
        """Raise ToolchainMissing when checking `problems` needs more than the installed toolchain
        has (Lean: modules a header imports), so that no candidate is blamed for it. Default:
        nothing beyond the prover's own libraries."""

    def warm(self, problems: Iterable[Problem]) -> int:
        """Prepare for timed checks of `problems` (e.g. elaborate their headers); returns how many
        preparations were made. Default: nothing to prepare."""
        return 0

    def close(self) -> None:
        """Release what this prover started (processes, pools). Default: nothing to release."""


@dataclass(frozen=True)
class SearchResult:
    """How a search ended: `verified` with a proof, `rejected` (nothing left to try) or `unknown`."""

    status: Status
    proof: str | None
    verdict: Verdict | None
    nodes: int
    seconds: float
    reason: str = ""
    # What the search tried, by name (terms enumerated, points, counterexamples, ...).
    stats: dict[str, Any] = field(default_factory=dict)


_cache: dict[str, Prover] = {}


@functools.cache
def registry() -> dict[str, str]:
    """name -> "module:Class" of every prover: the `proofloop.provers` entry points.

    An installed proofloop (wheel or editable) publishes them as package metadata. A source
    checkout used through PYTHONPATH has no metadata, so the same table is read from the
    checkout's pyproject.toml: the entry points stay the one list of provers.
    """
    found = _source_tree_entry_points()
    found.update((ep.name, ep.value) for ep in entry_points(group=ENTRY_POINTS))
    return found


def _source_tree_entry_points() -> dict[str, str]:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        return {}
    with pyproject.open("rb") as handle:
        data = tomllib.load(handle)
    if data.get("project", {}).get("name") != "proofloop":
        return {}
    return dict(data["project"].get("entry-points", {}).get(ENTRY_POINTS, {}))


def _load_target(target: str) -> type:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def prover_names() -> list[str]:
    return sorted(registry())


def get_prover(name: str) -> Prover:
    """The prover registered under `name` (one instance per process)."""
    if name in _cache:
        return _cache[name]
    target = registry().get(name)
    if target is None:
        raise ConfigError(f"unknown prover {name!r}; known provers: {', '.join(prover_names())}")
    prover = _load_target(target)()
    _cache[name] = prover
    return prover


def canonical_hash(prover: Prover, candidate: str) -> str:
    """The verdict cache key of a candidate: the hash of its canonical form.

    A candidate the canonicaliser cannot handle keys on its exact text (marked so that it never
    meets a canonical form): it loses only dedup, never gets another text's verdict."""
    try:
        return sha256(prover.canonical(candidate))
    except Exception as e:  # noqa: BLE001 - untrusted model output must not stop a run
        if not isinstance(e, ProofloopError):
            log.warning("%s.canonical failed on %r: %s: %s", prover.name, candidate[:80], type(e).__name__, e)
        return sha256("\0exact\0" + candidate)


RULES_MARK = "; rules "


def rules_of(version: str) -> str | None:
    """The rules part of a checker version string ("4.16.0; rules 1a2b3c4d" -> "1a2b3c4d")."""
    head, mark, rules = version.rpartition(RULES_MARK)
    return rules.split(";", 1)[0].strip() if mark else None


def checker_version(prover: Prover, cross_check: str = "") -> str:
    """The version string `prover`'s verdicts carry under `cross_check` (the verdict cache key)."""
    if not cross_check:
        return prover.version()
    if cross_check not in prover.cross_checkers:
        offered = ", ".join(prover.cross_checkers) or "none"
        raise ConfigError(f"cross_check: the {prover.name} prover cannot cross-check with {cross_check!r} (it offers: {offered})")
    return prover.version(cross_check)
