"""Verdicts made under other rules, checked again when a run resumes.

A verdict names the checker version that made it: the solver's and the front end's rules
(proofloop.rules). When a run resumes under other rules (a proofloop with a fixed checker, a
new solver), nothing judged by the old rules is reused: every attempt is keyed again by the
current canonical form, every key without a verdict from the current rules is checked again,
and every dataset row is re-verified. A row that no longer verifies keeps its old version, so
training and export (which take only rows of the current version) leave it out, while the
store keeps the record of what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from proofloop.prover import canonical_hash
from proofloop.types import Verdict

log = logging.getLogger(__name__)

BATCH = 256
Check = Callable[[Any, Sequence[tuple[str, str]]], list[Verdict]]


@dataclass(frozen=True)
class Recheck:
    """What resuming under other rules did: candidates checked again, dataset rows re-verified,
    and rows that no longer verify (left out of training and export)."""

    versions: tuple[str, ...] = ()
    candidates: int = 0
    rows_verified: int = 0
    rows_stale: int = 0

    def lines(self) -> list[str]:
        if not self.versions:
            return []
        return [
            f"rechecked: {self.candidates} candidates judged under other rules ({', '.join(self.versions)})",
            f"rechecked_rows: {self.rows_verified} dataset rows verify under the current rules, "
            f"{self.rows_stale} do not (left out of training and export)",
        ]


def recheck_stale(ctx: Any, check: Check) -> Recheck:
    """Bring a resumed run's verdicts and dataset to the current checker version (see the module doc).

    `check(ctx, [(problem_id, candidate), ...])` checks through the run's pool."""
    store, prover = ctx.store, ctx.prover
    versions = store.other_versions(ctx.checker, ctx.checker_version)
    if not versions:
        return Recheck()
    rekeyed = [(i, h) for i, pid, text, old in store.attempt_texts() if (h := canonical_hash(prover, text)) != old]
    store.rekey_attempts(rekeyed)
    keys = [k for k in store.unchecked_keys(ctx.checker, ctx.checker_version) if k[0] in ctx.problems]
    with ctx.ui.progress("recheck under the current rules", total=len(keys)) as advance:
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            verdicts = check(ctx, [(pid, text) for pid, _, text in batch])
            store.put_verdicts((pid, chash, v) for (pid, chash, _), v in zip(batch, verdicts))
            advance(len(batch))
    verified, stale = _reverify_rows(ctx, check)
    result = Recheck(tuple(sorted(versions)), len(keys), verified, stale)
    for line in result.lines():
        log.warning(line)
    return result


def _reverify_rows(ctx: Any, check: Check) -> tuple[int, int]:
    store = ctx.store
    rows = [r for r in store.dataset_rows() if r.checker_version != ctx.checker_version and r.problem_id in ctx.problems]
    keyed = [(r, canonical_hash(ctx.prover, r.candidate)) for r in rows]
    cached = {(r.id, h): store.cached_verdict(r.problem_id, h, ctx.checker, ctx.checker_version) for r, h in keyed}
    todo = [(r, h) for r, h in keyed if cached[(r.id, h)] is None]  # references have no attempt
    if todo:
        verdicts = check(ctx, [(r.problem_id, r.candidate) for r, _ in todo])
        store.put_verdicts((r.problem_id, h, v) for (r, h), v in zip(todo, verdicts))
        cached.update({(r.id, h): v for (r, h), v in zip(todo, verdicts)})
    good = [(r.id, h, cached[(r.id, h)]) for r, h in keyed if cached[(r.id, h)].verified]
    moved = store.reverify_dataset_rows(good)
    return moved, len(rows) - moved
