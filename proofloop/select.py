"""Dataset building: accumulate verified solutions, dedup by canonical form, cap per problem.

The accumulated dataset lives in the store and only ever grows (a solution found once stays).
Each round's training set is chosen from it: per problem at most `cap` solutions, preferring
the most dissimilar ones, so that one easy problem with many variants does not crowd out the
rest and the model keeps seeing distinct ways to solve a problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from proofloop.metrics import tokens
from proofloop.store import DatasetRow
from proofloop.types import Problem, Status


def verified_rows(attempts: Iterable[Mapping[str, Any]], round: int) -> list[DatasetRow]:
    """Dataset rows for the verified attempts, one per (problem, canonical form), first sample wins."""
    rows: dict[tuple[str, str], DatasetRow] = {}
    for a in attempts:
        if a.get("status") != Status.VERIFIED.value:
            continue
        key = (a["problem_id"], a["canonical_hash"])
        if key in rows:
            continue
        rows[key] = DatasetRow(
            problem_id=a["problem_id"],
            candidate=a["candidate"],
            canonical_hash=a["canonical_hash"],
            origin="verified",
            round=round,
            attempt_id=a["id"],
            generator=a["generator"],
            checker=a["checker"],
            checker_version=a["checker_version"],
            verdict_seconds=a["verdict_seconds"],
        )
    return list(rows.values())


def seed_problems(problems: Sequence[Problem], fraction: float, seed: int) -> list[Problem]:
    """A fixed, seeded `fraction` of the problems that have a reference solution."""
    with_ref = [p for p in problems if p.reference]
    count = round(fraction * len(with_ref))
    return sorted(with_ref, key=lambda p: stable_rank(seed, p.id))[:count]


def stable_rank(seed: int, key: str) -> str:
    """A seeded pseudo-random sort key that does not depend on Python's hash randomisation."""
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def probe_problems(solved: Iterable[str], size: int, seed: int) -> list[str]:
    """The probe set: `size` solved problems chosen by a fixed seeded ranking.

    The ranking is fixed for the whole run, so a problem stays in the probe set as long as no
    newly solved problem ranks before it: rounds are measured on largely the same problems.
    """
    return sorted(set(solved), key=lambda pid: stable_rank(seed, pid))[:size]


def jaccard_distance(a: frozenset[str], b: frozenset[str]) -> float:
    """1 - |a & b| / |a | b|; two empty sets are identical (distance 0)."""
    union = len(a | b)
    return 1.0 - len(a & b) / union if union else 0.0


def most_dissimilar(texts: Sequence[str], cap: int) -> list[int]:
    """Indices of up to `cap` texts chosen greedily to maximise the minimum pairwise distance.

    Starts from the first text (the earliest found, so training sets change little from round
    to round) and ties go to the earlier text: the choice is deterministic.
    """
    if cap <= 0 or not texts:
        return []
    sets = [frozenset(tokens(t)) for t in texts]
    chosen = [0]
    nearest = [jaccard_distance(sets[0], s) for s in sets]
    while len(chosen) < min(cap, len(texts)):
        best = max((i for i in range(len(texts)) if i not in chosen), key=lambda i: (nearest[i], -i))
        chosen.append(best)
        nearest = [min(d, jaccard_distance(sets[best], s)) for d, s in zip(nearest, sets)]
    return sorted(chosen)


def training_set(
    rows: Sequence[DatasetRow],
    cap: int,
    *,
    dedup: bool = True,
    multiplicity: Callable[[DatasetRow], int] | None = None,
) -> list[DatasetRow]:
    """The round's training rows: per problem at most `cap` of the most dissimilar solutions.

    The dataset holds one row per (problem, canonical form). With `dedup` off, each chosen
    row is repeated as often as it was verified (`multiplicity`), as training on the raw
    verified samples would; the cap then counts distinct solutions.
    """
    by_problem: dict[str, list[DatasetRow]] = {}
    for row in rows:
        by_problem.setdefault(row.problem_id, []).append(row)
    out: list[DatasetRow] = []
    for group in by_problem.values():
        for i in most_dissimilar([r.candidate for r in group], cap):
            copies = 1 if dedup or multiplicity is None else max(1, multiplicity(group[i]))
            out.extend([group[i]] * copies)
    return out
