"""The Z3 prover: SyGuS-IF problems (function synthesis and loop invariants) checked by Z3.

Problem files are SyGuS-IF (`.sl`, see sygus.py for the supported forms). Comment lines carry
what the format itself cannot:

    ;; reference: (define-fun max2 ((x Int) (y Int)) Int (ite (>= x y) x y))
    ;; split: heldout

`;; family:` and `;; level:` lines place a generated problem on its ladder (Prover.rung).
`;; reference:` lines hold a reference solution, one define-fun per line (several lines for
multi-function problems or helpers, joined in order); `;; split:` is `train` (the default) or
`heldout`. All are comments, so the file stays valid SyGuS-IF, and `prompt` strips them.

A directory loads every `.sl` file under it, sorted; a problem's id is the file stem, or the
path relative to the directory without the `.sl` suffix.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import z3

from proofloop.errors import ProblemFormatError
from proofloop.prover import Prover, SearchResult
from proofloop.types import CheckLimits, Problem, Split, Verdict
from provers.z3 import candidate as _candidate
from provers.z3 import prompt as _prompt
from provers.z3.sexpr import ParseError, symbol_text
from provers.z3.sygus import SygusProblem, parse_problem

_REFERENCE = re.compile(r"^[ \t]*;+[ \t]*reference:[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_SPLIT = re.compile(r"^[ \t]*;+[ \t]*split:[ \t]*(\S*)", re.MULTILINE)
_FAMILY = re.compile(r"^[ \t]*;+[ \t]*family:[ \t]*(\S+)", re.MULTILINE)
_LEVEL = re.compile(r"^[ \t]*;+[ \t]*level:[ \t]*([0-9]+)", re.MULTILINE)
SPLITS = {s.value for s in Split}


def reference_of(text: str) -> str | None:
    """The reference solution written in `;; reference:` comment lines, if any."""
    lines = [m.group(1) for m in _REFERENCE.finditer(text) if m.group(1)]
    return "\n".join(lines) if lines else None


def split_of(text: str, path: str | Path | None = None) -> str:
    """The split named by a `;; split:` comment line (train when there is none)."""
    m = _SPLIT.search(text)
    if m is None:
        return Split.TRAIN.value
    if m.group(1) not in SPLITS:
        line = text.count("\n", 0, m.start()) + 1
        raise ProblemFormatError(path, line, f"split must be one of {', '.join(sorted(SPLITS))}, not {m.group(1)!r}")
    return m.group(1)


def rung_meta(text: str) -> dict[str, object]:
    """`family` and `level` from `;; family:` / `;; level:` lines (problems/generate.py writes them);
    nothing for a hand-written problem, which records no level."""
    level = _LEVEL.search(text)
    if level is None:
        return {}
    family = _FAMILY.search(text)
    return {"family": family.group(1) if family else None, "level": int(level.group(1))}


class Z3Prover(Prover):
    """SyGuS-IF problems checked by Z3 (see the module docstring for the file conventions)."""

    name = "z3"
    suffixes = (".sl",)
    cross_checkers = ("cvc5",)
    stop = _prompt.STOP
    can_sample = True
    can_search = True
    search_by_default = True

    def version(self, cross_check: str = "") -> str:
        """The Z3 version string, recorded in every verdict; with a cross-check, both ("4.16.0, cvc5 1.4.2")."""
        from provers.z3.checker import checker_version

        return checker_version(cross_check)

    def rules_version(self) -> str:
        """The checker module and what it imports of provers.z3 (the sampler and search are not rules)."""
        from proofloop.rules import rules_version

        return rules_version("provers.z3.checker")

    def load(self, path: Path) -> list[Problem]:
        """One Problem for a .sl file; every .sl file under a directory, sorted."""
        path = Path(path)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.sl") if p.is_file())
            return [self._load_file(f, f.relative_to(path).with_suffix("").as_posix()) for f in files]
        return [self._load_file(path, path.with_suffix("").name if path.suffix == ".sl" else path.name)]

    def _load_file(self, path: Path, problem_id: str) -> Problem:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ProblemFormatError(path, None, f"not UTF-8 text (byte {e.start})") from None
        except OSError as e:
            raise ProblemFormatError(path, None, f"cannot read: {e.strerror or e}") from None
        return self._problem(text, problem_id, str(path), split_of(text, path), reference_of(text), path)

    def from_text(
        self, text: str, *, id: str, source: str = "", split: str = "train", reference: str | None = None
    ) -> Problem:
        """Build a Problem from SyGuS-IF text; the reference defaults to the text's `;; reference:` lines."""
        if split not in SPLITS:
            raise ProblemFormatError(
                source or id, None, f"split must be one of {', '.join(sorted(SPLITS))}, not {split!r}"
            )
        reference = reference if reference is not None else reference_of(text)
        return self._problem(text, id, source, split, reference, source or id)

    def _problem(self, text: str, problem_id: str, source: str, split: str, reference, path) -> Problem:
        data = parse_problem(text, path)
        problem = Problem(
            id=problem_id,
            prover=self.name,
            text=text,
            source=source,
            split=split,
            reference=reference,
            meta={
                "logic": data.logic, "kind": data.kind, "functions": [f.name for f in data.synth_funs],
                **rung_meta(text),
            },
            data=data,
        )
        from provers.z3.checker import compiled_for

        # Refuses, naming the file, assumptions no input satisfies and constraints that hold for
        # every function: on such a problem every candidate would verify.
        compiled_for(problem, refuse_vacuous=True)
        return problem

    def prompt(self, problem: Problem) -> str:
        """The problem without comments, variables renamed, ending with the answer's opening (see prompt.py)."""
        try:
            return _prompt.prompt(problem.text, self.parsed(problem))
        except ParseError as e:
            raise ProblemFormatError(problem.source or problem.id, e.line, e.message) from None

    def normal_form(self, problem: Problem) -> str:
        """Variables and synthesised functions renamed canonically, numerals kept (see prompt.py)."""
        return _prompt.normal_form(problem.text, self.parsed(problem))

    def extract(self, completion: str, prompt: str = "") -> str:
        """The consecutive (define-fun ...) forms at the start of `prompt`'s opening + `completion`, or ""."""
        return _prompt.unplace(_candidate.extract(_prompt.complete(completion, prompt)), prompt)

    def target(self, prompt: str, candidate: str) -> str | None:
        """What a model should write after `prompt` to give `candidate` (None if it cannot be written so)."""
        return _prompt.target(prompt, candidate)

    def check(self, problem: Problem, candidate: str | bytes, limits: CheckLimits | None = None) -> Verdict:
        """Check an untrusted candidate; every outcome is a Verdict (see checker.py)."""
        from provers.z3.checker import check

        return check(problem, candidate, limits or CheckLimits())

    def canonical(self, candidate: str | bytes) -> str:
        """The dedup key: let-expanded, literals normalised, parameters renamed by position."""
        return _candidate.canonical(candidate)

    def sample(self, problem: Problem, n: int, rng: random.Random, max_size: int = 16) -> list[str]:
        """`n` candidates from random size-bounded derivations of the problem's grammars."""
        from provers.z3.sampler import sample

        return sample(self.parsed(problem), n, rng, max_size=max_size)

    def search(
        self, problem: Problem, generator=None, *, params=None, samples: int = 1, time_budget_s: float = 30.0,
        limits: CheckLimits | None = None, guide=None,
    ) -> SearchResult:
        """The synthesizer (provers/z3/synth): enumeration, CEGIS, decision trees, invariant search.

        A generator is not used (a learned guide comes in through `guide`, see synth/cost.py);
        the answer, if any, is verified by `check`."""
        from provers.z3.synth import synthesize

        seed = params.seed if params is not None and params.seed is not None else 0
        return synthesize(problem, guide=guide, time_budget_s=time_budget_s, limits=limits, seed=seed)

    guide_kinds = ("uniform", "pcfg", "phog", "model", "mix")

    def fit_guide(self, kind: str, solutions) -> object:
        """uniform, pcfg or phog fitted on verified solutions (provers/z3/synth/guides.py); model and
        mix guides start from their prior here (uniform and phog) and get the model's samples per
        problem from `model_guide`."""
        from provers.z3.synth.guides import fit_guide

        return fit_guide({"model": "uniform", "mix": "phog"}.get(kind, kind), solutions)

    def model_guide(self, samples, prior, weight: float) -> object:
        from provers.z3.synth.guides import ModelGuide

        return ModelGuide.from_samples(samples, prior, weight=weight)

    def save_guide(self, guide, path: Path) -> None:
        from provers.z3.synth.guides import save_guide

        save_guide(guide, path)

    def load_guide(self, path: Path) -> object:
        from provers.z3.synth.guides import load_guide

        return load_guide(path)

    def trivial_candidates(self, problem: Problem) -> list[str]:
        """Every synth-fun answering the same trivial body: 0, 1, true, false, or a parameter of its
        sort (the i-th parameter of each function, for each i)."""
        funs = self.parsed(problem).synth_funs
        choices: list[dict[str, str]] = [
            {f.name: constant for f in funs if f.sort == sort}
            for constant, sort in (("0", "Int"), ("1", "Int"), ("true", "Bool"), ("false", "Bool"))
        ]
        for i in range(max((len(f.params) for f in funs), default=0)):
            choices.append(
                {f.name: symbol_text(f.params[i][0]) for f in funs if i < len(f.params) and f.params[i][1] == f.sort}
            )
        return ["\n".join(_define_fun(f, chosen[f.name]) for f in funs) for chosen in choices if len(chosen) == len(funs)]

    def parsed(self, problem: Problem) -> SygusProblem:
        """The parsed SyGuS problem behind `problem`."""
        if isinstance(problem.data, SygusProblem):
            return problem.data
        return parse_problem(problem.text, problem.source or problem.id)


def _define_fun(f, body: str) -> str:
    params = " ".join(f"({symbol_text(p)} {sort})" for p, sort in f.params)
    return f"(define-fun {symbol_text(f.name)} ({params}) {f.sort} {body})"


__all__ = ["Z3Prover", "reference_of", "split_of"]
