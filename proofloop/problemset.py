"""The problems of a run: the files it loads, its train/held-out split, and its limits.

`[problems]` of the run config says which (docs/problems.md):

- `path`: a problem file or folder; a relative path is resolved from the current directory,
  like every path of the config (`run.out_dir` too).
- `include`: glob patterns or subfolders under a folder `path` (unset: every problem file).
- `skip_unreadable`: a file the prover refuses is skipped with a warning, not fatal.
- `split`: "files" (each file says its split) or "seeded" (made here, below).

The seeded split is for folders whose files say nothing about a split, such as the public
SyGuS-Comp benchmarks. It assigns whole groups, so that no held-out problem is a variant of a
train one: a problem's group is its id with a Code2Inv variant suffix removed (`100.c`,
`100_conf1` and `100_conf5` of one folder are one program), and groups whose problems share a
normal form (`Prover.normal_form`, what `proofloop problems audit` compares) are one group, so
the audit finds no held-out/train overlap. A group is held out when a hash of
f"{split_seed}:{group}" falls below `heldout_fraction`: the same on every machine, and
independent of which other files are loaded (except for the normal-form twins it is joined to).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from proofloop.config import ProblemsSection, RunConfig
from proofloop.errors import ConfigError
from proofloop.problemfile import bundled_problems_dir, load_each_file, load_problems, problem_files
from proofloop.prover import Prover
from proofloop.select import stable_rank
from proofloop.types import Problem, Split

log = logging.getLogger(__name__)

# Code2Inv ships each program N as N.c.sl and the configurations N_conf1.sl, N_conf5.sl.
_VARIANT = re.compile(r"(\.c|_conf[0-9]+)$")


def load_run_problems(cfg: RunConfig, prover: Prover) -> list[Problem]:
    """The run's train and held-out problems; each skipped file is logged as a warning."""
    problems, skipped = load_run_problem_set(cfg, prover)
    for path, reason in skipped:
        log.warning("problems: skipped %s: %s", path, reason)
    if skipped:
        log.warning("problems: skipped %d unreadable file(s) (problems.skip_unreadable)", len(skipped))
    return problems


def load_run_problem_set(cfg: RunConfig, prover: Prover) -> tuple[list[Problem], list[tuple[str, str]]]:
    """The run's train and held-out problems (split, then limited by a seeded, stable choice),
    and the (file, reason) of every file skipped as unreadable."""
    section = cfg.problems
    path = Path(section.path) if section.path is not None else bundled_problems_dir()
    if not path.exists():
        raise ConfigError(
            f"problems.path: {path}: no such file or directory (a relative path is resolved from the "
            f"current directory, {Path.cwd()})"
        )
    problems, skipped = _load(path, section)
    if section.split == "seeded":
        problems = seeded_split(problems, prover, section.heldout_fraction, section.split_seed)
    chosen: list[Problem] = []
    for split, limit in (("train", section.train_limit), ("heldout", section.heldout_limit)):
        some = sorted((p for p in problems if p.split == split), key=lambda p: p.id)
        if not some:
            hint = " (change problems.split_seed or heldout_fraction)" if section.split == "seeded" else ""
            raise ConfigError(
                f"problems.path: {path} has no {split} problems{hint}; a run needs train and heldout problems"
            )
        if limit is not None:
            keep = {p.id for p in sorted(some, key=lambda p: stable_rank(cfg.run.seed, p.id))[:limit]}
            some = [p for p in some if p.id in keep]
        chosen.extend(some)
    return chosen, skipped


def _load(path: Path, section: ProblemsSection) -> tuple[list[Problem], list[tuple[str, str]]]:
    if section.include is None and not section.skip_unreadable:
        return load_problems(path, prover=section.prover), []
    if path.is_dir():
        root, files = path, select_files(path, section.include, section.prover)
    elif section.include is not None:
        raise ConfigError(f"problems.include: needs problems.path to be a folder, and {path} is a file")
    else:
        root, files = path.parent, [path]
    problems, skipped = load_each_file(root, files, section.prover, skip_unreadable=section.skip_unreadable)
    if not problems:
        raise ConfigError(f"problems.path: no problems could be loaded from {path} ({len(skipped)} file(s) skipped)")
    return problems, skipped


def select_files(root: Path, include: Sequence[str] | None, prover: str) -> list[Path]:
    """The problem files of `prover` under the folder `root` that `include` names: each pattern
    is a glob relative to `root`, and a folder it matches stands for every file below it."""
    readable = problem_files(root, prover)
    if include is None:
        return readable
    chosen: set[Path] = set()
    for pattern in include:
        try:
            hits = set(root.glob(pattern))
        except ValueError as e:  # "**" inside a name, and the like
            raise ConfigError(f"problems.include: {pattern!r}: {e}") from None
        matched = {f for f in readable if f in hits or any(parent in hits for parent in f.parents)}
        if not matched:
            raise ConfigError(f"problems.include: {pattern!r} matches no {prover} problem files under {root}")
        chosen |= matched
    return sorted(chosen)


def group_key(problem_id: str) -> str:
    """The group of a problem: its id with a Code2Inv variant suffix (`.c`, `_confN`) removed, so
    that `folder/100.c`, `folder/100_conf1` and `folder/100_conf5` are the group `folder/100`."""
    folder, slash, stem = problem_id.rpartition("/")
    return f"{folder}{slash}{_VARIANT.sub('', stem)}"


def seeded_split(problems: Sequence[Problem], prover: Prover, fraction: float, seed: int) -> list[Problem]:
    """`problems` with their split set by group: a group (joined with every group it shares a
    normal form with) is held out when the hash of f"{seed}:{key}" falls below `fraction`, where
    key is the smallest group key of the joined groups."""
    owner: dict[str, str] = {}  # union-find over group keys; a root is its set's smallest key

    def root(key: str) -> str:
        while owner.setdefault(key, key) != key:
            key = owner[key]
        return key

    first_group_of: dict[str, str] = {}
    for problem in problems:
        group = root(group_key(problem.id))
        other = root(first_group_of.setdefault(prover.normal_form(problem), group))
        if other != group:
            low, high = sorted((group, other))
            owner[high] = low

    sides = {True: Split.HELDOUT.value, False: Split.TRAIN.value}
    return [replace(p, split=sides[held_out(root(group_key(p.id)), fraction, seed)]) for p in problems]


def held_out(key: str, fraction: float, seed: int) -> bool:
    """Whether the group `key` is held out: sha256 of f"{seed}:{key}", read as a number in [0, 1),
    is below `fraction`."""
    return int(stable_rank(seed, key)[:16], 16) / 16**16 < fraction
